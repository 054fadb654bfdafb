import { setTimeout as sleep } from 'node:timers/promises';
import { FakeCompute } from './fake-compute.server';
import type { FakeComputeOptions, FakeGuestContext } from './fake-compute.types';

/*
 * The fake at the wire level, with plain fetch: Google's exact JSON shapes, validation, request
 * ids, faults and the VM life cycle. The real-client tests are in fake-compute.int-spec.ts.
 */

const ZONE = 'us-central1-a';
const TOKEN = 'ya29.test-token';

interface ErrorBody {
  error: {
    code: number;
    message: string;
    errors: { message: string; domain: string; reason: string }[];
    status?: string;
  };
}

interface Operation {
  name: string;
  status: string;
  operationType: string;
  targetLink: string;
  error?: { errors: { code: string; message: string }[] };
}

function body(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    machineType: `zones/${ZONE}/machineTypes/e2-small`,
    disks: [
      {
        boot: true,
        initializeParams: { sourceImage: 'projects/debian-cloud/global/images/family/debian-12' },
      },
    ],
    ...extra,
  };
}

describe('FakeCompute (wire level)', () => {
  let fake: FakeCompute;
  let base: string;

  async function boot(options: FakeComputeOptions = {}): Promise<void> {
    fake = new FakeCompute(options);
    await fake.start();
    base = `${fake.url}/compute/v1/projects/${fake.project}`;
  }

  async function call(
    method: string,
    path: string,
    payload?: unknown,
    headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` },
  ): Promise<Response> {
    const init: RequestInit = {
      method,
      headers: { 'content-type': 'application/json', ...headers },
    };
    if (payload !== undefined) {
      init.body = JSON.stringify(payload);
    }
    return fetch(`${base}${path}`, init);
  }

  async function json<T>(res: Response): Promise<T> {
    return (await res.json()) as T;
  }

  async function insert(name: string, extra: Record<string, unknown> = {}): Promise<Operation> {
    const res = await call('POST', `/zones/${ZONE}/instances`, body(name, extra));
    expect(res.status).toBe(200);
    return json<Operation>(res);
  }

  async function waitDone(op: Operation): Promise<Operation> {
    return json<Operation>(await call('POST', `/zones/${ZONE}/operations/${op.name}/wait`));
  }

  afterEach(async () => {
    await fake.close();
  });

  describe('errors in Google format', () => {
    beforeEach(() => boot());

    it('answers a missing instance with 404 notFound', async () => {
      const res = await call('GET', `/zones/${ZONE}/instances/ghost`);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/json; charset=UTF-8');
      const message = `The resource 'projects/fake-project/zones/${ZONE}/instances/ghost' was not found`;
      expect(await json<ErrorBody>(res)).toEqual({
        error: { code: 404, message, errors: [{ message, domain: 'global', reason: 'notFound' }] },
      });
      const del = await call('DELETE', `/zones/${ZONE}/instances/ghost`);
      expect(del.status).toBe(404);
    });

    it('requires a bearer token (401 UNAUTHENTICATED) and records JWT vs opaque tokens', async () => {
      const res = await call('GET', `/zones/${ZONE}/instances`, undefined, {});
      expect(res.status).toBe(401);
      const { error } = await json<ErrorBody>(res);
      expect(error).toMatchObject({ code: 401, status: 'UNAUTHENTICATED' });
      expect(error.errors[0]).toMatchObject({ reason: 'required', domain: 'global' });
      expect(error.message).toMatch(/^Request is missing required authentication credential/);

      const claims = Buffer.from(
        JSON.stringify({
          iss: 'sa@fake-project.iam.gserviceaccount.com',
          exp: Date.now() / 1000 + 60,
        }),
      ).toString('base64url');
      const jwt = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${claims}.c2ln`;
      expect(
        (
          await call('GET', `/zones/${ZONE}/instances`, undefined, {
            authorization: `Bearer ${jwt}`,
          })
        ).status,
      ).toBe(200);
      expect((await call('GET', `/zones/${ZONE}/instances`)).status).toBe(200);
      expect(fake.requests().map((r) => [r.status, r.auth])).toEqual([
        [401, 'none'],
        [200, 'jwt'],
        [200, 'token'],
      ]);
      const op = await json<Operation & { user: string }>(
        await call('POST', `/zones/${ZONE}/instances`, body('by-jwt'), {
          authorization: `Bearer ${jwt}`,
        }),
      );
      expect(op.user).toBe('sa@fake-project.iam.gserviceaccount.com');
    });

    it('rejects an expired JWT with 401 authError', async () => {
      const claims = Buffer.from(JSON.stringify({ exp: 1 })).toString('base64url');
      const jwt = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${claims}.c2ln`;
      const res = await call('GET', `/zones/${ZONE}/instances`, undefined, {
        authorization: `Bearer ${jwt}`,
      });
      expect(res.status).toBe(401);
      expect((await json<ErrorBody>(res)).error.errors[0]?.reason).toBe('authError');
    });

    it('answers another project with 403 forbidden and an unknown zone with 400 invalid', async () => {
      const other = await fetch(`${fake.url}/compute/v1/projects/other/aggregated/instances`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(other.status).toBe(403);
      expect((await json<ErrorBody>(other)).error).toMatchObject({
        message: "Required 'compute.instances.list' permission for 'projects/other'",
        errors: [{ reason: 'forbidden' }],
      });
      const zone = await call('GET', '/zones/mars-north1-a/instances');
      expect(zone.status).toBe(400);
      expect((await json<ErrorBody>(zone)).error.message).toBe(
        "Invalid value for field 'zone': 'mars-north1-a'. Unknown zone.",
      );
    });

    it('answers unknown paths like Google front end (HTML 404) and bad JSON with 400', async () => {
      const res = await call('GET', '/zones/us-central1-a/widgets');
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const bad = await fetch(`${base}/zones/${ZONE}/instances`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
        body: '{nope',
      });
      expect(bad.status).toBe(400);
      expect((await json<ErrorBody>(bad)).error.status).toBe('INVALID_ARGUMENT');
    });
  });

  describe('insert validation', () => {
    beforeEach(() => boot({ images: ['projects/debian-cloud/global/images/family/debian-12'] }));

    it.each<[string, Record<string, unknown>, string]>([
      ['a long name', { name: 'a'.repeat(64) }, "Invalid value for field 'resource.name'"],
      [
        'a missing machine type',
        { machineType: undefined },
        "Required field 'resource.machineType' not specified",
      ],
      [
        'a machine type of another zone',
        { machineType: 'zones/us-central1-b/machineTypes/e2-small' },
        "Invalid value for field 'resource.machineType'",
      ],
      [
        'a malformed machine type',
        { machineType: 'e2-small' },
        "Invalid value for field 'resource.machineType': 'e2-small'",
      ],
      [
        'a label value with capitals',
        { labels: { owner: 'Me' } },
        "Label value 'Me' of key 'owner' violates format constraints",
      ],
      [
        'a label key starting with a digit',
        { labels: { '1x': 'a' } },
        "Label key '1x' violates format constraints",
      ],
      [
        'no boot disk',
        { disks: [{ initializeParams: { sourceImage: 'x' } }] },
        "Invalid value for field 'resource.disks': ''. Exactly one boot disk",
      ],
      [
        'two boot disks',
        {
          disks: [
            { boot: true, initializeParams: {} },
            { boot: true, initializeParams: {} },
          ],
        },
        'Exactly one boot disk',
      ],
      [
        'a boot disk without an image',
        { disks: [{ boot: true, initializeParams: {} }] },
        "Required field 'resource.disks[0].initializeParams.sourceImage' not specified",
      ],
      [
        'a disk type of another zone',
        {
          disks: [
            {
              boot: true,
              initializeParams: {
                sourceImage: 'projects/debian-cloud/global/images/family/debian-12',
                diskType: 'zones/us-central1-c/diskTypes/pd-ssd',
              },
            },
          ],
        },
        "Invalid value for field 'resource.disks[0].initializeParams.diskType'",
      ],
      [
        'an unknown disk type',
        {
          disks: [
            {
              boot: true,
              initializeParams: {
                sourceImage: 'projects/debian-cloud/global/images/family/debian-12',
                diskType: `zones/${ZONE}/diskTypes/floppy`,
              },
            },
          ],
        },
        "Disk type 'floppy' does not exist",
      ],
      [
        'a subnetwork of another region',
        { networkInterfaces: [{ subnetwork: 'regions/europe-west1/subnetworks/default' }] },
        "Invalid value for field 'resource.networkInterfaces[0].subnetwork'",
      ],
      [
        'a bad metadata key',
        { metadata: { items: [{ key: 'a b', value: 'x' }] } },
        "Invalid value for field 'resource.metadata.items[0].key'",
      ],
      [
        'a duplicate metadata key',
        {
          metadata: {
            items: [
              { key: 'a', value: 'x' },
              { key: 'a', value: 'y' },
            ],
          },
        },
        "Duplicate metadata key 'a'",
      ],
      [
        'spot with MIGRATE',
        { scheduling: { provisioningModel: 'SPOT', onHostMaintenance: 'MIGRATE' } },
        "Invalid value for field 'resource.scheduling.onHostMaintenance'",
      ],
      [
        'a bad termination action',
        { scheduling: { provisioningModel: 'SPOT', instanceTerminationAction: 'EXPLODE' } },
        "Invalid value for field 'resource.scheduling.instanceTerminationAction'",
      ],
    ])('rejects %s with 400 naming the field', async (_what, change, message) => {
      const res = await call('POST', `/zones/${ZONE}/instances`, { ...body('vm-1'), ...change });
      expect(res.status).toBe(400);
      const { error } = await json<ErrorBody>(res);
      expect(error.message).toContain(message);
      expect(error.errors[0]?.reason).toMatch(/^(invalid|required)$/);
      expect(fake.instances()).toEqual([]);
    });

    it('answers an unknown image with 400 notFound; a known family passes', async () => {
      const res = await call('POST', `/zones/${ZONE}/instances`, {
        ...body('vm-1'),
        disks: [{ boot: true, initializeParams: { sourceImage: 'global/images/mine' } }],
      });
      expect(res.status).toBe(400);
      expect((await json<ErrorBody>(res)).error).toMatchObject({
        message: "The resource 'projects/fake-project/global/images/mine' was not found",
        errors: [{ reason: 'notFound' }],
      });
      const ok = await call('POST', `/zones/${ZONE}/instances`, {
        ...body('vm-1'),
        disks: [
          {
            boot: true,
            initializeParams: {
              sourceImage:
                'https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/family/debian-12',
            },
          },
        ],
      });
      expect(ok.status).toBe(200);
      const image = await fetch(
        `${fake.url}/compute/v1/projects/debian-cloud/global/images/family/debian-12`,
        { headers: { authorization: `Bearer ${TOKEN}` } },
      );
      expect(await json<{ family: string; status: string }>(image)).toMatchObject({
        family: 'debian-12',
        status: 'READY',
      });
    });

    it('rejects a request id that is not a UUID', async () => {
      const res = await call('POST', `/zones/${ZONE}/instances?requestId=abc`, body('vm-1'));
      expect(res.status).toBe(400);
      expect((await json<ErrorBody>(res)).error.message).toMatch(
        /^Invalid value for field 'requestId': 'abc'/,
      );
    });
  });

  describe('life cycle', () => {
    it('moves PROVISIONING → STAGING → RUNNING while the operation goes RUNNING → DONE', async () => {
      await boot({ bootDelayMs: 80, operationDelayMs: 40 });
      const op = await insert('vm-1', { labels: { a: 'b' } });
      expect(op).toMatchObject({ status: 'RUNNING', operationType: 'insert' });
      expect(op.name).toMatch(/^operation-\d{13}-[0-9a-f]{13}-[0-9a-f]{8}-[0-9a-f]{8}$/);
      expect(fake.instance('vm-1')?.status).toBe('PROVISIONING');
      const polled = await json<Operation>(
        await call('GET', `/zones/${ZONE}/operations/${op.name}`),
      );
      expect(polled.status).toBe('RUNNING');
      expect((await waitDone(op)).status).toBe('DONE');
      await fake.waitFor(() => fake.instance('vm-1')?.status === 'RUNNING', 2000);
      const statuses = fake
        .events()
        .filter((e) => e.instance === 'vm-1' && e.type === 'status')
        .map((e) => e.detail);
      expect(statuses).toEqual([
        'inserted as PROVISIONING',
        'PROVISIONING -> STAGING',
        'STAGING -> RUNNING',
      ]);
      expect(fake.instance('vm-1')?.resource).toMatchObject({
        status: 'RUNNING',
        metadata: { kind: 'compute#metadata' },
        tags: { fingerprint: expect.any(String) as string },
      });
    });

    it('returns the same operation for a repeated requestId, for inserts and deletes', async () => {
      await boot();
      const id = '5f2b8c1e-0a4d-4e7b-9c3f-1a2b3c4d5e6f';
      const first = await json<Operation>(
        await call('POST', `/zones/${ZONE}/instances?requestId=${id}`, body('vm-1')),
      );
      await waitDone(first);
      const again = await json<Operation>(
        await call('POST', `/zones/${ZONE}/instances?requestId=${id}`, body('vm-1')),
      );
      expect(again.name).toBe(first.name);
      expect(again.status).toBe('DONE');
      expect(fake.insertCount()).toBe(1);

      const del = '0e1d2c3b-4a59-4687-9a8b-7c6d5e4f3a2b';
      const d1 = await json<Operation>(
        await call('DELETE', `/zones/${ZONE}/instances/vm-1?requestId=${del}`),
      );
      await waitDone(d1);
      const d2 = await call('DELETE', `/zones/${ZONE}/instances/vm-1?requestId=${del}`);
      expect(d2.status).toBe(200);
      expect((await json<Operation>(d2)).name).toBe(d1.name);
      expect(fake.instances()).toEqual([]);
    });

    it('holds zoneOperations.wait until DONE, and close() releases a pending wait', async () => {
      await boot({ operationDelayMs: 150 });
      const op = await insert('vm-1');
      const started = Date.now();
      expect((await waitDone(op)).status).toBe('DONE');
      expect(Date.now() - started).toBeGreaterThanOrEqual(100);

      const slow = new FakeCompute({ operationDelayMs: 60_000 });
      await slow.start();
      const res = await fetch(
        `${slow.url}/compute/v1/projects/fake-project/zones/${ZONE}/instances`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify(body('vm-2')),
        },
      );
      const pending = await json<Operation>(res);
      const waiting = fetch(
        `${slow.url}/compute/v1/projects/fake-project/zones/${ZONE}/operations/${pending.name}/wait`,
        { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } },
      ).then(async (r) => json<Operation>(r));
      await sleep(50);
      await slow.close();
      // The released wait answers with the operation as it stands, like a wait that timed out.
      expect((await waiting).status).toBe('RUNNING');
    });

    it('checks the metadata and label fingerprints (412 conditionNotMet)', async () => {
      await boot({ operationDelayMs: 1 });
      await waitDone(await insert('vm-1', { labels: { a: 'b' } }));
      const vm = await json<{ metadata: { fingerprint: string }; labelFingerprint: string }>(
        await call('GET', `/zones/${ZONE}/instances/vm-1`),
      );
      const stale = await call('POST', `/zones/${ZONE}/instances/vm-1/setMetadata`, {
        fingerprint: 'AAAAAAAAAAA=',
        items: [],
      });
      expect(stale.status).toBe(412);
      expect((await json<ErrorBody>(stale)).error.errors[0]?.reason).toBe('conditionNotMet');
      const missing = await call('POST', `/zones/${ZONE}/instances/vm-1/setMetadata`, {
        items: [],
      });
      expect(missing.status).toBe(412);
      const ok = await call('POST', `/zones/${ZONE}/instances/vm-1/setMetadata`, {
        fingerprint: vm.metadata.fingerprint,
        items: [{ key: 'k', value: 'v' }],
      });
      expect(ok.status).toBe(200);
      expect(fake.instance('vm-1')?.metadata).toEqual({ k: 'v' });

      const labels = await call('POST', `/zones/${ZONE}/instances/vm-1/setLabels`, {
        labelFingerprint: vm.labelFingerprint,
        labels: { a: 'c' },
      });
      expect(labels.status).toBe(200);
      expect(fake.instance('vm-1')?.labels).toEqual({ a: 'c' });
      const staleLabels = await call('POST', `/zones/${ZONE}/instances/vm-1/setLabels`, {
        labelFingerprint: vm.labelFingerprint,
        labels: {},
      });
      expect(staleLabels.status).toBe(412);
    });

    it('lets tests preempt, delete out of band and add foreign instances', async () => {
      await boot({ operationDelayMs: 1, bootDelayMs: 2 });
      await waitDone(await insert('vm-1'));
      await fake.waitFor(() => fake.instance('vm-1')?.status === 'RUNNING');
      fake.setStatus('vm-1', 'TERMINATED');
      const vm = await json<{ status: string; lastStopTimestamp: string }>(
        await call('GET', `/zones/${ZONE}/instances/vm-1`),
      );
      expect(vm.status).toBe('TERMINATED');
      expect(vm.lastStopTimestamp).toBeTruthy();
      fake.deleteOutOfBand('vm-1');
      expect((await call('GET', `/zones/${ZONE}/instances/vm-1`)).status).toBe(404);

      const foreign = fake.addInstance('us-central1-b', {
        name: 'not-ours',
        labels: { team: 'x' },
      });
      expect(foreign).toMatchObject({
        status: 'RUNNING',
        zone: 'us-central1-b',
        insertBody: undefined,
      });
      const got = await json<{ zone: string; selfLink: string }>(
        await call('GET', '/zones/us-central1-b/instances/not-ours'),
      );
      expect(got.selfLink).toBe(
        'https://www.googleapis.com/compute/v1/projects/fake-project/zones/us-central1-b/instances/not-ours',
      );
      expect(fake.insertCount()).toBe(1);
    });
  });

  describe('list', () => {
    beforeEach(async () => {
      // Boot never finishes here, so status filters see a stable PROVISIONING.
      await boot({ operationDelayMs: 1, bootDelayMs: 60_000 });
      await insert('a-1', { labels: { owner: 'me', pool: 'x' } });
      await insert('a-2', { labels: { owner: 'me', pool: 'y' } });
      await insert('b-1', { labels: { owner: 'you' } });
      await insert('c-1');
    });

    async function names(filter: string): Promise<string[]> {
      const res = await call(
        'GET',
        `/zones/${ZONE}/instances?filter=${encodeURIComponent(filter)}`,
      );
      expect(res.status).toBe(200);
      const list = await json<{ items?: { name: string }[] }>(res);
      return (list.items ?? []).map((i) => i.name);
    }

    it.each<[string, string[]]>([
      ['labels.owner = "me"', ['a-1', 'a-2']],
      ['labels.owner=me', ['a-1', 'a-2']],
      ['labels.owner = "me" AND labels.pool = "y"', ['a-2']],
      ['labels.owner=me labels.pool=x', ['a-1']],
      ['(labels.owner = "me") AND (labels.pool = "x")', ['a-1']],
      ['labels.owner = "you" OR labels.pool = "y"', ['a-2', 'b-1']],
      ['labels.owner != "me"', ['b-1', 'c-1']],
      ['labels.owner:*', ['a-1', 'a-2', 'b-1']],
      ['name = "b-1"', ['b-1']],
      ["name eq 'a-.*'", ['a-1', 'a-2']],
      ['status = RUNNING', []],
      ['status = PROVISIONING labels.owner = you', ['b-1']],
      ['scheduling.provisioningModel = STANDARD labels.pool = x', ['a-1']],
    ])('filters %s', async (filter, expected) => {
      expect(await names(filter)).toEqual(expected);
    });

    it('rejects a malformed filter with 400', async () => {
      const res = await call(
        'GET',
        `/zones/${ZONE}/instances?filter=${encodeURIComponent('labels.owner =')}`,
      );
      expect(res.status).toBe(400);
      expect((await json<ErrorBody>(res)).error.message).toBe(
        "Invalid value for field 'filter': 'labels.owner ='. Invalid list filter expression.",
      );
    });

    it('pages with maxResults and nextPageToken, and omits items when empty', async () => {
      const first = await json<{ kind: string; items: { name: string }[]; nextPageToken: string }>(
        await call('GET', `/zones/${ZONE}/instances?maxResults=3`),
      );
      expect(first.kind).toBe('compute#instanceList');
      expect(first.items.map((i) => i.name)).toEqual(['a-1', 'a-2', 'b-1']);
      const second = await json<{ items: { name: string }[]; nextPageToken?: string }>(
        await call('GET', `/zones/${ZONE}/instances?maxResults=3&pageToken=${first.nextPageToken}`),
      );
      expect(second.items.map((i) => i.name)).toEqual(['c-1']);
      expect(second.nextPageToken).toBeUndefined();
      const empty = await json<Record<string, unknown>>(
        await call('GET', '/zones/us-central1-c/instances'),
      );
      expect(empty).toEqual({
        kind: 'compute#instanceList',
        id: 'projects/fake-project/zones/us-central1-c/instances',
        selfLink:
          'https://www.googleapis.com/compute/v1/projects/fake-project/zones/us-central1-c/instances',
      });
      expect((await call('GET', `/zones/${ZONE}/instances?pageToken=garbage`)).status).toBe(400);
      expect((await call('GET', `/zones/${ZONE}/instances?maxResults=501`)).status).toBe(400);
    });

    it('aggregates by zone with NO_RESULTS_ON_PAGE warnings and returnPartialSuccess', async () => {
      const res = await call(
        'GET',
        `/aggregated/instances?filter=${encodeURIComponent('labels.owner=me')}&returnPartialSuccess=true`,
      );
      const list = await json<{ items: Record<string, unknown>; unreachables: string[] }>(res);
      expect(Object.keys(list.items)).toEqual([
        'zones/us-central1-a',
        'zones/us-central1-b',
        'zones/us-central1-c',
      ]);
      expect(list.items['zones/us-central1-b']).toEqual({
        warning: {
          code: 'NO_RESULTS_ON_PAGE',
          message: "There are no results for scope 'zones/us-central1-b' on this page.",
          data: [{ key: 'scope', value: 'zones/us-central1-b' }],
        },
      });
      expect(list.unreachables).toEqual([]);
    });
  });

  describe('faults', () => {
    beforeEach(() => boot({ operationDelayMs: 1 }));

    it('answers http faults in Google format, per method and path, for `times` requests', async () => {
      fake.inject({
        kind: 'http',
        status: 429,
        method: 'GET',
        pathIncludes: '/instances',
        times: 2,
      });
      for (let i = 0; i < 2; i += 1) {
        const res = await call('GET', `/zones/${ZONE}/instances`);
        expect(res.status).toBe(429);
        expect((await json<ErrorBody>(res)).error).toMatchObject({
          status: 'RESOURCE_EXHAUSTED',
          errors: [{ reason: 'rateLimitExceeded', domain: 'usageLimits' }],
        });
      }
      expect((await call('GET', `/zones/${ZONE}/instances`)).status).toBe(200);

      fake.inject({ kind: 'http', status: 500, reason: 'internalError', times: Infinity });
      const res = await call('GET', `/zones/${ZONE}/instances`);
      expect((await json<ErrorBody>(res)).error.errors[0]?.reason).toBe('internalError');
      expect((await call('GET', `/zones/${ZONE}/instances`)).status).toBe(500);
      fake.clearFaults();
      expect((await call('GET', `/zones/${ZONE}/instances`)).status).toBe(200);
      expect(() => {
        fake.inject({ kind: 'delay', ms: 1, times: 0 });
      }).toThrow(RangeError);
    });

    it('delays requests and drops responses after processing them', async () => {
      fake.inject({ kind: 'delay', ms: 120, method: 'GET' });
      const started = Date.now();
      expect((await call('GET', `/zones/${ZONE}/instances`)).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(100);

      fake.inject({ kind: 'dropResponse', method: 'POST' });
      await expect(call('POST', `/zones/${ZONE}/instances`, body('dropped'))).rejects.toThrow();
      expect(fake.instance('dropped')).toBeDefined();
      await fake.waitFor(() => fake.requests({ method: 'POST' }).length === 1);
      expect(fake.requests({ method: 'POST' })[0]).toMatchObject({ dropped: true, status: 200 });
    });

    it('fails stockout inserts only in the faulted zone', async () => {
      fake.inject({ kind: 'stockout', zone: 'us-central1-b', times: Infinity });
      const other = await insert('vm-a');
      expect((await waitDone(other)).error).toBeUndefined();
      const res = await fetch(`${base}/zones/us-central1-b/instances`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({
          ...body('vm-b'),
          machineType: 'zones/us-central1-b/machineTypes/e2-small',
        }),
      });
      const op = await json<Operation>(res);
      const done = await json<Operation>(
        await call('POST', `/zones/us-central1-b/operations/${op.name}/wait`),
      );
      expect(done.error?.errors[0]?.code).toBe('ZONE_RESOURCE_POOL_EXHAUSTED');
      expect(fake.instance('vm-b')).toBeUndefined();
    });
  });

  describe('guests', () => {
    it('runs the guest when RUNNING, with a metadata snapshot, and aborts it on preemption', async () => {
      let seen: FakeGuestContext | undefined;
      const guest = async (vm: FakeGuestContext): Promise<void> => {
        seen = vm;
        vm.setGuestAttribute('test', 'state', 'up');
        await new Promise<void>((resolve) => {
          vm.signal.addEventListener('abort', () => {
            resolve();
          });
        });
      };
      await boot({ guest, bootDelayMs: 4, operationDelayMs: 1 });
      await insert('vm-1', {
        metadata: {
          items: [
            { key: 'enable-guest-attributes', value: 'TRUE' },
            { key: 'role', value: 'runner' },
          ],
        },
      });
      await fake.waitFor(() => seen !== undefined);
      expect(seen?.metadata).toEqual({ 'enable-guest-attributes': 'TRUE', role: 'runner' });
      const attrs = await json<Record<string, unknown>>(
        await call('GET', `/zones/${ZONE}/instances/vm-1/getGuestAttributes?queryPath=test/`),
      );
      expect(attrs).toMatchObject({
        kind: 'compute#guestAttributes',
        queryPath: 'test/',
        queryValue: { items: [{ namespace: 'test', key: 'state', value: 'up' }] },
      });
      const one = await json<Record<string, unknown>>(
        await call(
          'GET',
          `/zones/${ZONE}/instances/vm-1/getGuestAttributes?variableKey=test/state`,
        ),
      );
      expect(one).toMatchObject({ variableKey: 'test/state', variableValue: 'up' });
      const none = await call(
        'GET',
        `/zones/${ZONE}/instances/vm-1/getGuestAttributes?queryPath=other/`,
      );
      expect(none.status).toBe(404);

      fake.setStatus('vm-1', 'TERMINATED');
      expect(seen?.signal.aborted).toBe(true);
      await fake.waitFor(() => fake.events().some((e) => e.type === 'guest-finished'));
    });

    it('records guest failures instead of crashing, and refuses guest attributes unless enabled', async () => {
      const guest = (vm: FakeGuestContext): Promise<void> => {
        vm.setGuestAttribute('a', 'b', 'c');
        return Promise.resolve();
      };
      await boot({ guest, bootDelayMs: 2, operationDelayMs: 1 });
      await insert('vm-1');
      await fake.waitFor(() => fake.events().some((e) => e.type === 'guest-error'));
      const failure = fake.events().find((e) => e.type === 'guest-error');
      expect(failure).toMatchObject({ instance: 'vm-1' });
      expect(failure?.detail).toContain('enable-guest-attributes=TRUE');
      expect(fake.instance('vm-1')?.status).toBe('RUNNING');
    });

    it('removes a metadata key through the API and powers off on shutdown()', async () => {
      const guest = async (vm: FakeGuestContext): Promise<void> => {
        await vm.removeMetadataKey('secret');
        vm.shutdown();
      };
      await boot({ guest, bootDelayMs: 2, operationDelayMs: 5 });
      await insert('vm-1', {
        metadata: {
          items: [
            { key: 'secret', value: 's3cr3t' },
            { key: 'keep', value: 'me' },
          ],
        },
      });
      await fake.waitFor(() => fake.instance('vm-1')?.status === 'TERMINATED');
      expect(fake.instance('vm-1')?.metadata).toEqual({ keep: 'me' });
      expect(
        fake
          .events()
          .filter((e) => e.type === 'status')
          .map((e) => e.detail)
          .slice(-2),
      ).toEqual(['RUNNING -> STOPPING', 'STOPPING -> TERMINATED']);
    });
  });
});

import { randomUUID } from 'node:crypto';
import { InstancesClient, ZoneOperationsClient, type protos } from '@google-cloud/compute';
import { FakeGitHub } from '../fake-github/fake-github.server';
import { FakeWireClient } from '../fake-github/fake-github.wire';
import { fakeComputeClientOptions } from './fake-compute.client-options';
import { fakeRunnerGuest } from './fake-compute.guest';
import { FakeCompute } from './fake-compute.server';
import type { FakeComputeOptions } from './fake-compute.types';

/*
 * The fake driven by the real `@google-cloud/compute` 7.8 clients over REST, configured only
 * through `fakeComputeClientOptions` (apiEndpoint/port/protocol 'http', fallback REST transport,
 * a throwaway service-account key with `scopes: []` so the client signs its own JWT offline).
 */

type IInstance = protos.google.cloud.compute.v1.IInstance;
type IOperation = protos.google.cloud.compute.v1.IOperation;

const ZONE = 'us-central1-a';
const IMAGE = 'projects/debian-cloud/global/images/family/debian-12';

/** What gax puts on a rejected call: a gRPC code, the HTTP status and Google's message. */
interface ClientError {
  code: number;
  httpStatusCode?: number;
  message: string;
  reason?: string;
}

function vmBody(name: string, zone = ZONE, extra: Partial<IInstance> = {}): IInstance {
  return {
    name,
    machineType: `zones/${zone}/machineTypes/e2-small`,
    labels: { 'scaleset-owner': 'test', 'scaleset-set': 'linux' },
    disks: [
      {
        boot: true,
        autoDelete: true,
        initializeParams: {
          sourceImage: IMAGE,
          diskSizeGb: 20,
          diskType: `zones/${zone}/diskTypes/pd-balanced`,
        },
      },
    ],
    networkInterfaces: [
      {
        network: 'global/networks/default',
        subnetwork: 'regions/us-central1/subnetworks/default',
        accessConfigs: [{ type: 'ONE_TO_ONE_NAT', name: 'External NAT' }],
      },
    ],
    serviceAccounts: [
      { email: 'default', scopes: ['https://www.googleapis.com/auth/cloud-platform'] },
    ],
    scheduling: { provisioningModel: 'SPOT', instanceTerminationAction: 'DELETE' },
    tags: { items: ['scaleset-runner'] },
    metadata: { items: [{ key: 'startup-script', value: '#!/bin/sh\necho hi' }] },
    ...extra,
  };
}

async function rejection(promise: Promise<unknown>): Promise<ClientError> {
  try {
    await promise;
  } catch (error) {
    return error as ClientError;
  }
  throw new Error('expected the call to fail');
}

describe('FakeCompute with the real @google-cloud/compute client', () => {
  let fake: FakeCompute;
  let instances: InstancesClient;
  let operations: ZoneOperationsClient;

  async function boot(options: FakeComputeOptions = {}): Promise<void> {
    fake = new FakeCompute(options);
    await fake.start();
    instances = new InstancesClient(fakeComputeClientOptions(fake));
    operations = new ZoneOperationsClient(fakeComputeClientOptions(fake));
  }

  async function insert(body: IInstance, zone = ZONE, requestId?: string): Promise<IOperation> {
    const request: protos.google.cloud.compute.v1.IInsertInstanceRequest = {
      project: fake.project,
      zone,
      instanceResource: body,
    };
    if (requestId !== undefined) {
      request.requestId = requestId;
    }
    const [lro] = await instances.insert(request);
    return lro.latestResponse as IOperation;
  }

  async function wait(op: IOperation, zone = ZONE): Promise<IOperation> {
    const [done] = await operations.wait({
      project: fake.project,
      zone,
      operation: op.name ?? '',
    });
    return done;
  }

  beforeAll(() => {
    // google-auth-library warns once per client about the `credentials` option.
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    await Promise.all([instances.close(), operations.close()]);
    await fake.close();
  });

  it('runs insert → wait → get → list → aggregatedList → setMetadata → delete → 404', async () => {
    await boot();
    const op = await insert(vmBody('runner-1'));
    expect(op).toMatchObject({ kind: 'compute#operation', operationType: 'insert' });
    expect(op.status).toMatch(/^(PENDING|RUNNING)$/);
    expect(op.targetLink).toBe(
      `https://www.googleapis.com/compute/v1/projects/fake-project/zones/${ZONE}/instances/runner-1`,
    );
    const done = await wait(op);
    expect(done).toMatchObject({ status: 'DONE', progress: 100, name: op.name });
    expect(done.error).toBeFalsy();

    await fake.waitFor(() => fake.instance('runner-1')?.status === 'RUNNING', 2000, 'RUNNING');
    const [vm] = await instances.get({ project: fake.project, zone: ZONE, instance: 'runner-1' });
    expect(vm).toMatchObject({
      kind: 'compute#instance',
      name: 'runner-1',
      status: 'RUNNING',
      zone: `https://www.googleapis.com/compute/v1/projects/fake-project/zones/${ZONE}`,
      machineType: `https://www.googleapis.com/compute/v1/projects/fake-project/zones/${ZONE}/machineTypes/e2-small`,
      labels: { 'scaleset-owner': 'test', 'scaleset-set': 'linux' },
      scheduling: {
        provisioningModel: 'SPOT',
        instanceTerminationAction: 'DELETE',
        preemptible: true,
        automaticRestart: false,
        onHostMaintenance: 'TERMINATE',
      },
      tags: { items: ['scaleset-runner'] },
    });
    expect(vm.id).toMatch(/^\d{19}$/);
    expect(vm.labelFingerprint).toBeTruthy();
    expect(vm.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[-+]\d\d:\d\d$/);
    expect(vm.networkInterfaces?.[0]?.accessConfigs?.[0]?.natIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(vm.networkInterfaces?.[0]?.subnetwork).toBe(
      'https://www.googleapis.com/compute/v1/projects/fake-project/regions/us-central1/subnetworks/default',
    );
    expect(vm.serviceAccounts?.[0]?.email).toMatch(/-compute@developer\.gserviceaccount\.com$/);
    expect(vm.disks?.[0]).toMatchObject({ boot: true, autoDelete: true, diskSizeGb: '20' });
    const stored = fake.instance('runner-1');
    expect(stored?.insertBody).toMatchObject({
      disks: [{ initializeParams: { diskType: `zones/${ZONE}/diskTypes/pd-balanced` } }],
    });

    await insert(
      vmBody('other-1', 'us-central1-b', { labels: { 'scaleset-owner': 'someone' } }),
      'us-central1-b',
    );
    const [mine] = await instances.list({
      project: fake.project,
      zone: ZONE,
      filter: 'labels.scaleset-owner = "test" AND labels.scaleset-set = "linux"',
    });
    expect(mine.map((i) => i.name)).toEqual(['runner-1']);

    const aggregated: [string, protos.google.cloud.compute.v1.IInstancesScopedList][] = [];
    for await (const entry of instances.aggregatedListAsync({
      project: fake.project,
      filter: 'labels.scaleset-owner=test',
    })) {
      aggregated.push(entry);
    }
    const byZone = Object.fromEntries(
      aggregated.map(([scope, list]) => [scope, (list.instances ?? []).map((i) => i.name)]),
    );
    expect(byZone[`zones/${ZONE}`]).toEqual(['runner-1']);
    expect(byZone['zones/us-central1-b']).toEqual([]);
    const empty = aggregated.find(([scope]) => scope === 'zones/us-central1-b')?.[1];
    expect(empty?.warning?.code).toBe('NO_RESULTS_ON_PAGE');

    const fingerprint = vm.metadata?.fingerprint ?? '';
    const [setOp] = await instances.setMetadata({
      project: fake.project,
      zone: ZONE,
      instance: 'runner-1',
      metadataResource: { fingerprint, items: [{ key: 'jit', value: 'x' }] },
    });
    expect(await wait(setOp.latestResponse as IOperation)).toMatchObject({
      status: 'DONE',
      operationType: 'setMetadata',
    });
    expect(fake.instance('runner-1')?.metadata).toEqual({ jit: 'x' });
    const stale = await rejection(
      instances.setMetadata({
        project: fake.project,
        zone: ZONE,
        instance: 'runner-1',
        metadataResource: { fingerprint, items: [] },
      }),
    );
    expect(stale).toMatchObject({ code: 9, httpStatusCode: 412 });
    expect(stale.message).toBe('Supplied fingerprint does not match current metadata fingerprint.');

    const [deleteLro] = await instances.delete({
      project: fake.project,
      zone: ZONE,
      instance: 'runner-1',
    });
    const deleted = await wait(deleteLro.latestResponse as IOperation);
    expect(deleted).toMatchObject({ status: 'DONE', operationType: 'delete' });
    const missing = await rejection(
      instances.get({ project: fake.project, zone: ZONE, instance: 'runner-1' }),
    );
    expect(missing).toMatchObject({ code: 5, httpStatusCode: 404 });
    expect(missing.message).toBe(
      `The resource 'projects/fake-project/zones/${ZONE}/instances/runner-1' was not found`,
    );
    const auth = fake.requests({ pathIncludes: '/instances' }).map((r) => r.auth);
    expect(new Set(auth)).toEqual(new Set(['jwt']));
  });

  it('makes a retried insert with the same requestId idempotent after a dropped response', async () => {
    await boot();
    fake.inject({ kind: 'dropResponse', method: 'POST', pathIncludes: '/instances?' });
    const requestId = randomUUID();
    await expect(insert(vmBody('retry-1'), ZONE, requestId)).rejects.toThrow();
    expect(fake.requests({ method: 'POST' })).toEqual([
      expect.objectContaining({ dropped: true, status: 200 }),
    ]);
    const first = fake.instance('retry-1');
    expect(first).toBeDefined();

    const again = await insert(vmBody('retry-1'), ZONE, requestId);
    expect(await wait(again)).toMatchObject({ status: 'DONE' });
    expect(fake.instances().map((i) => i.name)).toEqual(['retry-1']);
    expect(fake.insertCount()).toBe(1);
    expect(fake.instance('retry-1')?.id).toBe(first?.id);

    const conflict = await rejection(insert(vmBody('retry-1'), ZONE, randomUUID()));
    // gax maps HTTP 409 to ABORTED (10), not ALREADY_EXISTS: Compute sends no `status` name.
    expect(conflict).toMatchObject({ code: 10, httpStatusCode: 409 });
    expect(conflict.message).toBe(
      `The resource 'projects/fake-project/zones/${ZONE}/instances/retry-1' already exists`,
    );
  });

  it('reports a stockout in the operation (ZONE_RESOURCE_POOL_EXHAUSTED) without an instance', async () => {
    await boot();
    fake.inject({ kind: 'stockout', zone: ZONE });
    const op = await insert(vmBody('stock-1'));
    const done = await wait(op);
    expect(done).toMatchObject({
      status: 'DONE',
      httpErrorStatusCode: 503,
      httpErrorMessage: 'SERVICE UNAVAILABLE',
    });
    expect(done.error?.errors?.[0]?.code).toBe('ZONE_RESOURCE_POOL_EXHAUSTED');
    expect(done.error?.errors?.[0]?.message).toContain(
      `The zone 'projects/fake-project/zones/${ZONE}' does not have enough resources`,
    );
    expect(fake.instance('stock-1')).toBeUndefined();
    expect(fake.insertCount()).toBe(0);
    // times defaults to 1: the next insert in that zone succeeds.
    expect((await wait(await insert(vmBody('stock-1')))).error).toBeFalsy();
  });

  it('fails the insert call itself for a synchronous stockout (503 ..._WITH_DETAILS)', async () => {
    await boot();
    fake.inject({ kind: 'stockout', zone: 'us-central1-b', mode: 'synchronous', times: 2 });
    const error = await rejection(insert(vmBody('stock-2', 'us-central1-b'), 'us-central1-b'));
    expect(error).toMatchObject({
      code: 14,
      httpStatusCode: 503,
      reason: 'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS',
    });
    expect(error.message).toContain('does not have enough resources available');
    // Another zone is unaffected.
    expect((await wait(await insert(vmBody('stock-2')))).error).toBeFalsy();
  });

  it('surfaces quota errors synchronously (403 quotaExceeded) and in operations (QUOTA_EXCEEDED)', async () => {
    await boot();
    fake.inject({ kind: 'quota' });
    const error = await rejection(insert(vmBody('quota-1')));
    expect(error).toMatchObject({ code: 7, httpStatusCode: 403, reason: 'QUOTA_EXCEEDED' });
    expect(error.message).toBe("Quota 'CPUS' exceeded.  Limit: 24.0 in region us-central1.");

    fake.inject({ kind: 'quota', metric: 'N2_CPUS', mode: 'operation', zone: ZONE });
    const done = await wait(await insert(vmBody('quota-2')));
    expect(done.httpErrorStatusCode).toBe(403);
    expect(done.error?.errors?.[0]).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      message: "Quota 'N2_CPUS' exceeded.  Limit: 24.0 in region us-central1.",
    });
    expect(fake.instances()).toEqual([]);
  });

  it('answers unknown images with 400 notFound and invalid bodies with 400 naming the field', async () => {
    await boot({ images: [IMAGE] });
    const image = await rejection(
      insert(
        vmBody('img-1', ZONE, {
          disks: [
            {
              boot: true,
              initializeParams: { sourceImage: 'projects/debian-cloud/global/images/nope' },
            },
          ],
        }),
      ),
    );
    expect(image).toMatchObject({ code: 3, httpStatusCode: 400 });
    expect(image.message).toBe(
      "The resource 'projects/debian-cloud/global/images/nope' was not found",
    );

    const label = await rejection(insert(vmBody('img-1', ZONE, { labels: { Owner: 'x' } })));
    expect(label.message).toMatch(
      /^Invalid value for field 'resource.labels': ''. Label key 'Owner'/,
    );
    const machine = await rejection(
      insert(vmBody('img-1', ZONE, { machineType: 'zones/us-central1-b/machineTypes/e2-small' })),
    );
    expect(machine.message).toMatch(/^Invalid value for field 'resource.machineType'/);
    const name = await rejection(insert(vmBody('Bad_Name')));
    expect(name.message).toBe(
      "Invalid value for field 'resource.name': 'Bad_Name'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'",
    );
    expect(fake.insertCount()).toBe(0);
  });

  it('pages list and aggregatedList with nextPageToken', async () => {
    await boot({ operationDelayMs: 1 });
    for (const [i, zone] of ['us-central1-a', 'us-central1-b', 'us-central1-a'].entries()) {
      await insert(vmBody(`page-${i}`, zone), zone);
    }
    for (let i = 3; i < 6; i += 1) {
      await insert(vmBody(`page-${i}`));
    }
    const [first, nextRequest, raw] = await instances.list(
      { project: fake.project, zone: ZONE, maxResults: 2 },
      { autoPaginate: false },
    );
    expect(first.map((i) => i.name)).toEqual(['page-0', 'page-2']);
    expect(raw.nextPageToken).toBeTruthy();
    expect(nextRequest?.pageToken).toBe(raw.nextPageToken);

    const all: string[] = [];
    for await (const vm of instances.listAsync({
      project: fake.project,
      zone: ZONE,
      maxResults: 2,
    })) {
      all.push(vm.name ?? '');
    }
    expect(all).toEqual(['page-0', 'page-2', 'page-3', 'page-4', 'page-5']);

    const scopes = new Map<string, string[]>();
    for await (const [scope, list] of instances.aggregatedListAsync({
      project: fake.project,
      maxResults: 2,
    })) {
      scopes.set(scope, [
        ...(scopes.get(scope) ?? []),
        ...(list.instances ?? []).map((i) => i.name ?? ''),
      ]);
    }
    expect(scopes.get('zones/us-central1-a')).toEqual(all);
    expect(scopes.get('zones/us-central1-b')).toEqual(['page-1']);
    const pages = fake.requests({ pathIncludes: '/aggregated/instances' });
    expect(pages).toHaveLength(3);
  });

  it('retries a 503 on get transparently (the client retries idempotent calls) and records both', async () => {
    await boot();
    await wait(await insert(vmBody('flaky-1')));
    fake.clearRequests();
    fake.inject({ kind: 'http', status: 503, method: 'GET', pathIncludes: '/instances/flaky-1' });
    const [vm] = await instances.get({ project: fake.project, zone: ZONE, instance: 'flaky-1' });
    expect(vm.name).toBe('flaky-1');
    expect(fake.requests().map((r) => r.status)).toEqual([503, 200]);

    fake.inject({ kind: 'http', status: 429, method: 'DELETE' });
    const limited = await rejection(
      instances.delete({ project: fake.project, zone: ZONE, instance: 'flaky-1' }),
    );
    expect(limited).toMatchObject({ code: 8, httpStatusCode: 429 });
  });

  it('rejects another project with 403 forbidden', async () => {
    await boot();
    const denied = await rejection(
      instances.get({ project: 'someone-else', zone: ZONE, instance: 'x' }),
    );
    expect(denied).toMatchObject({ code: 7, httpStatusCode: 403 });
    expect(denied.message).toBe(
      `Required 'compute.instances.get' permission for 'projects/someone-else/zones/${ZONE}/instances/x'`,
    );
  });

  describe('fakeRunnerGuest', () => {
    let github: FakeGitHub;

    afterEach(async () => {
      await github.stop();
    });

    it('reads and removes the JIT config, marks it consumed, runs the job and powers off', async () => {
      github = new FakeGitHub({ pollTimeoutMs: 300 });
      await github.start();
      const gh = new FakeWireClient(github);
      await gh.bootstrap();
      const scaleSetId = await gh.createScaleSet('gcp');
      const session = await gh.createSession(scaleSetId);
      github.queueJobs(1, { durationMs: 20, result: 'succeeded' });
      await gh.collect(session, 1);
      const jitResponse = await gh.admin(
        'POST',
        `_apis/runtime/runnerscalesets/${scaleSetId}/generatejitconfig`,
        { name: 'gcp-runner-1', workFolder: '' },
      );
      const { encodedJITConfig } = (await jitResponse.json()) as { encodedJITConfig: string };

      await boot({ guest: fakeRunnerGuest({ jitMetadataKey: 'scaleset-jit-config' }) });
      await insert(
        vmBody('gcp-runner-1', ZONE, {
          metadata: {
            items: [
              { key: 'scaleset-jit-config', value: encodedJITConfig },
              { key: 'enable-guest-attributes', value: 'TRUE' },
            ],
          },
        }),
      );
      await fake.waitFor(
        () => fake.instance('gcp-runner-1')?.status === 'TERMINATED',
        10_000,
        'the VM to power off',
      );
      expect(fake.events().filter((e) => e.type === 'guest-error')).toEqual([]);
      expect(fake.instance('gcp-runner-1')?.metadata).toEqual({
        'enable-guest-attributes': 'TRUE',
      });
      const removal = fake.requests({ method: 'POST', pathIncludes: '/setMetadata' });
      expect(removal).toEqual([expect.objectContaining({ status: 200, auth: 'token' })]);

      const [attributes] = await instances.getGuestAttributes({
        project: fake.project,
        zone: ZONE,
        instance: 'gcp-runner-1',
        queryPath: 'scaleset/',
      });
      expect(attributes.queryValue?.items).toEqual([
        expect.objectContaining({ namespace: 'scaleset', key: 'jit-config', value: 'consumed' }),
      ]);
      expect(github.jobs()).toEqual([expect.objectContaining({ result: 'succeeded' })]);
    });

    it('powers off at once when the metadata key is missing', async () => {
      github = new FakeGitHub();
      await github.start();
      await boot({ guest: fakeRunnerGuest({ jitMetadataKey: 'scaleset-jit-config' }) });
      await insert(vmBody('no-jit'));
      await fake.waitFor(
        () => fake.instance('no-jit')?.status === 'TERMINATED',
        5000,
        'the VM to power off',
      );
      expect(fake.requests({ pathIncludes: '/setMetadata' })).toEqual([]);
    });
  });
});

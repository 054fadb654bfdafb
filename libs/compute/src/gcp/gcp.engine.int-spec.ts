import {
  FakeCompute,
  fakeComputeClientOptions,
  type FakeComputeGuest,
  type FakeComputeOptions,
} from '@app/testing';
import type { RunnerSpec } from '../compute.engine';
import {
  EngineNameConflictError,
  EngineQuotaExceededError,
  isEngineError,
  isPermanentEngineError,
  type EngineError,
} from '../errors';
import { GcpEngine } from './gcp.engine';
import { GCP_METADATA_KEYS, GCP_RUNNER_LABELS } from './gcp.labels';
import type { GcpEngineOptions } from './gcp.options';

/**
 * The GCP engine with the real `@google-cloud/compute` client (REST transport, auth library)
 * against the fake Compute REST API on loopback, reached through `engine.gcp.api_endpoint` as a
 * user would configure it.
 */

const OWNER = 'deploy-int';
const ZONES = ['us-central1-a', 'us-central1-b', 'us-central1-c'];
const SA = 'runner-vm@fake-project.iam.gserviceaccount.com';

let counter = 0;
function runner(overrides: Partial<RunnerSpec> = {}): RunnerSpec {
  counter += 1;
  const jit = Buffer.from(
    JSON.stringify({ runner: `r${counter}`, secret: `jit-secret-${counter}-${Date.now()}` }),
  ).toString('base64');
  return {
    name: `linux-int${counter}`,
    jitConfig: jit,
    scaleSetId: 7,
    scaleSetName: 'Linux X64',
    ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<EngineError> {
  try {
    await promise;
  } catch (err) {
    if (isEngineError(err)) {
      return err;
    }
    throw err;
  }
  throw new Error('expected a rejection');
}

/** What scaleset's startup script does, in process: take the JIT config, remove it, power off. */
function scriptLikeGuest(removeKey = true): FakeComputeGuest {
  return async (vm) => {
    if ((vm.metadata[GCP_METADATA_KEYS.jitConfig] ?? '') === '') {
      vm.shutdown();
      return;
    }
    vm.setGuestAttribute('scaleset', 'jit-config', 'consumed');
    if (removeKey) {
      await vm.removeMetadataKey(GCP_METADATA_KEYS.jitConfig);
    }
  };
}

describe('GcpEngine against the fake Compute API', () => {
  let fake: FakeCompute;
  let engine: GcpEngine;

  async function boot(
    fakeOptions: FakeComputeOptions = {},
    overrides: Partial<GcpEngineOptions> = {},
  ): Promise<void> {
    fake = new FakeCompute({ zones: [...ZONES, 'europe-west1-b'], ...fakeOptions });
    await fake.start();
    // Only the credentials come from the helper; the endpoint goes through the config door.
    const {
      apiEndpoint: _host,
      port: _port,
      protocol: _protocol,
      ...auth
    } = fakeComputeClientOptions(fake);
    engine = new GcpEngine(
      {
        ownerId: OWNER,
        project: fake.project,
        zones: ZONES,
        image: 'projects/fake-project/global/images/family/runner',
        machineType: 'e2-standard-2',
        diskSizeGb: 40,
        diskType: 'pd-balanced',
        network: 'ci-net',
        subnet: 'ci-subnet',
        publicIp: true,
        serviceAccount: SA,
        scopes: ['https://www.googleapis.com/auth/cloud-platform'],
        labels: { team: 'infra' },
        tags: ['runner'],
        provisioningModel: 'SPOT',
        metadata: { 'block-project-ssh-keys': 'TRUE' },
        apiEndpoint: fake.url,
        operationTimeoutMs: 20_000,
        apiTimeoutMs: 10_000,
        ...overrides,
      },
      { clientOptions: auth, listPageSize: 2 },
    );
  }

  beforeAll(() => {
    // google-auth-library warns once per client about the `credentials` option.
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    await engine.close();
    await fake.close();
  });

  /** Every recorded request body that carries `secret`, with its method and path. */
  function requestsHolding(secret: string): string[] {
    return fake
      .requests()
      .filter((r) => JSON.stringify(r.body ?? null).includes(secret) || r.path.includes(secret))
      .map((r) => `${r.method} ${r.path}`);
  }

  it('creates one VM as configured, with labels, metadata and a request id', async () => {
    await boot();
    const spec = runner();

    const ref = await engine.start(spec);

    expect(ref).toMatchObject({ name: spec.name, adopted: false });
    expect(['starting', 'running']).toContain(ref.state);
    const vm = fake.instance(spec.name);
    expect(vm?.zone).toBe('us-central1-a');
    expect(ref.engineId).toBe(vm?.id);
    expect(vm?.labels).toEqual({
      team: 'infra',
      [GCP_RUNNER_LABELS.owner]: OWNER,
      [GCP_RUNNER_LABELS.scaleSetId]: '7',
      [GCP_RUNNER_LABELS.scaleSetName]: 'linux-x64',
      [GCP_RUNNER_LABELS.runnerName]: spec.name,
    });
    expect(Object.keys(vm?.metadata ?? {}).sort()).toEqual(
      [
        'block-project-ssh-keys',
        'enable-guest-attributes',
        GCP_METADATA_KEYS.jitConfig,
        GCP_METADATA_KEYS.jitDigest,
        GCP_METADATA_KEYS.runnerName,
        GCP_METADATA_KEYS.scaleSetName,
        'startup-script',
      ].sort(),
    );
    const [insert] = fake.requests({
      method: 'POST',
      pathIncludes: '/zones/us-central1-a/instances',
    });
    expect(insert?.query['requestId']).toMatch(/^[0-9a-f-]{36}$/);
    expect(insert?.body).toMatchObject({
      name: spec.name,
      machineType: 'zones/us-central1-a/machineTypes/e2-standard-2',
      disks: [
        {
          boot: true,
          autoDelete: true,
          initializeParams: {
            sourceImage: 'projects/fake-project/global/images/family/runner',
            diskSizeGb: '40',
            diskType: 'zones/us-central1-a/diskTypes/pd-balanced',
          },
        },
      ],
      networkInterfaces: [
        {
          network: 'global/networks/ci-net',
          subnetwork: 'regions/us-central1/subnetworks/ci-subnet',
          accessConfigs: [{ type: 'ONE_TO_ONE_NAT' }],
        },
      ],
      serviceAccounts: [{ email: SA, scopes: ['https://www.googleapis.com/auth/cloud-platform'] }],
      scheduling: {
        provisioningModel: 'SPOT',
        instanceTerminationAction: 'DELETE',
        automaticRestart: false,
        onHostMaintenance: 'TERMINATE',
      },
      tags: { items: ['runner'] },
    });
    expect(fake.requests().every((r) => r.auth === 'jwt')).toBe(true);
  });

  it('retries an insert whose response was dropped with the same request id: one VM', async () => {
    await boot();
    fake.inject({ kind: 'dropResponse', method: 'POST', pathIncludes: '/instances?' });
    const spec = runner();

    const ref = await engine.start(spec);

    const inserts = fake
      .requests({ method: 'POST', pathIncludes: '/zones/us-central1-a/instances' })
      .filter((r) => !r.path.endsWith('/setMetadata'));
    expect(inserts).toHaveLength(2);
    expect(inserts[0]?.dropped).toBe(true);
    expect(inserts[1]?.query['requestId']).toBe(inserts[0]?.query['requestId']);
    expect(fake.insertCount()).toBe(1);
    expect(fake.instances()).toHaveLength(1);
    expect(ref.adopted).toBe(false);
  });

  it.each(['operation', 'synchronous'] as const)(
    'lands in the second zone after a stockout in the first (%s)',
    async (mode) => {
      await boot();
      fake.inject({ kind: 'stockout', zone: 'us-central1-a', mode });
      const spec = runner();

      await engine.start(spec);

      expect(fake.instance(spec.name)?.zone).toBe('us-central1-b');
      expect(fake.instances()).toHaveLength(1);
    },
  );

  it('surfaces quota errors in every zone as the typed quota error', async () => {
    await boot();
    fake.inject({ kind: 'quota', times: Infinity });

    const err = await rejection(engine.start(runner()));

    expect(err).toBeInstanceOf(EngineQuotaExceededError);
    expect(err.retryable).toBe(true);
    expect((err as EngineQuotaExceededError).locations).toEqual(ZONES);
    expect(fake.instances()).toHaveLength(0);
  });

  it('makes permission denied permanent, naming the IAM roles', async () => {
    await boot();
    fake.inject({ kind: 'http', status: 403, method: 'POST', pathIncludes: '/instances?' });

    const err = await rejection(engine.start(runner()));

    expect(isPermanentEngineError(err)).toBe(true);
    expect(err.code).toBe('PERMISSION_DENIED');
    expect(err.message).toContain('roles/compute.instanceAdmin.v1');
    expect(err.message).toContain('roles/iam.serviceAccountUser');
  });

  it('makes a missing image permanent, naming engine.gcp.image', async () => {
    await boot({ images: ['projects/fake-project/global/images/other'] });

    const err = await rejection(engine.start(runner()));

    expect(isPermanentEngineError(err)).toBe(true);
    expect(err.code).toBe('IMAGE_NOT_FOUND');
    expect(err.message).toContain('engine.gcp.image');
    expect(fake.instances()).toHaveLength(0);
  });

  it('retries a 503 on insert and a throttled get', async () => {
    await boot();
    fake.inject({ kind: 'http', status: 503, method: 'POST', pathIncludes: '/instances?' });
    fake.inject({ kind: 'http', status: 429, method: 'GET', pathIncludes: '/instances/' });
    const spec = runner();

    await engine.start(spec);

    expect(fake.instances().map((i) => i.name)).toEqual([spec.name]);
  });

  it('adopts its own VM and refuses a foreign VM of the same name', async () => {
    await boot();
    const spec = runner();
    await engine.start(spec);

    const again = await engine.start(spec);
    fake.addInstance('us-central1-b', { name: 'linux-foreign', labels: { team: 'x' } });
    const err = await rejection(engine.start(runner({ name: 'linux-foreign' })));

    expect(again).toMatchObject({ adopted: true, engineId: fake.instance(spec.name)?.id });
    expect(fake.insertCount()).toBe(1);
    expect(err).toBeInstanceOf(EngineNameConflictError);
    expect(fake.instance('linux-foreign')?.labels).toEqual({ team: 'x' });
  });

  it('destroys in whichever zone; a VM already gone (404) is success', async () => {
    await boot();
    fake.inject({ kind: 'stockout', zone: 'us-central1-a' });
    const a = runner();
    const b = runner();
    await engine.start(a);
    await engine.start(b);
    fake.deleteOutOfBand(b.name);
    fake.inject({ kind: 'http', status: 404, method: 'DELETE' });

    await engine.destroy({ name: a.name });
    await engine.destroy({ name: a.name });
    await engine.destroy({ name: b.name });

    expect(fake.instances()).toHaveLength(0);
    const deletes = fake.requests({ method: 'DELETE' });
    expect(deletes.some((r) => r.path.includes('/zones/us-central1-b/instances/'))).toBe(true);
    expect(deletes.every((r) => /^[0-9a-f-]{36}$/.test(r.query['requestId'] ?? ''))).toBe(true);
  });

  it('lists its VMs across zones by owner, maps TERMINATED to exited, inspects by name', async () => {
    await boot();
    const a = runner();
    const b = runner();
    const other = runner({ scaleSetId: 8 });
    await engine.start(a);
    fake.inject({ kind: 'stockout', zone: 'us-central1-a' });
    await engine.start(b);
    await engine.start(other);
    fake.addInstance('us-central1-a', {
      name: 'someone-else',
      labels: { [GCP_RUNNER_LABELS.owner]: 'deploy-other', [GCP_RUNNER_LABELS.scaleSetId]: '7' },
    });
    fake.addInstance('europe-west1-b', {
      name: 'outside-zones',
      labels: { [GCP_RUNNER_LABELS.owner]: OWNER, [GCP_RUNNER_LABELS.scaleSetId]: '7' },
    });
    fake.setStatus(b.name, 'TERMINATED');

    const all = await engine.list({ owner: OWNER });
    const set7 = await engine.list({ owner: OWNER, scaleSetId: 7 });
    const inspected = await engine.inspect(b.name);

    expect(all.map((i) => i.name).sort()).toEqual([a.name, b.name, other.name].sort());
    expect(set7.map((i) => i.name).sort()).toEqual([a.name, b.name].sort());
    expect(inspected).toMatchObject({
      name: b.name,
      runnerName: b.name,
      state: 'exited',
      owner: OWNER,
      scaleSetId: 7,
      scaleSetName: 'Linux X64',
    });
    expect(inspected?.createdAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(await engine.inspect('someone-else')).toBeNull();
    expect(fake.requests({ pathIncludes: '/aggregated/instances' }).length).toBeGreaterThan(0);
  });

  it('pages through the aggregated list', async () => {
    await boot();
    const specs = [runner(), runner(), runner(), runner(), runner()];
    for (const spec of specs) {
      await engine.start(spec);
    }

    const listed = await engine.list({ owner: OWNER });

    expect(listed.map((i) => i.name).sort()).toEqual(specs.map((s) => s.name).sort());
    const pages = fake.requests({ pathIncludes: '/aggregated/instances' });
    expect(pages.length).toBeGreaterThanOrEqual(3);
    expect(pages.slice(1).every((r) => (r.query['pageToken'] ?? '') !== '')).toBe(true);
    expect(pages[0]?.query['filter']).toBe('(labels.scaleset-owner = "deploy-int")');
  });

  it('keeps the JIT config out of every request but the insert, and out of errors', async () => {
    await boot({ guest: scriptLikeGuest() });
    const spec = runner();
    await engine.start(spec);
    await fake.waitFor(
      () => fake.instance(spec.name)?.metadata[GCP_METADATA_KEYS.jitConfig] === undefined,
      10_000,
      'the guest removed the JIT config',
    );
    fake.inject({ kind: 'http', status: 400, method: 'POST', pathIncludes: '/instances?' });
    const failing = runner();
    const err = await rejection(engine.start(failing));
    await engine.list({ owner: OWNER });
    await engine.destroy({ name: spec.name });

    expect(requestsHolding(spec.jitConfig)).toEqual([
      `POST /compute/v1/projects/fake-project/zones/us-central1-a/instances`,
    ]);
    const insert = fake.requests({
      method: 'POST',
      pathIncludes: '/zones/us-central1-a/instances',
    })[0];
    const items = (insert?.body as { metadata: { items: { key: string; value: string }[] } })
      .metadata.items;
    expect(items.filter((i) => i.value.includes(spec.jitConfig)).map((i) => i.key)).toEqual([
      GCP_METADATA_KEYS.jitConfig,
    ]);
    expect(err.message).not.toContain(failing.jitConfig);
    expect(JSON.stringify(err.cause)).not.toContain(failing.jitConfig);
    expect(JSON.stringify(await engine.list({ owner: OWNER }))).not.toContain(failing.jitConfig);
  });

  it('removes a JIT config the VM has taken but left in metadata (second line of defence)', async () => {
    await boot({ guest: scriptLikeGuest(false) });
    const spec = runner();
    await engine.start(spec);
    await fake.waitFor(
      () => fake.events().some((e) => e.instance === spec.name && e.type === 'guest-finished'),
      10_000,
      'the guest has taken the JIT config',
    );

    await engine.list({ owner: OWNER });

    const vm = fake.instance(spec.name);
    expect(vm?.metadata[GCP_METADATA_KEYS.jitConfig]).toBeUndefined();
    expect(vm?.metadata['startup-script']).toContain('#!/bin/sh');
    expect(vm?.metadata[GCP_METADATA_KEYS.runnerName]).toBe(spec.name);
  });
});

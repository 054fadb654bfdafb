import {
  EngineCapacityError,
  EngineNameConflictError,
  EngineQuotaExceededError,
  isEngineError,
  isPermanentEngineError,
  type EngineError,
} from '../errors';
import type {
  GcpCallOptions,
  GcpComputeApi,
  GcpInstancePage,
  GcpMetadata,
  GcpOperation,
} from './gcp.api';
import { GcpEngine } from './gcp.engine';
import { metadataValue, type GcpInstance } from './gcp.instance';
import { GCP_METADATA_KEYS, GCP_RUNNER_LABELS } from './gcp.labels';
import type { GcpEngineOptions } from './gcp.options';

const JIT = 'eyJqaXQiOiJ0b3Atc2VjcmV0LXJ1bm5lci1jb25maWcifQ';
const ZONES = ['us-central1-a', 'us-central1-b', 'us-central1-c'];

function options(overrides: Partial<GcpEngineOptions> = {}): GcpEngineOptions {
  return {
    ownerId: 'deploy-1',
    project: 'my-project',
    zones: ZONES,
    image: 'projects/my-project/global/images/family/runner',
    machineType: 'e2-medium',
    diskSizeGb: 50,
    diskType: 'pd-balanced',
    network: 'default',
    publicIp: true,
    scopes: [],
    labels: {},
    tags: [],
    provisioningModel: 'STANDARD',
    metadata: {},
    operationTimeoutMs: 5_000,
    apiTimeoutMs: 2_000,
    ...overrides,
  };
}

function apiError(fields: Record<string, unknown>): Error {
  const message = fields['message'];
  return Object.assign(new Error(typeof message === 'string' ? message : 'failed'), fields);
}

type Failure =
  | { readonly kind: 'throw'; readonly error: Error }
  | { readonly kind: 'op'; readonly op: GcpOperation };

/**
 * An in-memory Compute API: instances per zone, operations finished at once, scripted
 * failures per (method, zone), and a log of every call with its request id.
 */
class FakeApi implements GcpComputeApi {
  readonly calls: { method: string; zone: string; name: string; requestId?: string }[] = [];
  readonly vms = new Map<string, GcpInstance>();
  readonly guest = new Map<string, string>();
  readonly failures = new Map<string, Failure[]>();
  private nextId = 1000;
  private readonly requestIds = new Set<string>();

  fail(method: string, zone: string, ...failures: Failure[]): void {
    this.failures.set(`${method} ${zone}`, failures);
  }

  private take(method: string, zone: string): Failure | undefined {
    return this.failures.get(`${method} ${zone}`)?.shift();
  }

  add(zone: string, vm: GcpInstance): void {
    this.vms.set(`${zone}/${vm.name ?? ''}`, {
      ...vm,
      id: String(this.nextId++),
      zone: `zones/${zone}`,
    });
  }

  getInstance(zone: string, name: string): Promise<GcpInstance> {
    this.calls.push({ method: 'get', zone, name });
    const failure = this.take('get', zone);
    if (failure?.kind === 'throw') {
      return Promise.reject(failure.error);
    }
    const vm = this.vms.get(`${zone}/${name}`);
    return vm ? Promise.resolve(structuredClone(vm)) : Promise.reject(apiError({ code: 404 }));
  }

  insertInstance(zone: string, vm: GcpInstance, requestId: string): Promise<GcpOperation> {
    this.calls.push({ method: 'insert', zone, name: vm.name ?? '', requestId });
    const failure = this.take('insert', zone);
    if (failure?.kind === 'throw') {
      return Promise.reject(failure.error);
    }
    if (failure?.kind === 'op') {
      // The operation is accepted, then ends with errors (what a stockout looks like).
      this.fail('wait', zone, { kind: 'op', op: failure.op });
      return Promise.resolve({ name: 'op-failed', status: 'RUNNING' });
    }
    if (this.requestIds.has(requestId)) {
      return Promise.resolve({ name: `op-${requestId}`, status: 'DONE' });
    }
    if (this.vms.has(`${zone}/${vm.name ?? ''}`)) {
      return Promise.reject(apiError({ code: 409, errors: [{ reason: 'alreadyExists' }] }));
    }
    this.requestIds.add(requestId);
    this.add(zone, { ...vm, status: 'PROVISIONING', creationTimestamp: new Date().toISOString() });
    return Promise.resolve({ name: `op-${requestId}`, status: 'RUNNING' });
  }

  deleteInstance(zone: string, name: string, requestId: string): Promise<GcpOperation> {
    this.calls.push({ method: 'delete', zone, name, requestId });
    const failure = this.take('delete', zone);
    if (failure?.kind === 'throw') {
      return Promise.reject(failure.error);
    }
    if (!this.vms.delete(`${zone}/${name}`)) {
      return Promise.reject(apiError({ code: 404 }));
    }
    return Promise.resolve({ name: `op-del-${name}`, status: 'DONE' });
  }

  setMetadata(zone: string, name: string, metadata: GcpMetadata): Promise<GcpOperation> {
    this.calls.push({ method: 'setMetadata', zone, name });
    const vm = this.vms.get(`${zone}/${name}`);
    if (!vm) {
      return Promise.reject(apiError({ code: 404 }));
    }
    if (metadata.fingerprint !== (vm.metadata?.fingerprint ?? null)) {
      return Promise.reject(apiError({ code: 412 }));
    }
    vm.metadata = { items: metadata.items ?? [], fingerprint: `${metadata.fingerprint ?? ''}x` };
    return Promise.resolve({ name: 'op-md', status: 'DONE' });
  }

  getGuestAttribute(zone: string, name: string, key: string): Promise<string | null> {
    this.calls.push({ method: 'guest', zone, name });
    return Promise.resolve(this.guest.get(`${zone}/${name}/${key}`) ?? null);
  }

  async *listInstances(filter: string): AsyncIterable<GcpInstancePage> {
    this.calls.push({ method: 'list', zone: '', name: filter });
    await Promise.resolve();
    const byZone = new Map<string, GcpInstance[]>();
    for (const [key, vm] of this.vms) {
      const zone = key.slice(0, key.indexOf('/'));
      byZone.set(zone, [...(byZone.get(zone) ?? []), structuredClone(vm)]);
    }
    // One zone per page, as a paginated aggregated list may deliver them.
    for (const [zone, vms] of byZone) {
      yield { zones: [[zone, vms]] };
    }
  }

  waitOperation(zone: string, operation: string): Promise<GcpOperation> {
    this.calls.push({ method: 'wait', zone, name: operation });
    const failure = this.take('wait', zone);
    if (failure?.kind === 'op') {
      return Promise.resolve({ name: operation, status: 'DONE', ...failure.op });
    }
    if (failure?.kind === 'throw') {
      return Promise.reject(failure.error);
    }
    for (const vm of this.vms.values()) {
      if (vm.status === 'PROVISIONING') {
        vm.status = 'RUNNING';
      }
    }
    return Promise.resolve({ name: operation, status: 'DONE' });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  inserts(): { zone: string; requestId?: string }[] {
    return this.calls.filter((c) => c.method === 'insert');
  }
}

const stockout = (): Failure => ({
  kind: 'op',
  op: {
    error: {
      errors: [
        {
          code: 'ZONE_RESOURCE_POOL_EXHAUSTED',
          message: 'The zone does not have enough resources available to fulfill the request.',
        },
      ],
    },
  },
});
const quota = (): Failure => ({
  kind: 'throw',
  error: apiError({
    code: 403,
    message: "Quota 'CPUS' exceeded.  Limit: 8.0 in region us-central1.",
    errors: [{ reason: 'quotaExceeded' }],
  }),
});

function spec(overrides: Partial<{ name: string; jitConfig: string; scaleSetId: number }> = {}) {
  return {
    name: 'linux-abc123',
    jitConfig: JIT,
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

describe('GcpEngine with a stubbed Compute API', () => {
  let api: FakeApi;
  let engine: GcpEngine;

  beforeEach(() => {
    api = new FakeApi();
    engine = new GcpEngine(options(), { api });
  });

  afterEach(async () => {
    await engine.close();
  });

  it('creates the VM in the first zone and reports it', async () => {
    const ref = await engine.start(spec());

    expect(ref).toEqual({
      name: 'linux-abc123',
      engineId: '1000',
      adopted: false,
      state: 'running',
    });
    expect(api.inserts().map((c) => c.zone)).toEqual(['us-central1-a']);
    expect(api.vms.has('us-central1-a/linux-abc123')).toBe(true);
  });

  it('falls back to the next zone on a stockout reported by the operation, in order', async () => {
    api.fail('insert', 'us-central1-a', stockout());

    const ref = await engine.start(spec());

    expect(ref.adopted).toBe(false);
    expect(api.inserts().map((c) => c.zone)).toEqual(['us-central1-a', 'us-central1-b']);
    expect(api.vms.has('us-central1-b/linux-abc123')).toBe(true);
  });

  it('falls back on a quota error from the request', async () => {
    api.fail('insert', 'us-central1-a', quota());
    api.fail('insert', 'us-central1-b', stockout());

    await engine.start(spec());

    expect(api.inserts().map((c) => c.zone)).toEqual(ZONES);
    expect(api.vms.has('us-central1-c/linux-abc123')).toBe(true);
  });

  it('throws the typed quota error when every zone refuses on quota', async () => {
    for (const zone of ZONES) {
      api.fail('insert', zone, quota());
    }

    const err = await rejection(engine.start(spec()));

    expect(err).toBeInstanceOf(EngineQuotaExceededError);
    expect(err.retryable).toBe(true);
    expect(err.code).toBe('QUOTA_EXCEEDED');
    expect((err as EngineQuotaExceededError).locations).toEqual(ZONES);
    expect(err.message).toContain('us-central1-c');
  });

  it('throws a retryable capacity error naming the zones when all are out of stock', async () => {
    api.fail('insert', 'us-central1-a', stockout());
    api.fail('insert', 'us-central1-b', quota());
    api.fail('insert', 'us-central1-c', stockout());

    const err = await rejection(engine.start(spec()));

    expect(err).toBeInstanceOf(EngineCapacityError);
    expect(err.code).toBe('CAPACITY');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/us-central1-a, us-central1-b, us-central1-c/);
    expect(api.vms.size).toBe(0);
  });

  it('retries a dropped insert with the same request id and creates one VM', async () => {
    api.fail('insert', 'us-central1-a', {
      kind: 'throw',
      error: apiError({ code: 14, message: 'socket hang up' }),
    });

    await engine.start(spec());

    const ids = api.inserts().map((c) => c.requestId);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBe(ids[1]);
    expect(api.vms.size).toBe(1);
  });

  it('stops at the first zone on a permanent error and says which setting is wrong', async () => {
    api.fail('insert', 'us-central1-a', {
      kind: 'throw',
      error: apiError({
        code: 404,
        message: "The resource 'projects/my-project/global/images/family/runner' was not found",
      }),
    });

    const err = await rejection(engine.start(spec()));

    expect(isPermanentEngineError(err)).toBe(true);
    expect(err.code).toBe('IMAGE_NOT_FOUND');
    expect(err.message).toContain('engine.gcp.image');
    expect(api.inserts()).toHaveLength(1);
  });

  it('adopts its own VM, in whichever zone it is', async () => {
    await engine.start(spec());
    api.calls.length = 0;

    const again = await engine.start(spec());

    expect(again).toMatchObject({ adopted: true, state: 'running', engineId: '1000' });
    expect(api.inserts()).toHaveLength(0);
  });

  it('refuses a VM of that name without its owner label', async () => {
    api.add('us-central1-b', {
      name: 'linux-abc123',
      labels: { team: 'other' },
      status: 'RUNNING',
    });

    const err = await rejection(engine.start(spec()));

    expect(err).toBeInstanceOf(EngineNameConflictError);
    expect(api.inserts()).toHaveLength(0);
  });

  it('replaces a never-booted VM that holds another JIT config', async () => {
    await engine.start(spec({ jitConfig: 'eyJvbGQiOiJjb25maWcifQ' }));
    const vm = api.vms.get('us-central1-a/linux-abc123');
    if (vm) {
      vm.status = 'STAGING';
    }

    const ref = await engine.start(spec());

    expect(ref.adopted).toBe(false);
    expect(api.calls.filter((c) => c.method === 'delete')).toHaveLength(1);
    const now = api.vms.get('us-central1-a/linux-abc123');
    expect(now && metadataValue(now, GCP_METADATA_KEYS.jitConfig)).toBe(JIT);
  });

  it('replaces a running VM whose JIT config the caller has since replaced', async () => {
    await engine.start(spec({ jitConfig: 'eyJvbGQiOiJjb25maWcifQ' }));

    const ref = await engine.start(spec());

    expect(ref).toMatchObject({ adopted: false, state: 'running' });
    expect(api.calls.filter((c) => c.method === 'delete')).toHaveLength(1);
    const now = api.vms.get('us-central1-a/linux-abc123');
    expect(now && metadataValue(now, GCP_METADATA_KEYS.jitConfig)).toBe(JIT);
  });

  it('destroys the VM in any configured zone; a missing one is success', async () => {
    api.fail('insert', 'us-central1-a', stockout());
    await engine.start(spec());

    await engine.destroy({ name: 'linux-abc123' });
    await engine.destroy({ name: 'linux-abc123' });

    expect(api.vms.size).toBe(0);
    expect(api.calls.filter((c) => c.method === 'delete').map((c) => c.zone)).toEqual([
      'us-central1-b',
    ]);
  });

  it('treats a 404 while waiting for the delete as done, and never deletes foreign VMs', async () => {
    await engine.start(spec());
    api.add('us-central1-c', { name: 'other-vm', labels: {}, status: 'RUNNING' });
    api.fail('wait', 'us-central1-a', { kind: 'throw', error: apiError({ code: 404 }) });

    await engine.destroy({ name: 'linux-abc123' });
    await engine.destroy({ name: 'other-vm' });

    expect([...api.vms.keys()]).toEqual(['us-central1-c/other-vm']);
  });

  it('lists its VMs across zones, by owner and scale set, with exited ones', async () => {
    await engine.start(spec());
    api.fail('insert', 'us-central1-a', stockout());
    await engine.start(spec({ name: 'linux-def456' }));
    await engine.start(spec({ name: 'other-set-1', scaleSetId: 8 }));
    const used = api.vms.get('us-central1-b/linux-def456');
    if (used) {
      used.status = 'TERMINATED';
    }
    api.add('europe-west1-b', {
      name: 'elsewhere',
      labels: { [GCP_RUNNER_LABELS.owner]: 'deploy-1', [GCP_RUNNER_LABELS.scaleSetId]: '7' },
    });
    api.add('us-central1-a', {
      name: 'foreign',
      labels: { [GCP_RUNNER_LABELS.owner]: 'deploy-2', [GCP_RUNNER_LABELS.scaleSetId]: '7' },
    });

    const all = await engine.list({ owner: 'deploy-1' });
    const set7 = await engine.list({ owner: 'deploy-1', scaleSetId: 7 });

    expect(all.map((i) => i.name).sort()).toEqual(['linux-abc123', 'linux-def456', 'other-set-1']);
    expect(set7.map((i) => [i.name, i.state]).sort()).toEqual([
      ['linux-abc123', 'running'],
      ['linux-def456', 'exited'],
    ]);
    expect(set7.every((i) => i.scaleSetName === 'Linux X64')).toBe(true);
    expect(JSON.stringify(all)).not.toContain(JIT);
    expect(api.calls.find((c) => c.method === 'list')?.name).toBe(
      '(labels.scaleset-owner = "deploy-1")',
    );
  });

  it('removes a JIT config still held by a VM that has taken it or has stopped', async () => {
    await engine.start(spec());
    await engine.start(spec({ name: 'linux-def456' }));
    api.guest.set('us-central1-a/linux-abc123/scaleset/jit-config', 'consumed');
    const stopped = api.vms.get('us-central1-a/linux-def456');
    if (stopped) {
      stopped.status = 'TERMINATED';
      stopped.metadata = { ...stopped.metadata, fingerprint: 'stale' };
    }
    const fresh = spec({ name: 'linux-ghi789' });
    await engine.start(fresh);
    // Taken but the guest attribute not written yet: left alone.

    await engine.list({ owner: 'deploy-1' });

    const held = (name: string): string | undefined => {
      const vm = api.vms.get(`us-central1-a/${name}`);
      return vm && metadataValue(vm, GCP_METADATA_KEYS.jitConfig);
    };
    expect(held('linux-abc123')).toBeUndefined();
    expect(held('linux-def456')).toBeUndefined();
    expect(held('linux-ghi789')).toBe(JIT);
    const other = api.vms.get('us-central1-a/linux-abc123');
    expect(other && metadataValue(other, 'startup-script')).toContain('#!/bin/sh');
  });

  it('inspects its own VM only', async () => {
    await engine.start(spec());
    api.add('us-central1-b', { name: 'foreign', labels: {}, status: 'RUNNING' });

    expect(await engine.inspect('linux-abc123')).toMatchObject({
      name: 'linux-abc123',
      runnerName: 'linux-abc123',
      scaleSetId: 7,
      state: 'running',
    });
    expect(await engine.inspect('foreign')).toBeNull();
    expect(await engine.inspect('missing')).toBeNull();
  });

  it('honours the caller signal with an ABORTED error', async () => {
    const controller = new AbortController();
    controller.abort();

    const err = await rejection(engine.start(spec(), controller.signal));

    expect(err.code).toBe('ABORTED');
    expect(err.retryable).toBe(true);
  });

  it('bounds each request by its timeout', async () => {
    const hanging = new GcpEngine(options({ apiTimeoutMs: 50 }), {
      api: Object.assign(new FakeApi(), {
        getInstance: (_z: string, _n: string, o: GcpCallOptions) =>
          new Promise<GcpInstance>((_resolve, reject) => {
            o.signal.addEventListener('abort', () => {
              reject(apiError({ code: 1, message: 'cancelled' }));
            });
          }),
      }),
    });

    const err = await rejection(hanging.inspect('linux-abc123'));

    expect(err.code).toBe('TIMEOUT');
    await hanging.close();
  });

  it('keeps the JIT config out of errors', async () => {
    api.fail('insert', 'us-central1-a', {
      kind: 'throw',
      error: apiError({
        code: 400,
        message: `Invalid value for field 'resource.metadata.items[6].value': '${JIT}'`,
        config: { data: { metadata: { items: [{ value: JIT }] } } },
      }),
    });

    const err = await rejection(engine.start(spec()));

    expect(err.message).not.toContain(JIT);
    expect(JSON.stringify(err.cause)).not.toContain(JIT);
    expect((err.cause as Error).message).not.toContain(JIT);
  });

  it('refuses invalid names before calling the API', async () => {
    const err = await rejection(engine.start(spec({ name: 'Bad_Name' })));

    expect(err.code).toBe('INVALID_CONFIG');
    expect(api.calls).toHaveLength(0);
  });
});

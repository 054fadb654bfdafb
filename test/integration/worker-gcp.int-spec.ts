import { FakeGitHub } from '@app/testing';
import { GcpBackend } from '../support/compute-backend';
import { createFakeScaleSet, shortId, waitUntil } from '../support/worker.fixture';
import { WorkerHarness } from '../support/worker.harness';

// What only a cloud engine has, through the whole worker (bootstrapWorker, BullMQ, the Redis
// registry, the real @google-cloud/compute client against the fake Compute API): an API
// outage is retried like a Docker daemon outage, a stockout in the first zone lands the VM in
// the second, and the JIT config leaves the VM's metadata once the VM has read it.

jest.setTimeout(120_000);

describe('worker on gcp: zones, outages and the JIT config', () => {
  const scaleSetName = `wg-${shortId(3)}`;
  const backend = new GcpBackend();
  let fake: FakeGitHub;
  let scaleSetId: number;
  let h: WorkerHarness | undefined;

  beforeAll(async () => {
    fake = new FakeGitHub({ jobDurationMs: 300, runnerPollTimeoutMs: 2_000 });
    await fake.start();
    await backend.setup();
    scaleSetId = await createFakeScaleSet(fake, scaleSetName);
  });

  afterAll(async () => {
    await backend.teardown();
    await fake.stop();
  });

  afterEach(async () => {
    backend.fake.clearFaults();
    const harness = h;
    h = undefined;
    if (harness === undefined) {
      return;
    }
    try {
      await harness.stop();
      expect((await harness.secretLeaks()).leaks).toEqual([]);
    } finally {
      await harness.close();
    }
  });

  async function startWorker(): Promise<WorkerHarness> {
    h = await WorkerHarness.start(
      { fake, scaleSetName, engine: backend.engineYaml('fake-runner') },
      backend,
    );
    h.scaleSetId = scaleSetId;
    await h.firstReconcileDone();
    return h;
  }

  const online = (name: string) =>
    waitUntil(
      () => fake.runners(scaleSetId).find((r) => r.name === name && r.status === 'online'),
      `runner ${name} to report online`,
    );

  it('retries while the Compute API fails and starts the runner once it answers', async () => {
    const harness = await startWorker();
    const insertsBefore = backend.fake.insertCount();
    backend.fake.inject({ kind: 'http', status: 503, pathIncludes: '/instances', times: Infinity });

    const { name, jobId } = await harness.reserveAndEnqueue();
    const retried = await waitUntil(async () => {
      const job = await harness.runners.getJob(jobId);
      return job !== undefined && job.attemptsMade >= 1 ? job : undefined;
    }, 'the first attempt to fail');
    expect(['delayed', 'waiting', 'active']).toContain(await retried.getState());
    expect(retried.failedReason).toMatch(/Compute API .*HTTP 503.*will retry/);
    expect(await harness.registry.get(scaleSetId, name)).toMatchObject({ state: 'provisioning' });
    expect(backend.fake.insertCount()).toBe(insertsBefore);

    backend.fake.clearFaults();
    const job = await harness.finished(jobId, 90_000);

    expect(await job.getState()).toBe('completed');
    expect(job.attemptsMade).toBeGreaterThanOrEqual(2);
    expect((await backend.owned(harness.owner)).map((i) => i.name)).toEqual([name]);
    expect(backend.fake.insertCount() - insertsBefore).toBe(1);
    await harness.rememberJitConfig(name);
    await online(name);
  });

  it('lands the VM in the second zone when the first is out of capacity', async () => {
    const harness = await startWorker();
    backend.fake.inject({ kind: 'stockout', zone: 'us-central1-a', times: Infinity });

    const { name, job } = await harness.reserveAndStart();

    expect(await job.getState()).toBe('completed');
    expect(job.attemptsMade).toBe(1);
    expect(backend.fake.instance(name)?.zone).toBe('us-central1-b');
    await harness.rememberJitConfig(name);
    await online(name);
  });

  it('fails the start for a later retry when every zone is out of capacity, without a VM', async () => {
    const harness = await startWorker();
    backend.fake.inject({ kind: 'stockout', zone: 'us-central1-a', times: Infinity });
    backend.fake.inject({ kind: 'stockout', zone: 'us-central1-b', times: Infinity });

    const { name, jobId } = await harness.reserveAndEnqueue();
    const retried = await waitUntil(async () => {
      const job = await harness.runners.getJob(jobId);
      return job !== undefined && job.attemptsMade >= 1 ? job : undefined;
    }, 'the first attempt to fail');

    expect(['delayed', 'waiting', 'active']).toContain(await retried.getState());
    expect(retried.failedReason).toContain('us-central1-a');
    expect(retried.failedReason).toContain('us-central1-b');
    expect(await backend.owned(harness.owner)).toEqual([]);
    expect(await harness.registry.get(scaleSetId, name)).toMatchObject({ state: 'provisioning' });
  });

  it('removes the JIT config from the metadata once the VM has read it', async () => {
    const harness = await startWorker();
    const { name, job } = await harness.reserveAndStart();
    expect(await job.getState()).toBe('completed');
    const jit = await harness.rememberJitConfig(name);
    await online(name);

    const vm = backend.fake.instance(name);
    expect(vm?.metadata['scaleset-jit-config']).toBeUndefined();
    expect(Object.keys(vm?.metadata ?? {})).toEqual(
      expect.arrayContaining(['startup-script', 'enable-guest-attributes']),
    );
    // Only the one insert carried it; the VM's own removal and every other call did not.
    const carrying = backend.fake
      .requests()
      .filter((r) => JSON.stringify(r.body ?? null).includes(jit) || r.path.includes(jit));
    expect(carrying.map((r) => r.method)).toEqual(['POST']);
    expect(carrying[0]?.path).toMatch(/\/zones\/[a-z0-9-]+\/instances$/);
  });

  it('replaces a VM that still boots with a void JIT config when a retried start registers again', async () => {
    const harness = await startWorker();
    // A worker killed right after the insert: the VM exists but has not booted yet.
    const insertsBefore = backend.fake.insertCount();
    const first = await harness.startedThenCrashed(fake);
    const name = first.name;
    // Once its own boot sequence is over, so nothing moves it on: held in STAGING.
    await waitUntil(async () => (await backend.resource(name))?.running, 'the first VM to boot');
    backend.fake.setStatus(name, 'STAGING');

    const { jobId } = await harness.producer.enqueueStart({
      scaleSetId,
      scaleSetName,
      runnerName: name,
    });
    const job = await harness.finished(jobId);

    // The worker saw a booting VM, registered the runner again (voiding the first config) and
    // the engine replaced the VM rather than adopting one that would run a dead config.
    expect(job.returnvalue).toMatchObject({ outcome: 'started' });
    expect(backend.fake.insertCount() - insertsBefore).toBe(2);
    const vm = backend.fake.instance(name);
    expect(vm?.id).not.toBe(first.engineId);
    expect((await backend.owned(harness.owner)).map((i) => i.name)).toEqual([name]);
    const registration = await online(name);
    expect(registration.id).not.toBe(first.runnerId);
    expect(await harness.registry.get(scaleSetId, name)).toMatchObject({
      state: 'idle',
      engineId: vm?.id,
      runnerId: registration.id,
    });
    await harness.rememberJitConfig(name);
  });
});

import Dockerode from 'dockerode';
import { ComputeEngines, RUNNER_LABELS } from '@app/compute';
import { startRunnerJobId } from '@app/queue';
import { ScaleSetClient } from '@app/scaleset';
import {
  buildRunnerTestImage,
  decodeFakeJitConfig,
  FakeGitHub,
  fakeRunnerScript,
} from '@app/testing';
import { createFakeScaleSet, ownedContainers, shortId, waitUntil } from '../support/worker.fixture';
import { WorkerHarness } from '../support/worker.harness';

// The worker app as `scaleset worker` runs it (bootstrapWorker: Nest, BullMQ, the Redis
// registry, the scale set client and the Docker engine), against real Redis, a real dockerd
// and the fake GitHub service on loopback. Runners are containers of a busybox image whose
// fake runner reads the JIT config, reports online to the fake over 127.0.0.1 (network:
// host), takes a job and finishes it. After every test, no JIT config it produced may be in a
// Redis key, a job or a log line (guarantee 6).

jest.setTimeout(90_000);

const docker = new Dockerode();
const IMAGE_TAG = 'scaleset-worker-test:fake-runner';

describe('worker: start and destroy jobs against Redis, dockerd and the fake GitHub', () => {
  const scaleSetName = `wk-${shortId(3)}`;
  let fake: FakeGitHub;
  let image: string;
  let scaleSetId: number;
  let h: WorkerHarness | undefined;

  beforeAll(async () => {
    fake = new FakeGitHub({ jobDurationMs: 300, runnerPollTimeoutMs: 2_000 });
    await fake.start();
    image = (
      await buildRunnerTestImage(docker, { tag: IMAGE_TAG, runScript: fakeRunnerScript().content })
    ).ref;
    scaleSetId = await createFakeScaleSet(fake, scaleSetName);
  });

  afterAll(async () => {
    await fake.stop();
  });

  afterEach(async () => {
    const harness = h;
    h = undefined;
    if (harness === undefined) {
      return;
    }
    try {
      await harness.stop();
      const { keysScanned, leaks } = await harness.secretLeaks();
      expect(leaks).toEqual([]);
      if (harness.jitConfigs.length > 0) {
        expect(keysScanned).toBeGreaterThan(0);
      }
    } finally {
      await harness.close();
    }
  });

  async function startWorker(image_ = image): Promise<WorkerHarness> {
    h = await WorkerHarness.start({ fake, scaleSetName, image: image_ }, docker);
    h.scaleSetId = scaleSetId;
    return h;
  }

  const online = (name: string) =>
    waitUntil(
      () => fake.runners(scaleSetId).find((r) => r.name === name && r.status === 'online'),
      `runner ${name} to report online`,
    );

  async function startedRunner(harness: WorkerHarness): Promise<string> {
    const { name, job } = await harness.reserveAndStart();
    expect(await job.getState()).toBe('completed');
    await harness.rememberJitConfig(name);
    await online(name);
    return name;
  }

  it('starts a labelled runner container that comes online, takes a job and finishes it', async () => {
    const harness = await startWorker();
    const { name, job } = await harness.reserveAndStart();

    expect(await job.getState()).toBe('completed');
    expect(job.returnvalue).toMatchObject({ outcome: 'started' });
    const info = await docker.getContainer(name).inspect();
    expect(info.Name).toBe(`/${name}`);
    expect(info.Config.Image).toBe(image);
    expect(info.HostConfig.NetworkMode).toBe('host');
    expect(info.Config.Labels).toMatchObject({
      [RUNNER_LABELS.owner]: harness.owner,
      [RUNNER_LABELS.scaleSetId]: String(scaleSetId),
      [RUNNER_LABELS.scaleSetName]: scaleSetName,
      [RUNNER_LABELS.runnerName]: name,
    });
    const jit = await harness.rememberJitConfig(name);
    expect(decodeFakeJitConfig(jit)).toMatchObject({
      runnerName: name,
      scaleSetId: String(scaleSetId),
    });

    const registration = await online(name);
    expect(await harness.registry.get(scaleSetId, name)).toMatchObject({
      state: 'idle',
      attempts: 1,
      engineId: info.Id,
      runnerId: registration.id,
    });

    // The same intent again, as a new job: nothing new is created.
    const againId = `${startRunnerJobId(name)}-again`;
    await harness.runners.add('start-runner', job.data, { jobId: againId });
    const again = await harness.finished(againId);
    expect(again.returnvalue).toEqual({ outcome: 'skipped', state: 'idle' });
    expect(await ownedContainers(docker, harness.owner)).toHaveLength(1);

    const [queued] = fake.queueJobs(1, { scaleSetId, durationMs: 200 });
    if (queued === undefined) {
      throw new Error('no job queued');
    }
    fake.assignJob(queued.jobId);
    await waitUntil(() => fake.job(queued.jobId)?.state === 'completed', 'the job to complete');
    expect(fake.job(queued.jobId)).toMatchObject({ runnerName: name, result: 'succeeded' });
    await waitUntil(
      async () => (await docker.getContainer(name).inspect()).State.Status === 'exited',
      'the ephemeral runner to exit after its job',
    );
  });

  it('adopts the running container of an attempt that died after the engine call', async () => {
    const harness = await startWorker();
    const [name] = await harness.registry.reserve(harness.scaleSet, 1, 5);
    if (name === undefined) {
      throw new Error('no runner reserved');
    }
    // What a worker killed right after `engine.start` leaves behind.
    await harness.registry.transition(scaleSetId, name, 'provisioning');
    const client = new ScaleSetClient({
      configUrl: fake.configUrl('org'),
      auth: { kind: 'pat', token: fake.pat },
      proxy: 'none',
    });
    const jit = await client.generateJitRunnerConfig(scaleSetId, { name });
    await client.close();
    harness.jitConfigs.push(jit.encodedJITConfig);
    await harness.registry.annotate(scaleSetId, name, { runnerId: jit.runner.id });
    const engines = new ComputeEngines(harness.config.scaleSets, harness.config.deployment.id);
    const ref = await engines
      .for(scaleSetName)
      .start({ name, jitConfig: jit.encodedJITConfig, scaleSetId, scaleSetName });
    await engines.close();

    const { jobId } = await harness.producer.enqueueStart({
      scaleSetId,
      scaleSetName,
      runnerName: name,
    });
    const job = await harness.finished(jobId);

    expect(job.returnvalue).toEqual({ outcome: 'adopted', engineId: ref.engineId });
    expect(await ownedContainers(docker, harness.owner)).toHaveLength(1);
    expect(await harness.registry.get(scaleSetId, name)).toMatchObject({
      state: 'idle',
      attempts: 1,
      engineId: ref.engineId,
      runnerId: jit.runner.id,
    });
    expect(fake.runners(scaleSetId).filter((r) => r.name === name)).toHaveLength(1);
  });

  it('destroys a runner: container and registration removed, entry tombstoned', async () => {
    const harness = await startWorker();
    const name = await startedRunner(harness);

    const job = await harness.destroy(name, 'startup-timeout');

    expect(job.returnvalue).toEqual({ outcome: 'destroyed' });
    expect(await ownedContainers(docker, harness.owner)).toHaveLength(0);
    expect(fake.runners(scaleSetId).find((r) => r.name === name)).toBeUndefined();
    expect(await harness.registry.get(scaleSetId, name)).toBeUndefined();
    expect(await harness.registry.isTombstoned(scaleSetId, name)).toBe(true);
  });

  it('destroying a runner whose container is already gone succeeds', async () => {
    const harness = await startWorker();
    const name = await startedRunner(harness);
    await docker.getContainer(name).remove({ force: true });

    const job = await harness.destroy(name, 'compute-gone');

    expect(await job.getState()).toBe('completed');
    expect(fake.runners(scaleSetId).find((r) => r.name === name)).toBeUndefined();
    expect(await harness.registry.isTombstoned(scaleSetId, name)).toBe(true);
  });

  it('scale-down removes an idle runner but keeps one that took a job', async () => {
    const harness = await startWorker();
    const first = await startedRunner(harness);
    const second = await startedRunner(harness);
    const [queued] = fake.queueJobs(1, { scaleSetId, durationMs: 60_000 });
    if (queued === undefined) {
      throw new Error('no job queued');
    }
    fake.assignJob(queued.jobId);
    const taker = await waitUntil(
      () => fake.runners(scaleSetId).find((r) => r.jobId === queued.jobId)?.name,
      'a runner to take the job',
    );
    const [busy, idle] = taker === first ? [first, second] : [second, first];

    const keptJob = await harness.destroy(busy, 'scale-down');
    const removedJob = await harness.destroy(idle, 'scale-down');

    expect(keptJob.returnvalue).toEqual({ outcome: 'kept', state: 'busy' });
    expect(removedJob.returnvalue).toEqual({ outcome: 'destroyed' });
    const left = await ownedContainers(docker, harness.owner);
    expect(left.map((c) => c.Labels[RUNNER_LABELS.runnerName])).toEqual([busy]);
    expect(left[0]?.State).toBe('running');
    expect(fake.runners(scaleSetId).find((r) => r.name === busy)?.status).toBe('busy');
    expect(fake.runners(scaleSetId).find((r) => r.name === idle)).toBeUndefined();
    expect(await harness.registry.isTombstoned(scaleSetId, idle)).toBe(true);
    fake.completeJob(queued.jobId);
  });

  it('a missing image fails the start at once: runner failed, registration removed', async () => {
    const harness = await startWorker(`scaleset-worker-missing:${shortId()}`);

    const { name, job } = await harness.reserveAndStart();

    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/^IMAGE_NOT_FOUND: /);
    expect(await harness.registry.get(scaleSetId, name)).toMatchObject({
      state: 'failed',
      reason: 'start-failed:IMAGE_NOT_FOUND',
    });
    expect(await harness.registry.counts(scaleSetId)).toMatchObject({ live: 0, failed: 1 });
    // Registered once (the JIT config comes before the engine call), and removed again.
    expect(fake.requestsFor('generateJitConfig').filter((r) => r.body.includes(name))).toHaveLength(
      1,
    );
    expect(fake.runners(scaleSetId).find((r) => r.name === name)).toBeUndefined();
    expect(await ownedContainers(docker, harness.owner)).toHaveLength(0);
  });

  it('pauses the queue on a GitHub rate limit, without using an attempt', async () => {
    const harness = await startWorker();
    // 429 for the first call and the client's own retries, honouring Retry-After.
    fake.injectFault({
      endpoint: 'generateJitConfig',
      status: 429,
      headers: { 'Retry-After': '1' },
      times: 5,
    });

    // A second replica must honour the pause too: the limit is the queue's, not a process's.
    await harness.startReplica();

    const { name, jobId } = await harness.reserveAndEnqueue();
    await waitUntil(
      async () => (await harness.runners.getRateLimitTtl(1_000_000_000)) > 0,
      'the runners queue to be rate limited',
    );
    const limitedAt = Date.now();
    const job = await harness.finished(jobId);
    expect(job.finishedOn ?? 0).toBeGreaterThanOrEqual(limitedAt + 800);

    expect(await job.getState()).toBe('completed');
    // Started twice, but only the successful run counts as an attempt.
    expect(job.attemptsStarted).toBe(2);
    expect(job.attemptsMade).toBe(1);
    expect(await harness.registry.get(scaleSetId, name)).toMatchObject({ state: 'idle' });
    await harness.rememberJitConfig(name);
  });

  it('fails a job with a bad payload or name for good, without crashing', async () => {
    const harness = await startWorker();
    await harness.runners.add(
      'start-runner',
      { scaleSetId: 'seven', runnerName: 'x' },
      { jobId: 'bad-payload', attempts: 5 },
    );
    await harness.runners.add('provision-everything', {}, { jobId: 'bad-name', attempts: 5 });

    const bad = await harness.finished('bad-payload');
    const unknown = await harness.finished('bad-name');

    expect(await bad.getState()).toBe('failed');
    expect(bad.attemptsMade).toBe(1);
    expect(bad.failedReason).toContain('scaleSetId must be a positive integer');
    expect(unknown.attemptsMade).toBe(1);
    expect(unknown.failedReason).toContain('its name is not a job scaleset knows');
    // The worker is still serving.
    await startedRunner(harness);
  });
});

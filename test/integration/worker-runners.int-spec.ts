import { RUNNER_LABELS } from '@app/compute';
import { startRunnerJobId } from '@app/queue';
import { decodeFakeJitConfig, FakeGitHub } from '@app/testing';
import { computeBackends, type ComputeBackend } from '../support/compute-backend';
import { createFakeScaleSet, shortId, waitUntil } from '../support/worker.fixture';
import { WorkerHarness } from '../support/worker.harness';

// The worker app as `scaleset worker` runs it (bootstrapWorker: Nest, BullMQ, the Redis
// registry, the scale set client and the compute engine), against real Redis and the fake
// GitHub service on loopback, once per engine: Docker against a real dockerd (runners are
// containers of a busybox image whose fake runner reads the JIT config, reports online to
// the fake over 127.0.0.1, takes a job and finishes it) and GCP with the real client against
// the fake Compute API (runners are fake VMs whose guest follows the documented image
// contract). After every test, no JIT config it produced may be in a Redis key, a job or a
// log line (guarantee 6).

jest.setTimeout(90_000);

describe.each(computeBackends().map((b) => [b.kind, b] as const))(
  'worker on %s: start and destroy jobs against Redis, the engine and the fake GitHub',
  (_kind: string, backend: ComputeBackend) => {
    const scaleSetName = `wk-${shortId(3)}`;
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

    const owned = (owner: string) => backend.owned(owner);

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

    async function startWorker(
      engine: (owner: string) => readonly string[] = () => backend.engineYaml('fake-runner'),
    ): Promise<WorkerHarness> {
      h = await WorkerHarness.start({ fake, scaleSetName, engine }, backend);
      h.scaleSetId = scaleSetId;
      // Its reconcile pass would clean up a failed runner while the test inspects it.
      await h.firstReconcileDone();
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

    it('starts labelled runner compute that comes online, takes a job and finishes it', async () => {
      const harness = await startWorker();
      const { name, job } = await harness.reserveAndStart();

      expect(await job.getState()).toBe('completed');
      expect(job.returnvalue).toMatchObject({ outcome: 'started' });
      const resource = await backend.resource(name);
      expect(resource?.name).toBe(name);
      expect(await backend.image(name)).toBe(
        backend
          .engineYaml('fake-runner')
          .find((l) => l.includes('image:'))
          ?.split("'")[1],
      );
      expect(await backend.runnerLabels(name)).toEqual({
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
        engineId: resource?.engineId,
        runnerId: registration.id,
      });

      // The same intent again, as a new job: nothing new is created.
      const againId = `${startRunnerJobId(name)}-again`;
      await harness.runners.add('start-runner', job.data, { jobId: againId });
      const again = await harness.finished(againId);
      expect(again.returnvalue).toEqual({ outcome: 'skipped', state: 'idle' });
      expect(await owned(harness.owner)).toHaveLength(1);

      const [queued] = fake.queueJobs(1, { scaleSetId, durationMs: 200 });
      if (queued === undefined) {
        throw new Error('no job queued');
      }
      fake.assignJob(queued.jobId);
      await waitUntil(() => fake.job(queued.jobId)?.state === 'completed', 'the job to complete');
      expect(fake.job(queued.jobId)).toMatchObject({ runnerName: name, result: 'succeeded' });
      await waitUntil(
        async () => (await backend.resource(name))?.exited,
        'the ephemeral runner to exit after its job',
      );
    });

    it('adopts the running compute of an attempt that died after the engine call', async () => {
      const harness = await startWorker();
      // What a worker killed right after `engine.start` leaves behind.
      const { name, runnerId, engineId } = await harness.startedThenCrashed(fake);
      // "Running" compute: a VM that still boots is a different case (the worker registers the
      // runner again and the engine replaces the VM).
      await waitUntil(async () => (await backend.resource(name))?.running, 'the compute to run');

      const { jobId } = await harness.producer.enqueueStart({
        scaleSetId,
        scaleSetName,
        runnerName: name,
      });
      const job = await harness.finished(jobId);

      expect(job.returnvalue).toEqual({ outcome: 'adopted', engineId });
      expect(await owned(harness.owner)).toHaveLength(1);
      expect(await harness.registry.get(scaleSetId, name)).toMatchObject({
        state: 'idle',
        attempts: 1,
        engineId,
        runnerId,
      });
      expect(fake.runners(scaleSetId).filter((r) => r.name === name)).toHaveLength(1);
    });

    it('destroys a runner: compute and registration removed, entry tombstoned', async () => {
      const harness = await startWorker();
      const name = await startedRunner(harness);

      const job = await harness.destroy(name, 'startup-timeout');

      expect(job.returnvalue).toEqual({ outcome: 'destroyed' });
      expect(await owned(harness.owner)).toHaveLength(0);
      expect(fake.runners(scaleSetId).find((r) => r.name === name)).toBeUndefined();
      expect(await harness.registry.get(scaleSetId, name)).toBeUndefined();
      expect(await harness.registry.isTombstoned(scaleSetId, name)).toBe(true);
    });

    it('destroying a runner whose compute is already gone succeeds', async () => {
      const harness = await startWorker();
      const name = await startedRunner(harness);
      await backend.removeOutOfBand(name);

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
      const left = await owned(harness.owner);
      expect(left.map((c) => c.name)).toEqual([busy]);
      expect(left[0]?.exited).toBe(false);
      expect(fake.runners(scaleSetId).find((r) => r.name === busy)?.status).toBe('busy');
      expect(fake.runners(scaleSetId).find((r) => r.name === idle)).toBeUndefined();
      expect(await harness.registry.isTombstoned(scaleSetId, idle)).toBe(true);
      fake.completeJob(queued.jobId);
    });

    it('a missing image fails the start at once: runner failed, registration removed', async () => {
      const harness = await startWorker(() => backend.engineYamlMissingImage());

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
      expect(
        fake.requestsFor('generateJitConfig').filter((r) => r.body.includes(name)),
      ).toHaveLength(1);
      expect(fake.runners(scaleSetId).find((r) => r.name === name)).toBeUndefined();
      expect(await owned(harness.owner)).toHaveLength(0);
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
  },
);

import Dockerode from 'dockerode';
import { buildRunnerTestImage, FakeGitHub, fakeRunnerScript } from '@app/testing';
import { createFakeScaleSet, ownedContainers, shortId, waitUntil } from '../support/worker.fixture';
import { WorkerHarness } from '../support/worker.harness';

// Graceful shutdown of the worker app: in-flight jobs may finish within
// `worker.shutdown_timeout`; after that the worker is force-closed and the job, whose lock is
// no longer renewed, is taken over by another replica through BullMQ's stalled-job check.

jest.setTimeout(90_000);

const docker = new Dockerode();

describe('worker shutdown', () => {
  const scaleSetName = `ws-${shortId(3)}`;
  let fake: FakeGitHub;
  let image: string;
  let scaleSetId: number;
  let h: WorkerHarness | undefined;

  beforeAll(async () => {
    fake = new FakeGitHub({ runnerPollTimeoutMs: 2_000 });
    await fake.start();
    image = (
      await buildRunnerTestImage(docker, {
        tag: 'scaleset-worker-test:fake-runner',
        runScript: fakeRunnerScript().content,
      })
    ).ref;
    scaleSetId = await createFakeScaleSet(fake, scaleSetName);
  });

  afterAll(async () => {
    await fake.stop();
  });

  afterEach(async () => {
    const harness = h;
    h = undefined;
    fake.clearFaults();
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

  async function startWorker(shutdownTimeout: string): Promise<WorkerHarness> {
    h = await WorkerHarness.start(
      {
        fake,
        scaleSetName,
        image,
        worker: ['job_lock: 1s', `shutdown_timeout: ${shutdownTimeout}`],
      },
      docker,
    );
    h.scaleSetId = scaleSetId;
    return h;
  }

  async function activeSlowStart(harness: WorkerHarness, delayMs: number) {
    fake.clearFaults();
    fake.injectFault({ endpoint: 'generateJitConfig', delayMs, times: 1 });
    const started = await harness.reserveAndEnqueue();
    await waitUntil(
      async () => (await harness.runners.getJobState(started.jobId)) === 'active',
      'the job to be taken',
    );
    return started;
  }

  it('lets an in-flight start finish before closing', async () => {
    const harness = await startWorker('10s');
    const { name, jobId } = await activeSlowStart(harness, 1_500);

    await harness.stop();

    expect(await harness.runners.getJobState(jobId)).toBe('completed');
    expect(await harness.registry.get(scaleSetId, name)).toMatchObject({ state: 'idle' });
    await harness.rememberJitConfig(name);
    expect(await ownedContainers(docker, harness.owner)).toHaveLength(1);
  });

  it('force-closes after the timeout; another replica takes the job over', async () => {
    const harness = await startWorker('500ms');
    // Far longer than the shutdown timeout, so the job is surely mid-call at stop even on a
    // loaded machine.
    const { name, jobId } = await activeSlowStart(harness, 20_000);

    await harness.stop();
    // Force-closed: a graceful close would have waited 20 s for the slow call and completed the job.
    expect(await harness.runners.getJobState(jobId)).toBe('active');

    await harness.startReplica();
    const job = await harness.finished(jobId, 30_000);

    expect(await job.getState()).toBe('completed');
    expect(await harness.registry.get(scaleSetId, name)).toMatchObject({ state: 'idle' });
    await harness.rememberJitConfig(name);
    expect(await ownedContainers(docker, harness.owner)).toHaveLength(1);
    expect(fake.runners(scaleSetId).filter((r) => r.name === name)).toHaveLength(1);
  });
});

import { RUNNER_LABELS } from '@app/compute';
import { buildRunnerTestImage, FakeGitHub, fakeRunnerScript } from '@app/testing';
import {
  createFakeScaleSet,
  ownedContainers,
  removeOwnedContainers,
  shortId,
  TestDockerd,
  waitUntil,
} from '../support/worker.fixture';
import { WorkerHarness } from '../support/worker.harness';

// A start job while the Docker daemon is down is retried with backoff (not failed), and
// succeeds once the daemon is back. The daemon is one of the test's own (testing.md), so
// stopping it disturbs nobody.

jest.setTimeout(180_000);

describe('worker: Docker daemon outage', () => {
  const scaleSetName = `wk-${shortId(3)}`;
  const dockerd = new TestDockerd();
  let fake: FakeGitHub;
  let image: string;
  let scaleSetId: number;
  let harness: WorkerHarness | undefined;

  beforeAll(async () => {
    fake = new FakeGitHub({ runnerPollTimeoutMs: 2_000 });
    await fake.start();
    scaleSetId = await createFakeScaleSet(fake, scaleSetName);
    await dockerd.start();
    image = (
      await buildRunnerTestImage(dockerd.client(), {
        tag: 'scaleset-worker-test:outage',
        runScript: fakeRunnerScript().content,
      })
    ).ref;
  });

  afterAll(async () => {
    try {
      if (harness !== undefined) {
        await harness.stop();
        await removeOwnedContainers(dockerd.client(), harness.owner);
        await harness.close();
      }
    } finally {
      await dockerd.destroy();
      await fake.stop();
    }
  });

  it('retries while the daemon is down and starts the runner once it is back', async () => {
    await dockerd.stop();
    harness = await WorkerHarness.start(
      { fake, scaleSetName, image, dockerHost: dockerd.host },
      dockerd.client(),
    );
    harness.scaleSetId = scaleSetId;
    const h = harness;

    const { name, jobId } = await h.reserveAndEnqueue();
    const retried = await waitUntil(async () => {
      const job = await h.runners.getJob(jobId);
      return job !== undefined && job.attemptsMade >= 1 ? job : undefined;
    }, 'the first attempt to fail');
    // Waiting for its backoff, not failed.
    expect(['delayed', 'waiting', 'active']).toContain(await retried.getState());
    expect(await h.registry.get(scaleSetId, name)).toMatchObject({ state: 'provisioning' });

    await dockerd.start();
    const job = await h.finished(jobId, 90_000);

    expect(await job.getState()).toBe('completed');
    expect(job.attemptsMade).toBeGreaterThanOrEqual(2);
    const containers = await ownedContainers(dockerd.client(), h.owner);
    expect(containers.map((c) => c.Labels[RUNNER_LABELS.runnerName])).toEqual([name]);
    expect(await h.registry.get(scaleSetId, name)).toMatchObject({ state: 'idle' });
    await h.rememberJitConfig(name);
    await waitUntil(
      () => fake.runners(scaleSetId).find((r) => r.name === name && r.status === 'online'),
      'the runner to report online',
    );
    await h.stop();
    expect((await h.secretLeaks()).leaks).toEqual([]);
  });
});

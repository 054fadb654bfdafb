import { recordFigures, seconds } from './support/figures';
import { checkInvariants } from './support/invariants';
import { SYSTEM_SETTINGS, SystemHarness, waitUntil } from './support/system.harness';

// Scenario 3: a worker is killed with SIGKILL while both workers are in the middle of start
// jobs (GitHub is slow to answer JIT config requests, so starts take a while). BullMQ hands the
// dead worker's jobs to the survivor once their locks expire; starts must be finished (or
// adopted) without a second container for any runner, and nothing may be left orphaned.
jest.setTimeout(180_000);

const JOBS = 30;

describe('system: SIGKILL of a worker in the middle of start jobs', () => {
  let h: SystemHarness | undefined;

  afterAll(async () => {
    await h?.close();
  });

  it('finishes every start without a duplicate container or an orphan', async () => {
    h = await SystemHarness.start({ scenario: 'worker-kill', maxRunners: 8 });
    const sys = h;
    const queuedAt = Date.now();
    // Slow JIT config answers for the first wave: starts stay in flight for over a second.
    sys.fake.injectFault({ endpoint: 'generateJitConfig', delayMs: 1_500, untilMs: 8_000 });
    sys.queueJobs(JOBS);
    const runners = sys.runnersQueue;
    const activeAtKill = await waitUntil(
      'both workers to be in the middle of start jobs',
      async () => {
        const active = await runners.getActive();
        const starts = active.filter((j) => j.name === 'start-runner');
        // Concurrency is 4 per worker: more than 4 in flight means both hold some.
        return starts.length > 4 ? starts.length : undefined;
      },
      30_000,
    );
    const victim = sys.workers[0];
    if (victim === undefined) {
      throw new Error('no worker');
    }
    const killedAt = Date.now();
    expect((await victim.kill('SIGKILL')).signal).toBe('SIGKILL');
    // Restarted by its orchestrator a little later (after its jobs' locks ran out).
    await new Promise((r) => setTimeout(r, 2 * SYSTEM_SETTINGS.jobLockMs));
    victim.start();

    const doneAt = await sys.allJobsCompleted(JOBS, 120_000);
    const figures = await checkInvariants(sys, {
      jobs: JOBS,
      startedAt: queuedAt,
      faultsEndedAt: Math.max(killedAt, queuedAt + 8_000),
      quietAt: doneAt,
    });
    const jit = sys.fake.requestsFor('generateJitConfig');
    recordFigures('3-worker-sigkill', {
      jobs: JOBS,
      startJobsInFlightAtKill: activeAtKill,
      jitConfigsIssued: jit.filter((r) => r.status === 200).length,
      jitConflicts409: jit.filter((r) => r.status === 409).length,
      removeRunner204: sys.fake.requestsFor('removeRunner').filter((r) => r.status === 204).length,
      totalBurstS: seconds(queuedAt, doneAt),
      ...figures,
    });
  });
});

import { recordFigures, seconds } from './support/figures';
import { checkInvariants } from './support/invariants';
import { SystemHarness } from './support/system.harness';

// Scenario 1: a burst of 30 jobs on a scale set of at most 8 runners, with two listeners and
// two workers running as separate processes and nothing going wrong.
jest.setTimeout(180_000);

const JOBS = 30;

describe('system: a burst of 30 jobs with max_runners 8', () => {
  let h: SystemHarness | undefined;

  afterAll(async () => {
    await h?.close();
  });

  it('runs every job, reaching 8 runners online, with the invariants held', async () => {
    h = await SystemHarness.start({ scenario: 'burst', maxRunners: 8, jobDurationMs: 3_000 });
    const queuedAt = Date.now();
    h.queueJobs(JOBS);
    const doneAt = await h.allJobsCompleted(JOBS, 120_000);

    const reached = h.sampler.summary().reachedTargetAt;
    expect(reached).toBeDefined();
    const figures = await checkInvariants(h, {
      jobs: JOBS,
      startedAt: queuedAt,
      faultsEndedAt: queuedAt,
      quietAt: doneAt,
    });
    // The burst filled the scale set: the sampler saw exactly max_runners live at the peak.
    expect(figures['i2MaxRegistryLive']).toBe(8);
    recordFigures('1-burst', {
      jobs: JOBS,
      maxRunners: 8,
      jobDurationS: 3,
      secondsUntil8Online: reached === undefined ? null : seconds(queuedAt, reached),
      totalBurstS: seconds(queuedAt, doneAt),
      ...figures,
    });
  });
});

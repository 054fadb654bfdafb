import { recordFigures, seconds } from './support/figures';
import { checkInvariants } from './support/invariants';
import { SystemHarness } from './support/system.harness';

// Scenario 8: the GHES flavour. The service offers jobs with JobAvailable and assigns them
// only after the listener acquires them (acquire-jobs). The same burst must run.
jest.setTimeout(180_000);

const JOBS = 20;

describe('system: GHES flavour (JobAvailable + acquire-jobs)', () => {
  let h: SystemHarness | undefined;

  afterAll(async () => {
    await h?.close();
  });

  it('acquires the jobs and runs every one of them', async () => {
    h = await SystemHarness.start({ scenario: 'ghes', maxRunners: 8, mode: 'acquire' });
    const sys = h;
    const queuedAt = Date.now();
    sys.queueJobs(JOBS);
    const doneAt = await sys.allJobsCompleted(JOBS, 120_000);

    const acquires = sys.fake.requestsFor('acquireJobs').filter((r) => r.status === 200);
    expect(acquires.length).toBeGreaterThan(0);
    const acquiredIds = new Set(
      acquires.flatMap((r) => JSON.parse(r.body === '' ? '[]' : r.body) as number[]),
    );
    // Every job was acquired by the listener before it was assigned and run.
    expect(sys.jobs().filter((j) => !acquiredIds.has(j.runnerRequestId))).toEqual([]);

    const reached = sys.sampler.summary().reachedTargetAt;
    const figures = await checkInvariants(sys, {
      jobs: JOBS,
      startedAt: queuedAt,
      faultsEndedAt: queuedAt,
      quietAt: doneAt,
    });
    recordFigures('8-ghes-acquire', {
      jobs: JOBS,
      acquireCalls: acquires.length,
      jobsAcquired: acquiredIds.size,
      secondsUntil8Online: reached === undefined ? null : seconds(queuedAt, reached),
      totalBurstS: seconds(queuedAt, doneAt),
      ...figures,
    });
  });
});

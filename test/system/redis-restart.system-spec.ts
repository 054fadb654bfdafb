import { recordFigures, seconds } from './support/figures';
import { checkInvariants } from './support/invariants';
import { SystemHarness, waitUntil } from './support/system.harness';

// Scenario 4: Redis (AOF on) is stopped in the middle of a burst, kept down for a few seconds
// and started again on the same port and data. Listeners and workers must reconnect by
// themselves (nobody restarts them) and the burst must complete.
jest.setTimeout(180_000);

const JOBS = 30;
const DOWN_MS = 3_000;

describe('system: Redis restarted in the middle of a burst', () => {
  let h: SystemHarness | undefined;

  afterAll(async () => {
    await h?.close();
  });

  it('every process reconnects by itself and the burst completes', async () => {
    h = await SystemHarness.start({ scenario: 'redis-restart', maxRunners: 8 });
    const sys = h;
    const queuedAt = Date.now();
    sys.queueJobs(JOBS);
    await waitUntil(
      'a third of the jobs to complete',
      () => sys.jobs().filter((j) => j.state === 'completed').length >= JOBS / 3,
      60_000,
    );
    const completedBefore = sys.jobs().filter((j) => j.state === 'completed').length;
    const stoppedAt = Date.now();
    await sys.restartRedis(DOWN_MS);
    const backAt = Date.now();

    // The listener acknowledges messages again, and workers start runners again.
    const firstAck = await waitUntil(
      'the listener to acknowledge a message after Redis came back',
      () => sys.fake.requestsFor('deleteMessage').find((r) => r.status === 204 && r.at > backAt),
      60_000,
    );
    const firstStart = await waitUntil(
      'a runner to be started after Redis came back',
      () =>
        sys.fake.requestsFor('generateJitConfig').find((r) => r.status === 200 && r.at > backAt),
      60_000,
    );
    // The listeners serve the scale set again: one of them holds a session.
    await sys.leader(30_000);
    const doneAt = await sys.allJobsCompleted(JOBS, 120_000);
    // Nobody restarted anything: the same processes did all the work.
    expect(sys.processes.filter((p) => !p.running || p.exits.length > 0)).toEqual([]);

    const figures = await checkInvariants(sys, {
      jobs: JOBS,
      startedAt: queuedAt,
      faultsEndedAt: backAt,
      quietAt: doneAt,
    });
    recordFigures('4-redis-restart', {
      jobs: JOBS,
      jobsCompletedBeforeRestart: completedBefore,
      redisDownS: seconds(stoppedAt, backAt),
      firstAckAfterRedisBackS: seconds(backAt, firstAck.at),
      firstRunnerStartAfterRedisBackS: seconds(backAt, firstStart.at),
      totalBurstS: seconds(queuedAt, doneAt),
      ...figures,
    });
  });
});

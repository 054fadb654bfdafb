import { recordFigures, seconds } from './support/figures';
import { checkInvariants } from './support/invariants';
import { SYSTEM_SETTINGS, SystemHarness, waitUntil } from './support/system.harness';

// Scenario 2: the listener holding the message session is killed with SIGKILL in the middle of
// a burst. The standby must take the lease once it expires, delete the dead session, open its
// own and resume from the persisted cursor; the burst completes with every invariant held.
jest.setTimeout(180_000);

const JOBS = 30;

describe('system: SIGKILL of the session-holding listener during a burst', () => {
  let h: SystemHarness | undefined;

  afterAll(async () => {
    await h?.close();
  });

  it('the standby takes over within the lease TTL and the burst completes', async () => {
    h = await SystemHarness.start({ scenario: 'listener-kill', maxRunners: 8 });
    const sys = h;
    const queuedAt = Date.now();
    sys.queueJobs(JOBS);
    await waitUntil(
      'a third of the jobs to complete',
      () => sys.jobs().filter((j) => j.state === 'completed').length >= JOBS / 3,
      60_000,
    );
    const leader = await sys.leader();
    const standby = sys.listeners.find((p) => p !== leader);
    if (standby === undefined) {
      throw new Error('no standby listener');
    }
    const oldSession = sys.fake.sessions()[0]?.sessionId;
    const killedAt = Date.now();
    const exit = await leader.kill('SIGKILL');
    expect(exit.signal).toBe('SIGKILL');

    const created = await waitUntil(
      'the standby to open a session',
      () => sys.fake.requestsFor('createSession').find((r) => r.status === 200 && r.at > killedAt),
      30_000,
    );
    expect(await sys.leader()).toBe(standby);
    const gapS = seconds(killedAt, created.at);
    // Bounded by the lease TTL (plus a renewal period and process scheduling), not by the
    // service's session expiry: the dead leader's session was deleted, no 409 was answered.
    expect(gapS).toBeLessThan(SYSTEM_SETTINGS.leaseTtlMs / 1000 + 5);
    expect(
      sys.fake.requestsFor('deleteSession').some((r) => r.path.includes(oldSession ?? '-')),
    ).toBe(true);
    expect(sys.fake.requestsFor('createSession').filter((r) => r.status === 409)).toEqual([]);
    const completedAtKill = sys
      .jobs()
      .filter((j) => j.state === 'completed' && (j.runnerName ?? '') !== '').length;

    // As an orchestrator would, bring the killed replica back; it becomes the standby.
    leader.start();
    const doneAt = await sys.allJobsCompleted(JOBS, 120_000);

    const figures = await checkInvariants(sys, {
      jobs: JOBS,
      startedAt: queuedAt,
      faultsEndedAt: killedAt,
      quietAt: doneAt,
    });
    recordFigures('2-listener-sigkill', {
      jobs: JOBS,
      jobsCompletedAtKill: completedAtKill,
      leaseTtlS: SYSTEM_SETTINGS.leaseTtlMs / 1000,
      failoverGapS: gapS,
      totalBurstS: seconds(queuedAt, doneAt),
      ...figures,
    });
  });
});

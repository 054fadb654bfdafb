import { recordFigures, seconds } from './support/figures';
import { checkInvariants } from './support/invariants';
import { sleep, SystemHarness, waitUntil } from './support/system.harness';

// Scenario 7: a rolling restart while jobs run. Each process in turn gets SIGTERM, must exit
// cleanly (code 0) and is started again, as an orchestrator rolls a deployment. Stopping the
// autoscaler must not kill jobs: no job may be lost, cancelled or failed, and the two warm
// runners (min_runners 2) must be there, in all three views, at the end.
jest.setTimeout(240_000);

const JOBS = 30;
const MIN_RUNNERS = 2;

describe('system: rolling restart (SIGTERM each process in turn) while jobs run', () => {
  let h: SystemHarness | undefined;

  afterAll(async () => {
    await h?.close();
  });

  it('loses no job and kills no busy runner', async () => {
    h = await SystemHarness.start({
      scenario: 'rolling-restart',
      maxRunners: 8,
      minRunners: MIN_RUNNERS,
      jobDurationMs: 4_000,
    });
    const sys = h;
    const queuedAt = Date.now();
    sys.queueJobs(JOBS);
    await waitUntil(
      'runners busy with jobs',
      () => sys.jobs().filter((j) => j.state === 'running').length >= 4,
      60_000,
    );

    // Slow JIT config answers while the processes roll: a worker is likely to get SIGTERM in
    // the middle of a start, which it must finish (or leave to BullMQ) within its shutdown
    // timeout, never half-done.
    sys.fake.injectFault({ endpoint: 'generateJitConfig', delayMs: 1_500, untilMs: 30_000 });
    const restarts: Record<string, number> = {};
    const handOvers: number[] = [];
    // The leader first, so both listeners hand the session over once.
    const leader = await sys.leader();
    const order = [leader, ...sys.processes.filter((p) => p !== leader)];
    for (const p of order) {
      const wasLeader = p.role === 'listener' && (await sys.leader()) === p;
      if (p.role === 'worker') {
        // Catch a wave of starts: with more than 4 (one worker's concurrency) in flight, this
        // worker holds some of them when it gets SIGTERM. Best effort: waves fade out.
        restarts[`${p.name}StartsInFlight`] = await waitUntil(
          'a wave of start jobs',
          async () => {
            const n = (await sys.runnersQueue.getActive()).filter(
              (j) => j.name === 'start-runner',
            ).length;
            return n > 4 ? n : undefined;
          },
          15_000,
        ).catch(() => 0);
      }
      const signalledAt = Date.now();
      const exit = await p.kill('SIGTERM');
      expect({ process: p.name, code: exit.code, signal: exit.signal }).toEqual({
        process: p.name,
        code: 0,
        signal: null,
      });
      restarts[`${p.name}StopS`] = seconds(signalledAt, exit.at);
      if (wasLeader) {
        // SIGTERM hands the session over: the standby opens one without waiting for the TTL.
        const created = await waitUntil(
          'the standby to open a session after the hand-over',
          () =>
            sys.fake
              .requestsFor('createSession')
              .find((r) => r.status === 200 && r.at > signalledAt),
          30_000,
        );
        handOvers.push(seconds(signalledAt, created.at));
      }
      p.start();
      const started = p.role === 'listener' ? 'listener started' : 'worker started';
      await waitUntil(`${p.name} to start again`, () => p.hasLogged(started), 60_000);
      await sleep(1_000);
    }
    const rolledAt = Date.now();
    // Both listeners were leader once, so both hand-overs were measured.
    expect(handOvers).toHaveLength(2);
    const doneAt = await sys.allJobsCompleted(JOBS, 120_000);
    expect(sys.jobs().filter((j) => j.reassignments > 0)).toEqual([]);

    const figures = await checkInvariants(sys, {
      jobs: JOBS,
      startedAt: queuedAt,
      faultsEndedAt: rolledAt,
      quietAt: doneAt,
    });
    expect(figures['i1RunnersAtRest']).toBe(MIN_RUNNERS);
    recordFigures('7-rolling-restart', {
      jobs: JOBS,
      jobDurationS: 4,
      minRunners: MIN_RUNNERS,
      sigtermHandOversS: handOvers.join(', '),
      ...restarts,
      rollingRestartS: seconds(queuedAt, rolledAt),
      totalBurstS: seconds(queuedAt, doneAt),
      ...figures,
    });
  });
});

import { recordFigures, seconds } from './support/figures';
import { checkInvariants } from './support/invariants';
import { SystemHarness, waitUntil } from './support/system.harness';

// Scenario 6: a process that died without closing its session left it behind: for 20 s the
// service answers every session creation with 409 RunnerScaleSetSessionConflictException
// (as until the stale session expires). The listeners start into that: the leader must wait it
// out with backoff, without exiting and without hammering the service, then proceed; jobs
// queued meanwhile must all run.
jest.setTimeout(180_000);

const CONFLICT_MS = 20_000;
const JOBS = 16;
const CONFLICT_BODY = JSON.stringify({
  $id: '1',
  innerException: null,
  message: 'The actions runner scale set already has an active session.',
  typeName:
    'GitHub.Actions.Runtime.WebApi.RunnerScaleSetSessionConflictException, GitHub.Actions.Runtime.WebApi',
  typeKey: 'RunnerScaleSetSessionConflictException',
  errorCode: 0,
  eventId: 3000,
});

describe('system: a stale session answers 409 for 20 s', () => {
  let h: SystemHarness | undefined;

  afterAll(async () => {
    await h?.close();
  });

  it('the leader waits the conflict out and then serves the queued jobs', async () => {
    let armedAt = 0;
    h = await SystemHarness.start({
      scenario: 'stale-session',
      maxRunners: 8,
      beforeProcesses: (fake) => {
        armedAt = Date.now();
        fake.injectFault({
          endpoint: 'createSession',
          status: 409,
          body: CONFLICT_BODY,
          untilMs: armedAt + CONFLICT_MS,
        });
      },
    });
    const sys = h;
    const queuedAt = Date.now();
    sys.queueJobs(JOBS);
    const created = await waitUntil(
      'a session once the conflict is over',
      () => sys.fake.requestsFor('createSession').find((r) => r.status === 200),
      90_000,
    );
    const conflicts = sys.fake.requestsFor('createSession').filter((r) => r.status === 409);
    expect(conflicts.length).toBeGreaterThan(0);
    expect(created.at).toBeGreaterThanOrEqual(armedAt + CONFLICT_MS);
    // Backoff, not a loop: a few attempts over 20 s.
    expect(conflicts.length).toBeLessThan(20);
    expect(sys.unexpectedExits()).toEqual([]);

    const doneAt = await sys.allJobsCompleted(JOBS, 120_000);
    const figures = await checkInvariants(sys, {
      jobs: JOBS,
      startedAt: queuedAt,
      faultsEndedAt: armedAt + CONFLICT_MS,
      quietAt: doneAt,
    });
    recordFigures('6-stale-session', {
      jobs: JOBS,
      conflictWindowS: CONFLICT_MS / 1000,
      conflicts409: conflicts.length,
      sessionCreatedAfterS: seconds(armedAt, created.at),
      sessionAfterConflictEndedS: seconds(armedAt + CONFLICT_MS, created.at),
      jobsDoneAfterSessionS: seconds(created.at, doneAt),
      ...figures,
    });
  });
});

import pino from 'pino';
import {
  MessageQueueTokenExpiredError,
  SessionConflictError,
  type JobCompleted,
  type JobStarted,
  type RunnerScaleSetMessage,
  type RunnerScaleSetStatistic,
} from '@app/scaleset';
import type {
  HeldLease,
  LeaderElection,
  ListenerSession,
  Scaler,
  SessionFactory,
} from './listener.ports';
import { ScaleSetListener, sleep, type ScaleSetListenerTiming } from './scale-set.listener';

const FAST: ScaleSetListenerTiming = {
  standbyRetryMs: 5,
  backoffBaseMs: 2,
  backoffMaxMs: 10,
  conflictBaseMs: 2,
  conflictMaxMs: 10,
  reevaluateMs: 60_000,
  sessionDeleteTimeoutMs: 100,
};

function stats(assigned: number): RunnerScaleSetStatistic {
  return {
    totalAvailableJobs: 0,
    totalAcquiredJobs: 0,
    totalAssignedJobs: assigned,
    totalRunningJobs: 0,
    totalRegisteredRunners: 0,
    totalBusyRunners: 0,
    totalIdleRunners: 0,
  };
}

function message(
  id: number,
  assigned: number,
  extra: Partial<RunnerScaleSetMessage> = {},
): RunnerScaleSetMessage {
  return {
    messageId: id,
    messageType: 'RunnerScaleSetJobMessages',
    statistics: stats(assigned),
    jobAvailableMessages: [],
    jobAssignedMessages: [],
    jobStartedMessages: [],
    jobCompletedMessages: [],
    ...extra,
  };
}

function apiError<T>(Cls: new (...args: never[]) => T, status: number): T {
  const Ctor = Cls as unknown as new (ctx: object) => T;
  return new Ctor({ method: 'GET', url: 'http://x/', path: '/', status, reason: 'test' });
}

/** A scripted GitHub: a queue of messages per session, with redelivery until deleted. */
class FakeGitHub implements SessionFactory {
  readonly pending: RunnerScaleSetMessage[] = [];
  readonly acked: number[] = [];
  readonly polls: number[] = [];
  readonly deletedSessions: string[] = [];
  active: string | null = null;
  created = 0;
  conflictsLeft = 0;
  pollFailures: Error[] = [];
  private counter = 0;

  create(): Promise<ListenerSession> {
    if (this.conflictsLeft > 0 || this.active !== null) {
      this.conflictsLeft = Math.max(0, this.conflictsLeft - 1);
      return Promise.reject(apiError(SessionConflictError, 409));
    }
    this.created += 1;
    const id = `session-${++this.counter}`;
    this.active = id;
    return Promise.resolve(this.session(id));
  }

  delete(sessionId: string): Promise<void> {
    this.deletedSessions.push(sessionId);
    if (this.active === sessionId) {
      this.active = null;
    }
    return Promise.resolve();
  }

  private session(id: string): ListenerSession {
    return {
      sessionId: id,
      statistics: stats(0),
      getMessage: async (lastMessageId, _max, signal) => {
        this.polls.push(lastMessageId);
        const failure = this.pollFailures.shift();
        if (failure !== undefined) {
          throw failure;
        }
        const next = this.pending.find((m) => m.messageId > lastMessageId) ?? this.pending[0];
        if (next !== undefined) {
          return next;
        }
        await sleep(5, signal);
        return null;
      },
      deleteMessage: (messageId) => {
        this.acked.push(messageId);
        const i = this.pending.findIndex((m) => m.messageId === messageId);
        if (i >= 0) {
          this.pending.splice(i, 1);
        }
        return Promise.resolve();
      },
      acquireJobs: (ids) => Promise.resolve(ids),
    };
  }
}

/** An in-memory lease with epochs, shared by several listeners like Redis would be. */
class FakeElection implements LeaderElection {
  holder: { epoch: number; controller: AbortController } | null = null;
  epoch = 0;
  cursor = 0;
  sessionId: string | null = null;
  cursorWrites: number[] = [];

  tryAcquire(): Promise<HeldLease | null> {
    if (this.holder !== null) {
      return Promise.resolve(null);
    }
    const controller = new AbortController();
    const held = { epoch: ++this.epoch, controller };
    this.holder = held;
    return Promise.resolve({
      epoch: held.epoch,
      lost: controller.signal,
      release: () => {
        if (this.holder === held) {
          this.holder = null;
        }
        return Promise.resolve();
      },
    });
  }

  /** What a failed `tryAcquire` reports as the holder's remaining TTL (`undefined`: unknown). */
  holderTtl: number | undefined = undefined;

  holderTtlMs(): number | undefined {
    return this.holder === null ? undefined : this.holderTtl;
  }

  /** Simulates a lease that expired because its holder stopped renewing (e.g. SIGKILL). */
  expire(): void {
    this.holder?.controller.abort();
    this.holder = null;
  }

  private check(epoch: number): void {
    if (epoch !== this.epoch) {
      throw Object.assign(new Error('stale epoch'), { name: 'StaleEpochError' });
    }
  }

  getCursor(): Promise<number> {
    return Promise.resolve(this.cursor);
  }

  setCursor(messageId: number, epoch: number): Promise<void> {
    this.check(epoch);
    this.cursor = Math.max(this.cursor, messageId);
    this.cursorWrites.push(messageId);
    return Promise.resolve();
  }

  getSessionId(): Promise<string | null> {
    return Promise.resolve(this.sessionId);
  }

  setSessionId(sessionId: string | null, epoch: number): Promise<void> {
    this.check(epoch);
    this.sessionId = sessionId;
    return Promise.resolve();
  }
}

/** A scaler that keeps a fleet: desired target, busy and completed runners. */
class FakeScaler implements Scaler {
  target = 0;
  busy = new Set<string>();
  completed = new Set<string>();
  failNext = 0;
  evaluations = 0;
  /** `reenqueueReserved` of every decision, in order. */
  repairs: boolean[] = [];

  handleJobStarted(job: JobStarted): Promise<void> {
    this.busy.add(job.runnerName);
    return Promise.resolve();
  }

  handleJobCompleted(job: JobCompleted): Promise<void> {
    this.busy.delete(job.runnerName);
    this.completed.add(job.runnerName);
    return Promise.resolve();
  }

  /** As the real scaler: every job concurrently, then the first failure once all settled. */
  async handleJobsCompleted(jobs: readonly JobCompleted[]): Promise<void> {
    const results = await Promise.allSettled(jobs.map((job) => this.handleJobCompleted(job)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      throw failed.reason;
    }
  }

  handleDesiredRunnerCount(
    statistics: RunnerScaleSetStatistic,
    _epoch: number,
    options: { readonly reenqueueReserved?: boolean } = {},
  ): Promise<number> {
    this.evaluations += 1;
    this.repairs.push(options.reenqueueReserved === true);
    if (this.failNext > 0) {
      this.failNext -= 1;
      return Promise.reject(new Error('redis is down'));
    }
    this.target = Math.min(5, statistics.totalAssignedJobs);
    return Promise.resolve(this.target);
  }
}

const logger = pino({ level: 'silent' });

function listener(
  github: FakeGitHub,
  election: FakeElection,
  scaler: FakeScaler,
): ScaleSetListener {
  return new ScaleSetListener(
    { sessions: github, election, scaler, logger },
    { scaleSetName: 'set', maxRunners: () => 5, ownerName: 'host', timing: FAST },
  );
}

async function until(what: string, predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(2);
  }
}

const job = (runnerName: string): JobStarted & JobCompleted =>
  ({ runnerName, runnerId: 1, result: 'succeeded', jobId: 'j' }) as unknown as JobStarted &
    JobCompleted;

describe('ScaleSetListener', () => {
  it('handles each message, persists the cursor, and only then acknowledges it', async () => {
    const github = new FakeGitHub();
    const election = new FakeElection();
    const scaler = new FakeScaler();
    github.pending.push(
      message(101, 3),
      message(102, 3, { jobStartedMessages: [job('r1')] }),
      message(103, 2, { jobCompletedMessages: [job('r1')] }),
    );
    const stop = new AbortController();
    const done = listener(github, election, scaler).run(stop.signal);
    await until('three acks', () => github.acked.length === 3);
    stop.abort();
    await done;
    expect(github.acked).toEqual([101, 102, 103]);
    expect(election.cursorWrites).toEqual([101, 102, 103]);
    expect(scaler.completed.has('r1')).toBe(true);
    expect(scaler.busy.size).toBe(0);
    expect(scaler.target).toBe(2);
    // Polls after a handled message continue from its id.
    expect(github.polls).toEqual(expect.arrayContaining([0, 101, 102, 103]));
  });

  it('re-enqueues every reserved runner on taking the lease and on the timer, not per message', async () => {
    const github = new FakeGitHub();
    const election = new FakeElection();
    const scaler = new FakeScaler();
    github.pending.push(message(111, 1), message(112, 2));
    const stop = new AbortController();
    const done = new ScaleSetListener(
      { sessions: github, election, scaler, logger },
      {
        scaleSetName: 'set',
        maxRunners: () => 5,
        ownerName: 'host',
        timing: { ...FAST, reevaluateMs: 150 },
      },
    ).run(stop.signal);
    await until('two acks', () => github.acked.length === 2);
    // The first decision of a new leader repairs (a predecessor may have died between reserve
    // and enqueue); the decisions of the messages do not.
    expect(scaler.repairs.slice(0, 3)).toEqual([true, false, false]);
    await until('a timer decision', () => scaler.repairs.slice(3).includes(true), 2000);
    stop.abort();
    await done;
  });

  it('retries the repair when the decision that should make it fails', async () => {
    const github = new FakeGitHub();
    const election = new FakeElection();
    const scaler = new FakeScaler();
    scaler.failNext = 1; // the initial evaluation after taking the lease
    github.pending.push(message(121, 1));
    const stop = new AbortController();
    const done = listener(github, election, scaler).run(stop.signal);
    await until('the ack', () => github.acked.includes(121));
    stop.abort();
    await done;
    expect(scaler.repairs.slice(0, 2)).toEqual([true, true]);
  });

  it('acknowledges a redelivered message without handling it twice', async () => {
    const github = new FakeGitHub();
    const election = new FakeElection();
    election.cursor = 200;
    const scaler = new FakeScaler();
    github.pending.push(message(200, 4, { jobCompletedMessages: [job('old')] }));
    const stop = new AbortController();
    const done = listener(github, election, scaler).run(stop.signal);
    await until('the ack', () => github.acked.includes(200));
    stop.abort();
    await done;
    expect(scaler.completed.size).toBe(0);
    expect(election.cursorWrites).toEqual([]);
  });

  it('does not acknowledge a message whose handling failed, and handles it on redelivery', async () => {
    const github = new FakeGitHub();
    const election = new FakeElection();
    const scaler = new FakeScaler();
    scaler.failNext = 2; // the initial evaluation from session statistics, then the message
    github.pending.push(message(301, 4));
    const stop = new AbortController();
    const done = listener(github, election, scaler).run(stop.signal);
    await until('the ack', () => github.acked.includes(301));
    stop.abort();
    await done;
    expect(github.acked).toEqual([301]);
    expect(election.cursor).toBe(301);
    expect(scaler.target).toBe(4);
  });

  it('handles the job messages of one kind concurrently, all JobStarted before any JobCompleted', async () => {
    const github = new FakeGitHub();
    const election = new FakeElection();
    const log: string[] = [];
    let inFlight = 0;
    let peak = 0;
    let failed = false;
    const slow = async (what: string): Promise<void> => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await sleep(5);
      inFlight -= 1;
      log.push(what);
      if (what === 'completed r2' && !failed) {
        failed = true;
        throw new Error('redis is down');
      }
    };
    const scaler = new FakeScaler();
    scaler.handleJobStarted = (j: JobStarted) => slow(`started ${j.runnerName}`);
    scaler.handleJobCompleted = (j: JobCompleted) => slow(`completed ${j.runnerName}`);
    github.pending.push(
      message(401, 3, {
        jobStartedMessages: [job('r1'), job('r2'), job('r3')],
        jobCompletedMessages: [job('r1'), job('r2'), job('r3')],
      }),
    );
    const stop = new AbortController();
    const done = listener(github, election, scaler).run(stop.signal);
    await until('the ack', () => github.acked.includes(401));
    stop.abort();
    await done;
    expect(peak).toBe(3);
    // The first delivery: every handler ran, one failed, so the message was not acknowledged;
    // the redelivery handled it again (idempotent handlers) and acknowledged it once.
    const first = log.slice(0, 6);
    expect(first.slice(0, 3).every((l) => l.startsWith('started'))).toBe(true);
    expect(first.slice(3).every((l) => l.startsWith('completed'))).toBe(true);
    expect(log).toHaveLength(12);
    expect(github.acked).toEqual([401]);
    expect(election.cursorWrites).toEqual([401]);
  });

  it('waits out a stale session (409) instead of crashing, then proceeds', async () => {
    const github = new FakeGitHub();
    github.conflictsLeft = 4;
    const election = new FakeElection();
    const scaler = new FakeScaler();
    github.pending.push(message(1, 1));
    const stop = new AbortController();
    const l = listener(github, election, scaler);
    const done = l.run(stop.signal);
    await until('the ack', () => github.acked.includes(1));
    expect(l.status()).toMatchObject({ role: 'leader', hasSession: true });
    stop.abort();
    await done;
    expect(github.created).toBe(1);
    expect(github.conflictsLeft).toBe(0);
  });

  it('replaces an expired session and keeps the cursor', async () => {
    const github = new FakeGitHub();
    const election = new FakeElection();
    election.cursor = 50;
    const scaler = new FakeScaler();
    github.pollFailures.push(apiError(MessageQueueTokenExpiredError, 401));
    github.pending.push(message(51, 1));
    const stop = new AbortController();
    const done = listener(github, election, scaler).run(stop.signal);
    await until('the ack', () => github.acked.includes(51));
    stop.abort();
    await done;
    expect(github.created).toBe(2);
    expect(github.deletedSessions).toContain('session-1');
    expect(github.polls.slice(0, 2)).toEqual([50, 50]);
  });

  it('backs off on a failing poll and recovers', async () => {
    const github = new FakeGitHub();
    const election = new FakeElection();
    const scaler = new FakeScaler();
    github.pollFailures.push(new Error('ECONNRESET'), new Error('ECONNRESET'));
    github.pending.push(message(7, 2));
    const stop = new AbortController();
    const done = listener(github, election, scaler).run(stop.signal);
    await until('the ack', () => github.acked.includes(7));
    stop.abort();
    await done;
    expect(github.created).toBe(1);
    expect(scaler.target).toBe(2);
  });

  it('on shutdown deletes its session, clears the session id and releases the lease', async () => {
    const github = new FakeGitHub();
    const election = new FakeElection();
    const stop = new AbortController();
    const l = listener(github, election, new FakeScaler());
    const done = l.run(stop.signal);
    await until('a session', () => github.active !== null);
    stop.abort();
    await done;
    expect(github.active).toBeNull();
    expect(github.deletedSessions).toEqual(['session-1']);
    expect(election.sessionId).toBeNull();
    expect(election.holder).toBeNull();
    expect(l.status().role).toBe('stopped');
  });

  it('keeps one leader among replicas; a standby takes over when the lease expires', async () => {
    const github = new FakeGitHub();
    const election = new FakeElection();
    const a = listener(github, election, new FakeScaler());
    const b = listener(github, election, new FakeScaler());
    const stopA = new AbortController();
    const stopB = new AbortController();
    const runA = a.run(stopA.signal);
    await until('a leads', () => a.status().hasSession);
    const runB = b.run(stopB.signal);
    await until('b stands by', () => b.status().role === 'standby');
    expect(github.created).toBe(1);

    // A dies without cleaning up: its lease expires and its session stays behind.
    stopA.abort();
    election.expire();
    github.active = 'session-1';
    election.sessionId = 'session-1';
    await runA;
    github.active = 'session-1';

    await until('b leads', () => b.status().hasSession);
    expect(github.deletedSessions).toContain('session-1');
    expect(election.epoch).toBe(2);
    stopB.abort();
    await runB;
  });

  it("retries taking the lease when the holder's lease expires, not a whole retry period later", async () => {
    const github = new FakeGitHub();
    const election = new FakeElection();
    const timing = { ...FAST, standbyRetryMs: 60_000 };
    const options = { scaleSetName: 'set', maxRunners: () => 5, ownerName: 'host', timing };
    const a = new ScaleSetListener(
      { sessions: github, election, scaler: new FakeScaler(), logger },
      options,
    );
    const b = new ScaleSetListener(
      { sessions: github, election, scaler: new FakeScaler(), logger },
      options,
    );
    const stopA = new AbortController();
    const stopB = new AbortController();
    const runA = a.run(stopA.signal);
    await until('a leads', () => a.status().hasSession);
    // The holder's lease has 150 ms left when b tries: b waits that long, not 60 s.
    election.holderTtl = 150;
    const runB = b.run(stopB.signal);
    await until('b stands by', () => b.status().role === 'standby');
    const expired = Date.now();
    stopA.abort();
    election.expire();
    await runA;
    await until('b leads', () => b.status().hasSession, 2_000);
    expect(Date.now() - expired).toBeLessThan(1_000);
    stopB.abort();
    await runB;
  });

  it('stops writing when its lease is lost', async () => {
    const github = new FakeGitHub();
    const election = new FakeElection();
    const l = listener(github, election, new FakeScaler());
    const stop = new AbortController();
    const done = l.run(stop.signal);
    await until('a session', () => l.status().hasSession);
    election.expire();
    // Another replica took the lease meanwhile.
    election.epoch += 1;
    election.holder = { epoch: election.epoch, controller: new AbortController() };
    await until('standby', () => l.status().role === 'standby');
    expect(l.status().hasSession).toBe(false);
    github.pending.push(message(9, 1));
    await sleep(30);
    expect(github.acked).toEqual([]);
    stop.abort();
    await done;
  });
});

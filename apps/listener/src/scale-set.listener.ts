import {
  MessageQueueTokenExpiredError,
  RateLimitedError,
  ScaleSetApiError,
  SessionConflictError,
  SessionNotFoundError,
  type RunnerScaleSetMessage,
  type RunnerScaleSetStatistic,
} from '@app/scaleset';
import { NOOP_TELEMETRY, TelemetryAttributes, type Logger, type Telemetry } from '@app/telemetry';
import type {
  HeldLease,
  LeaderElection,
  ListenerSession,
  ListenerStatus,
  Scaler,
  SessionFactory,
} from './listener.ports';

/** Timing of the listener loop; every value can be shortened in tests. */
export interface ScaleSetListenerTiming {
  /**
   * Longest wait of a standby replica between attempts to take the lease. It retries when the
   * holder's lease expires (its remaining TTL, seen by the failed attempt), at least
   * {@link MIN_STANDBY_RETRY_MS} and at most this long.
   */
  readonly standbyRetryMs: number;
  /** Backoff after a failed call: base × 2^n, capped, with jitter. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Backoff while another (stale) session holds the scale set (409). */
  readonly conflictBaseMs: number;
  readonly conflictMaxMs: number;
  /** Re-evaluation of the last statistics while no message arrives. */
  readonly reevaluateMs: number;
  /** Bound on deleting the session at hand-over and shutdown. */
  readonly sessionDeleteTimeoutMs: number;
}

/** Shortest wait of a standby between attempts to take the lease. */
export const MIN_STANDBY_RETRY_MS = 100;

/** Retried this long after the holder's lease should have expired (clock and network slack). */
const STANDBY_RETRY_SLACK_MS = 20;

/** Defaults close to production behaviour (see docs/listener.md). */
export const DEFAULT_LISTENER_TIMING: ScaleSetListenerTiming = {
  standbyRetryMs: 2_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 30_000,
  conflictBaseMs: 2_000,
  conflictMaxMs: 30_000,
  reevaluateMs: 15_000,
  sessionDeleteTimeoutMs: 10_000,
};

/** Everything a {@link ScaleSetListener} works with. */
export interface ScaleSetListenerDeps {
  readonly sessions: SessionFactory;
  readonly election: LeaderElection;
  readonly scaler: Scaler;
  readonly logger: Logger;
  /** Lease metrics (holder, epoch, leadership gained); default no-op. */
  readonly telemetry?: Telemetry;
}

/** Options of one scale set's listener. */
export interface ScaleSetListenerOptions {
  readonly scaleSetName: string;
  /** Sent as `X-ScaleSetMaxCapacity`; read on every poll so it can change at run time. */
  readonly maxRunners: () => number;
  /** Session owner name shown by GitHub (the host name). */
  readonly ownerName: string;
  readonly timing?: Partial<ScaleSetListenerTiming>;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

// A function call, so that type narrowing of `signal.aborted` by a loop condition does
// not hide that an await in the loop body may have aborted it.
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** Waits for every promise; then throws the first rejection, if any. */
async function allSettledOrThrow(promises: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    throw failed.reason;
  }
}

function isStaleEpoch(err: unknown): boolean {
  return err instanceof Error && err.name === 'StaleEpochError';
}

/** The session is unusable and must be replaced by a new one (the cursor is kept). */
function needsNewSession(err: unknown): boolean {
  return (
    err instanceof MessageQueueTokenExpiredError ||
    err instanceof SessionNotFoundError ||
    (err instanceof ScaleSetApiError && err.status === 404)
  );
}

/**
 * One scale set's listener: waits for the Redis lease, then owns the GitHub message
 * session, long-polls, and hands each message to the {@link Scaler} before
 * acknowledging it. Recovers from every GitHub and Redis failure instead of exiting:
 * 409 on session create is waited out, 401/404 get a new session (the cursor is kept),
 * 5xx/429/network errors back off. On shutdown it deletes its session and releases the
 * lease so a standby takes over within seconds; runners are left running.
 */
export class ScaleSetListener {
  private readonly timing: ScaleSetListenerTiming;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly log: Logger;
  private state: ListenerStatus;
  private latestStatistics: RunnerScaleSetStatistic | null = null;
  private cursor = 0;
  /**
   * The next decision re-enqueues every reserved runner's start job: set on taking the lease
   * and by the re-evaluation timer, cleared by a decision that did it.
   */
  private reenqueueReserved = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly deps: ScaleSetListenerDeps,
    private readonly options: ScaleSetListenerOptions,
  ) {
    this.timing = { ...DEFAULT_LISTENER_TIMING, ...options.timing };
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.log = deps.logger.child({ scaleSet: options.scaleSetName });
    this.state = {
      scaleSet: options.scaleSetName,
      role: 'starting',
      hasSession: false,
      lastCycleAt: this.now(),
    };
  }

  /** The current role, session and last cycle time, for health checks. */
  status(): ListenerStatus {
    return this.state;
  }

  /** Runs until `shutdown` aborts; resolves after the session is deleted and the lease released. */
  async run(shutdown: AbortSignal): Promise<void> {
    while (!shutdown.aborted) {
      const lease = await this.tryAcquire();
      if (lease === null) {
        this.leadership(undefined);
        this.update({ role: 'standby', hasSession: false, lastCycleAt: this.now() });
        await sleep(this.standbyRetryDelay(), shutdown);
        continue;
      }
      this.log.info({ epoch: lease.epoch }, 'lease acquired: this replica leads the scale set');
      this.update({ role: 'leader', lastCycleAt: this.now() });
      this.leadership(lease.epoch);
      try {
        await this.lead(lease, shutdown);
      } catch (err) {
        this.log.error({ err }, 'leader loop failed; stepping down');
        this.update({ lastError: errorText(err) });
      } finally {
        await this.release(lease);
        this.leadership(undefined);
      }
    }
    this.update({ role: 'stopped', hasSession: false });
  }

  /** Lease metrics: holder 1/0, the epoch held, and one count per leadership gained. */
  private leadership(epoch: number | undefined): void {
    const meter = (this.deps.telemetry ?? NOOP_TELEMETRY).meter;
    const labels = { [TelemetryAttributes.labelScaleSet]: this.options.scaleSetName };
    meter.gauge('leaseHolder').set(epoch === undefined ? 0 : 1, labels);
    if (epoch !== undefined) {
      meter.counter('leaseAcquired').add(1, labels);
      meter.gauge('leaseEpoch').set(epoch, labels);
    }
  }

  /**
   * Until the holder's lease expires (plus a little slack), bounded by
   * [{@link MIN_STANDBY_RETRY_MS}, `standbyRetryMs`]: failover then takes about the lease's
   * remaining TTL instead of up to that plus a whole retry period.
   */
  private standbyRetryDelay(): number {
    const max = this.timing.standbyRetryMs;
    const ttl = this.deps.election.holderTtlMs?.();
    if (ttl === undefined) {
      return max;
    }
    return Math.min(
      max,
      Math.max(Math.min(MIN_STANDBY_RETRY_MS, max), ttl + STANDBY_RETRY_SLACK_MS),
    );
  }

  private async tryAcquire(): Promise<HeldLease | null> {
    try {
      return await this.deps.election.tryAcquire();
    } catch (err) {
      this.log.warn({ err }, 'could not reach Redis to take the lease');
      this.update({ lastError: errorText(err) });
      return null;
    }
  }

  private async release(lease: HeldLease): Promise<void> {
    if (lease.lost.aborted) {
      this.log.warn({ epoch: lease.epoch }, 'lease lost; another replica may take over');
      return;
    }
    try {
      await lease.release();
      this.log.info({ epoch: lease.epoch }, 'lease released');
    } catch (err) {
      this.log.warn({ err }, 'could not release the lease; it will expire');
    }
  }

  private async lead(lease: HeldLease, shutdown: AbortSignal): Promise<void> {
    const signal = AbortSignal.any([shutdown, lease.lost]);
    await this.deletePreviousSession();
    let session: ListenerSession | null = await this.openSession(lease, signal);
    if (session === null) {
      return;
    }
    // A predecessor may have died between reserving runners and enqueueing their start jobs.
    this.reenqueueReserved = true;
    const timer = setInterval(() => {
      this.reenqueueReserved = true;
      void this.reevaluate(lease.epoch);
    }, this.timing.reevaluateMs);
    try {
      this.cursor = await this.deps.election.getCursor();
      this.latestStatistics = session.statistics;
      await this.reevaluate(lease.epoch);
      let failures = 0;
      while (!signal.aborted) {
        try {
          const current: ListenerSession = session;
          const message = await current.getMessage(this.cursor, this.options.maxRunners(), signal);
          if (message === null) {
            await this.reevaluate(lease.epoch);
          } else {
            await this.serialized(() => this.handleMessage(current, message, lease.epoch));
          }
          failures = 0;
          this.update({ lastCycleAt: this.now() });
        } catch (err) {
          if (isAborted(signal)) {
            break;
          }
          this.update({ lastCycleAt: this.now(), lastError: errorText(err) });
          if (isStaleEpoch(err)) {
            this.log.warn('a newer leader exists; stepping down');
            break;
          }
          if (needsNewSession(err)) {
            this.log.warn({ err }, 'message session is no longer valid; creating a new one');
            await this.deleteSession(session.sessionId);
            this.update({ hasSession: false });
            session = await this.openSession(lease, signal);
            if (session === null) {
              return;
            }
            continue;
          }
          const delay = this.backoff(
            failures++,
            err,
            this.timing.backoffBaseMs,
            this.timing.backoffMaxMs,
          );
          this.log.warn({ err, retryInMs: delay }, 'poll failed; backing off');
          await sleep(delay, signal);
        }
      }
    } finally {
      clearInterval(timer);
      await this.queue.catch(() => undefined);
      // A clean hand-over: a standby can create its session at once instead of waiting
      // for this one to expire.
      if (session !== null) {
        await this.deleteSession(session.sessionId);
      }
      this.update({ hasSession: false });
      if (!lease.lost.aborted) {
        await this.deps.election.setSessionId(null, lease.epoch).catch((err: unknown) => {
          this.log.warn({ err }, 'could not clear the session id');
        });
      }
    }
  }

  private async deletePreviousSession(): Promise<void> {
    let previous: string | null;
    try {
      previous = await this.deps.election.getSessionId();
    } catch (err) {
      this.log.warn({ err }, 'could not read the previous session id');
      return;
    }
    if (previous !== null) {
      this.log.info({ sessionId: previous }, 'deleting the previous leader’s session');
      await this.deleteSession(previous);
    }
  }

  private async deleteSession(sessionId: string): Promise<void> {
    try {
      await this.deps.sessions.delete(
        sessionId,
        AbortSignal.timeout(this.timing.sessionDeleteTimeoutMs),
      );
      this.log.info({ sessionId }, 'message session deleted');
    } catch (err) {
      // Already gone (400 RunnerScaleSetSessionExpiredException) is the common case.
      this.log.debug({ err, sessionId }, 'message session not deleted');
    }
  }

  private async openSession(
    lease: HeldLease,
    signal: AbortSignal,
  ): Promise<ListenerSession | null> {
    let attempt = 0;
    while (!signal.aborted) {
      let session: ListenerSession | undefined;
      try {
        session = await this.deps.sessions.create(this.options.ownerName, signal);
        await this.deps.election.setSessionId(session.sessionId, lease.epoch);
        this.log.info({ sessionId: session.sessionId }, 'message session created');
        this.update({ hasSession: true, lastCycleAt: this.now() });
        return session;
      } catch (err) {
        if (session !== undefined) {
          await this.deleteSession(session.sessionId);
        }
        if (isAborted(signal)) {
          return null;
        }
        if (isStaleEpoch(err)) {
          this.log.warn('a newer leader exists; not opening a session');
          return null;
        }
        this.update({ lastCycleAt: this.now(), lastError: errorText(err) });
        if (err instanceof SessionConflictError) {
          const delay = this.backoff(
            attempt++,
            err,
            this.timing.conflictBaseMs,
            this.timing.conflictMaxMs,
          );
          this.log.warn(
            { retryInMs: delay, attempt },
            'another message session is active for this scale set (left by a process that died?); waiting for it to expire',
          );
          await sleep(delay, signal);
          continue;
        }
        const delay = this.backoff(
          attempt++,
          err,
          this.timing.backoffBaseMs,
          this.timing.backoffMaxMs,
        );
        this.log.warn({ err, retryInMs: delay }, 'could not create a message session; backing off');
        await sleep(delay, signal);
      }
    }
    return null;
  }

  private async handleMessage(
    session: ListenerSession,
    message: RunnerScaleSetMessage,
    epoch: number,
  ): Promise<void> {
    if (message.messageId <= this.cursor) {
      // Handled before (redelivered after a crash between cursor write and ack).
      this.log.debug({ messageId: message.messageId }, 'acknowledging an already handled message');
      await session.deleteMessage(message.messageId);
      return;
    }
    if (message.statistics !== null) {
      this.latestStatistics = message.statistics;
    }
    if (message.jobAvailableMessages.length > 0) {
      const ids = message.jobAvailableMessages.map((j) => j.runnerRequestId);
      const acquired = await session.acquireJobs(ids);
      this.log.info(
        { requested: ids.length, acquired: acquired.length },
        'acquired available jobs',
      );
    }
    // Job messages of different runners are independent and every handler is idempotent, so
    // the messages of one kind are handled concurrently (their Redis calls share round trips
    // instead of queueing one runner behind the other; the JobCompleted ones end in one bulk
    // add of their destroy jobs); all JobStarted before any JobCompleted, as before. Any
    // failure fails the message (not acknowledged, so it is delivered again) once every
    // handler has settled.
    await allSettledOrThrow(
      message.jobStartedMessages.map((job) => this.deps.scaler.handleJobStarted(job, epoch)),
    );
    if (message.jobCompletedMessages.length > 0) {
      await this.deps.scaler.handleJobsCompleted(message.jobCompletedMessages, epoch);
    }
    if (this.latestStatistics !== null) {
      await this.decide(this.latestStatistics, epoch);
    }
    // Acknowledge only once the jobs this message implies are durable in Redis.
    await this.deps.election.setCursor(message.messageId, epoch);
    this.cursor = message.messageId;
    await session.deleteMessage(message.messageId);
  }

  private reevaluate(epoch: number): Promise<void> {
    return this.serialized(async () => {
      if (this.latestStatistics === null) {
        return;
      }
      try {
        await this.decide(this.latestStatistics, epoch);
      } catch (err) {
        this.log.warn({ err }, 'scaling re-evaluation failed');
        this.update({ lastError: errorText(err) });
      }
    });
  }

  /** One scaling decision; it repairs lost start jobs when {@link reenqueueReserved} asks. */
  private async decide(statistics: RunnerScaleSetStatistic, epoch: number): Promise<void> {
    const reenqueueReserved = this.reenqueueReserved;
    await this.deps.scaler.handleDesiredRunnerCount(statistics, epoch, { reenqueueReserved });
    if (reenqueueReserved) {
      this.reenqueueReserved = false;
    }
  }

  /** Runs scaling work one step at a time (timer and poll loop share the scaler). */
  private serialized<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private backoff(attempt: number, err: unknown, baseMs: number, maxMs: number): number {
    if (err instanceof RateLimitedError && err.retryAfterMs > 0) {
      return err.retryAfterMs;
    }
    const exp = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
    return Math.round(exp * (0.5 + this.random() / 2));
  }

  private update(patch: Partial<ListenerStatus>): void {
    this.state = { ...this.state, ...patch };
  }
}

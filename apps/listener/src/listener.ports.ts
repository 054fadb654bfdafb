import type {
  JobCompleted,
  JobStarted,
  RunnerScaleSetMessage,
  RunnerScaleSetStatistic,
} from '@app/scaleset';

// The narrow interfaces the listener's poll loop needs (style.md 4). Production adapters
// wrap the scale set client, the Redis registry and the job queue; tests use fakes.

/** An open message session: the queue calls of one session (MessageSessionClient). */
export interface ListenerSession {
  readonly sessionId: string;
  readonly statistics: RunnerScaleSetStatistic | null;
  getMessage(
    lastMessageId: number,
    maxCapacity: number,
    signal?: AbortSignal,
  ): Promise<RunnerScaleSetMessage | null>;
  deleteMessage(messageId: number, signal?: AbortSignal): Promise<void>;
  acquireJobs(requestIds: number[], signal?: AbortSignal): Promise<number[]>;
}

/** Creates and deletes message sessions of one scale set. */
export interface SessionFactory {
  create(ownerName: string, signal?: AbortSignal): Promise<ListenerSession>;
  /** Deletes a session by id (also one created by another process). */
  delete(sessionId: string, signal?: AbortSignal): Promise<void>;
}

/** A held lease; `lost` aborts when it could not be renewed. */
export interface HeldLease {
  readonly epoch: number;
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

/** The per-scale-set lease and the leader's fenced state in Redis. */
export interface LeaderElection {
  /** Tries once; `null` when another replica holds the lease. */
  tryAcquire(): Promise<HeldLease | null>;
  /**
   * What the last `tryAcquire` that returned `null` saw: the milliseconds the holder's lease
   * had left (`undefined`: unknown, e.g. it failed), so a standby retries when it expires.
   */
  holderTtlMs?(): number | undefined;
  getCursor(): Promise<number>;
  setCursor(messageId: number, epoch: number): Promise<void>;
  getSessionId(): Promise<string | null>;
  setSessionId(sessionId: string | null, epoch: number): Promise<void>;
}

/** Turns what GitHub says into registry changes and jobs; every method is idempotent. */
export interface Scaler {
  handleJobStarted(job: JobStarted, epoch: number): Promise<void>;
  /** The JobCompleted messages of one envelope; their destroy jobs are added in one bulk. */
  handleJobsCompleted(jobs: readonly JobCompleted[], epoch: number): Promise<void>;
  /**
   * Applies `desired = min(max, min + totalAssignedJobs)`; returns the resulting target. Start
   * jobs are enqueued for the runners this decision reserved; with `reenqueueReserved` for
   * every runner in `reserved` (the repair after a leader died between reserve and enqueue).
   */
  handleDesiredRunnerCount(
    statistics: RunnerScaleSetStatistic,
    epoch: number,
    options?: { readonly reenqueueReserved?: boolean },
  ): Promise<number>;
}

/** What the health endpoint reports about one scale set's listener. */
export interface ListenerStatus {
  readonly scaleSet: string;
  readonly role: 'starting' | 'standby' | 'leader' | 'stopped';
  readonly hasSession: boolean;
  /** Epoch ms of the last completed poll or standby cycle. */
  readonly lastCycleAt: number;
  readonly lastError?: string;
}

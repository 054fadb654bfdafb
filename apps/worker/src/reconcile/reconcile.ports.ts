import type { EngineInstance, EngineTarget, OwnerLabels } from '@app/compute';
import type { DestroyReason, DestroyRunnerPayload, EnqueueResult } from '@app/queue';
import type {
  RunnerRecord,
  RunnerState,
  RunnerTransitionTarget,
  TransitionOptions,
  TransitionResult,
} from '@app/registry';
import type { RunnerReference } from '@app/scaleset';

// The narrow interfaces the reconciler needs (style.md 4). RunnerRegistry, ScaleSetClient,
// ComputeEngines and JobProducer satisfy the first four as they are; the Redis-backed
// adapters in reconcile.adapters.ts implement the rest.

/** The registry calls the reconciler makes. It never passes an epoch: it is not a leader. */
export interface ReconcileRegistry {
  list(scaleSetId: number, state?: RunnerState): Promise<RunnerRecord[]>;
  get(scaleSetId: number, name: string): Promise<RunnerRecord | undefined>;
  transition(
    scaleSetId: number,
    name: string,
    to: RunnerTransitionTarget,
    options?: TransitionOptions,
  ): Promise<TransitionResult>;
  annotate(
    scaleSetId: number,
    name: string,
    fields: { readonly engineId?: string; readonly runnerId?: number },
  ): Promise<RunnerState>;
  /**
   * Creates the entry `name` in `reserved` unless it has an entry or a tombstone. Returns
   * whether it was created. The caller moves it on with `transition`.
   */
  restore(scaleSet: { readonly id: number }, name: string): Promise<boolean>;
}

/** GitHub's view. The protocol has no "list the runners of a scale set" call. */
export interface ReconcileGitHub {
  getRunnerByName(name: string, signal?: AbortSignal): Promise<RunnerReference | null>;
  removeRunner(runnerId: number, signal?: AbortSignal): Promise<void>;
}

/** One scale set's compute engine, as the reconciler uses it. */
export interface ReconcileEngine {
  list(owner: OwnerLabels, signal?: AbortSignal): Promise<EngineInstance[]>;
  inspect(name: string, signal?: AbortSignal): Promise<EngineInstance | null>;
  destroy(target: EngineTarget, signal?: AbortSignal): Promise<void>;
  /** False when list/inspect see only this process's resources (the simulated engine). */
  readonly seesAllInstances: boolean;
}

/** The engines of the deployment (ComputeEngines). */
export interface ReconcileEngines {
  for(scaleSetName: string): ReconcileEngine;
}

/** Enqueueing destroys, and looking at destroy jobs already in the `runners` queue. */
export interface ReconcileJobs {
  enqueueDestroy(payload: DestroyRunnerPayload): Promise<EnqueueResult>;
  /** Whether a destroy job of this runner is waiting, delayed or running (any job id). */
  destroyPending(runnerName: string): Promise<boolean>;
  /**
   * Removes a finished (completed or failed) destroy job of this runner and reason (its id is
   * `destroyRunnerJobId(runnerName, reason)`), so the same deterministic id can be enqueued
   * again. Does nothing when there is none or it is still pending.
   */
  discardFinishedDestroy(runnerName: string, reason: DestroyReason): Promise<void>;
}

/** A name the reconciler has seen for a scale set, and when it first saw it (epoch ms). */
export interface KnownRunnerName {
  readonly name: string;
  readonly firstSeenAt: number;
}

/**
 * The reconciler's own Redis state per scale set: the "registry initialised" marker, the
 * bounded set of runner names ever seen (ghost-registration discovery), and the one write the
 * registry lib has no call for yet: re-creating a named entry after the registry was lost.
 */
export interface ReconcileState {
  hasMarker(scaleSetId: number): Promise<boolean>;
  setMarker(scaleSetId: number): Promise<void>;
  /** Adds names not seen before with `firstSeenAt = now`; trims the set to its bound. */
  rememberNames(scaleSetId: number, names: readonly string[], now: number): Promise<void>;
  knownNames(scaleSetId: number): Promise<KnownRunnerName[]>;
  forgetNames(scaleSetId: number, names: readonly string[]): Promise<void>;
}

/** The reconciler's clock in epoch ms; production reads Redis `TIME`, the registry's clock. */
export type ReconcileClock = () => Promise<number>;

/** Structured logging (pino's call shape). */
export interface ReconcileLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

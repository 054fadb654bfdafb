import type { Job } from 'bullmq';

import { UnknownJobError } from './errors';

/**
 * The queues. Two, split by workload rather than one per job kind:
 * - `runners` carries `start-runner` and `destroy-runner`: bursty, latency-sensitive work that
 *   GitHub rate limits may pause as a whole;
 * - `reconcile` carries the repeatable per-scale-set `reconcile` job, so a burst of starts
 *   never delays the backstop, and a slow reconcile never delays a start.
 */
export const QUEUES = {
  runners: 'runners',
  reconcile: 'reconcile',
} as const;

/** A queue name. */
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** The job names (BullMQ `job.name`). */
export const JOB_NAMES = {
  startRunner: 'start-runner',
  destroyRunner: 'destroy-runner',
  reconcile: 'reconcile',
} as const;

/** A job name. */
export type JobName = (typeof JOB_NAMES)[keyof typeof JOB_NAMES];

/** The queue each job kind goes to. */
export const JOB_QUEUE = {
  'start-runner': QUEUES.runners,
  'destroy-runner': QUEUES.runners,
  reconcile: QUEUES.reconcile,
} as const satisfies Record<JobName, QueueName>;

/** Default BullMQ key prefix. The braces make it a hash tag, as BullMQ requires on Redis Cluster. */
export const DEFAULT_BULL_PREFIX = '{scaleset}';

/** Why a runner is being destroyed; stored as a short code in job data and the registry. */
export const DESTROY_REASONS = [
  'job-completed',
  'scale-down',
  'startup-timeout',
  'start-failed',
  'compute-gone',
  'orphaned',
  'max-lifetime',
  'operator',
] as const;

/** A reason code for `destroy-runner`. */
export type DestroyReason = (typeof DESTROY_REASONS)[number];

/** Fields every job payload has. Never a JIT config, token or key: ids and names only. */
export interface ScaleSetJobBase {
  /** GitHub's runner scale set id. */
  readonly scaleSetId: number;
  readonly scaleSetName: string;
  /** The enqueuing leader's lease epoch, for diagnostics and fencing. */
  readonly epoch?: number;
  /** W3C trace context of the enqueuing span, so the worker continues the trace. */
  readonly traceparent?: string;
}

/** Payload of `start-runner`: provision the reserved runner `runnerName`. */
export interface StartRunnerPayload extends ScaleSetJobBase {
  readonly runnerName: string;
}

/** Payload of `destroy-runner`: destroy compute, remove from GitHub, delete the registry entry. */
export interface DestroyRunnerPayload extends ScaleSetJobBase {
  readonly runnerName: string;
  readonly reason: DestroyReason;
}

/** Payload of `reconcile`: compare registry, GitHub and engine views of one scale set. */
export type ReconcilePayload = ScaleSetJobBase;

/** Payload type per job name; processors switch on `job.name` and get the matching payload. */
export interface JobPayloads {
  'start-runner': StartRunnerPayload;
  'destroy-runner': DestroyRunnerPayload;
  reconcile: ReconcilePayload;
}

/** A BullMQ job of kind `N` with its payload type. */
export type JobOf<N extends JobName> = Job<JobPayloads[N], unknown, N>;

/** Any of our jobs; narrowing on `name` narrows `data` (for exhaustive processor switches). */
export type AnyJob = { [N in JobName]: JobOf<N> }[JobName];

const JOB_NAME_SET: ReadonlySet<string> = new Set(Object.values(JOB_NAMES));

/** Whether `name` is one of our job names. */
export function isJobName(name: string): name is JobName {
  return JOB_NAME_SET.has(name);
}

/**
 * Narrows a BullMQ job (as a `WorkerHost.process` receives it) to {@link AnyJob}, so a
 * `switch (job.name)` is exhaustive and types `job.data`. Throws {@link UnknownJobError} for a
 * name we do not know (a job from a newer or older version, or a foreign producer).
 */
export function toAnyJob(job: Job): AnyJob {
  if (!isJobName(job.name)) {
    throw new UnknownJobError(job.name, job.id);
  }
  return job as AnyJob;
}

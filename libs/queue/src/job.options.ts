import type { JobsOptions } from 'bullmq';

import type { JobName } from './queue.definitions';

const HOUR_S = 3600;
const DAY_S = 24 * HOUR_S;

/**
 * Default options per job kind, in one place. Retries back off exponentially with jitter so
 * many workers hitting the same GitHub or cloud error do not retry in lock-step (attempts and
 * backoff cost no Redis command until a job fails). Completed runner jobs are kept bounded by
 * count only: BullMQ's finish script scans the set for jobs past an `age` on every completion
 * (one ZREVRANGEBYSCORE per job, two per runner lifecycle), and at any rate that matters the
 * count bound removes them first; failed ones are kept by count and age (seconds), longer, for
 * diagnosis (failures are rare, so their scan costs nothing in the steady state). Completed jobs
 * stay visible in Bull Board and keep deduplicating their id (see docs/redis.md).
 */
export const DEFAULT_JOB_OPTIONS = {
  'start-runner': {
    attempts: 5,
    backoff: { type: 'exponential', delay: 2_000, jitter: 0.5 },
    removeOnComplete: { count: 1_000 },
    removeOnFail: { age: 7 * DAY_S, count: 5_000 },
  },
  // Destroying must eventually succeed, or compute leaks: more attempts, longer reach.
  'destroy-runner': {
    attempts: 10,
    backoff: { type: 'exponential', delay: 2_000, jitter: 0.5 },
    removeOnComplete: { count: 1_000 },
    removeOnFail: { age: 7 * DAY_S, count: 5_000 },
  },
  // The scheduler fires again soon; retrying a reconcile only piles work up.
  reconcile: {
    attempts: 1,
    removeOnComplete: { age: HOUR_S, count: 100 },
    removeOnFail: { age: DAY_S, count: 500 },
  },
} as const satisfies Record<JobName, JobsOptions>;

/** The default options of job kind `name`, as a fresh mutable object. */
export function jobOptions(name: JobName): JobsOptions {
  return structuredClone(DEFAULT_JOB_OPTIONS[name]);
}

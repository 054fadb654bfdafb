import { EngineError, isPermanentEngineError } from '@app/compute';
import { InvalidJobPayloadError } from '@app/queue';
import {
  IllegalTransitionError,
  InvalidRegistryArgumentError,
  RunnerNotFoundError as RegistryRunnerNotFoundError,
  StaleEpochError,
  UnexpectedRedisReplyError,
} from '@app/registry';
import {
  GitHubAppAuthError,
  InvalidClientOptionsError,
  InvalidConfigUrlError,
  RateLimitedError,
  ScaleSetApiError,
  ScaleSetArgumentError,
} from '@app/scaleset';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import {
  InvalidJobError,
  RunnerComputeExitedError,
  RunnerNameTakenError,
  RunnerStillBusyError,
} from './errors';

// The one place that decides what a failure means for BullMQ (style.md 11).

/**
 * What a failure means for the job:
 * - `permanent`: retrying cannot help (bad config or image, refused by GitHub, not ours);
 *   the job fails at once with `UnrecoverableError`.
 * - `retryable`: transport errors, 5xx, engine hiccups; BullMQ retries with the queue's
 *   exponential backoff and jitter until the attempts are used up.
 * - `rate-limited`: GitHub asked us to slow down; the queue pauses for `retryAfterMs` and the
 *   job goes back to waiting without using an attempt.
 * - `retry-later`: a known wait (a runner still finishing its job); the job is delayed by
 *   `delayMs` without using an attempt.
 *
 * `code` is a short, secret-free reason recorded in the registry (`start-failed:<code>`).
 */
export type JobErrorClass =
  | { readonly kind: 'permanent'; readonly code: string }
  | { readonly kind: 'retryable'; readonly code: string }
  | { readonly kind: 'rate-limited'; readonly code: string; readonly retryAfterMs: number }
  | { readonly kind: 'retry-later'; readonly code: string; readonly delayMs: number };

/** GitHub statuses that are worth retrying although they are 4xx. */
const RETRYABLE_GITHUB_4XX: ReadonlySet<number> = new Set([404, 409, 429]);

/** Classifies any error thrown while running a job. Unknown errors are retryable. */
export function classifyJobError(err: unknown): JobErrorClass {
  if (err instanceof UnrecoverableError) {
    return { kind: 'permanent', code: 'unrecoverable' };
  }
  if (err instanceof RunnerStillBusyError) {
    return { kind: 'retry-later', code: 'job-still-running', delayMs: err.retryAfterMs };
  }
  if (
    err instanceof InvalidJobError ||
    err instanceof RunnerNameTakenError ||
    err instanceof RunnerComputeExitedError
  ) {
    return { kind: 'permanent', code: err.name };
  }
  if (err instanceof EngineError) {
    return { kind: isPermanentEngineError(err) ? 'permanent' : 'retryable', code: err.code };
  }
  if (err instanceof RateLimitedError) {
    return { kind: 'rate-limited', code: 'github-rate-limited', retryAfterMs: err.retryAfterMs };
  }
  if (err instanceof ScaleSetApiError) {
    const status = err.status;
    if (status === undefined) {
      // No response: a transport failure, retryable unless it cannot fix itself (TLS).
      return { kind: err.retryable ? 'retryable' : 'permanent', code: 'github-unreachable' };
    }
    const code = `github-${status}`;
    if (RETRYABLE_GITHUB_4XX.has(status)) {
      return { kind: 'retryable', code };
    }
    return { kind: err.retryable ? 'retryable' : 'permanent', code };
  }
  if (
    err instanceof InvalidClientOptionsError ||
    err instanceof InvalidConfigUrlError ||
    err instanceof GitHubAppAuthError ||
    err instanceof ScaleSetArgumentError ||
    err instanceof InvalidJobPayloadError ||
    err instanceof InvalidRegistryArgumentError ||
    err instanceof UnexpectedRedisReplyError ||
    err instanceof StaleEpochError ||
    err instanceof IllegalTransitionError ||
    err instanceof RegistryRunnerNotFoundError
  ) {
    return { kind: 'permanent', code: err.name };
  }
  return { kind: 'retryable', code: err instanceof Error ? err.name : 'unknown' };
}

/** Whether `err` ends the job at once (the start's clean-up runs then). */
export function isPermanentJobError(err: unknown): boolean {
  return classifyJobError(err).kind === 'permanent';
}

/** Whether `err` will be retried using one of the job's attempts. */
export function usesAttempt(err: unknown): boolean {
  const kind = classifyJobError(err).kind;
  return kind === 'retryable' || kind === 'permanent';
}

/**
 * Whether this run is the job's last chance: `attemptsMade` counts the runs that failed
 * before this one. `configuredAttempts` (from `worker.*_attempts`) can only lower the
 * producer's `attempts`, never raise it: BullMQ stops retrying at the job's own value.
 */
export function isLastAttempt(
  job: Pick<Job, 'attemptsMade' | 'opts'>,
  configuredAttempts: number,
): boolean {
  const attempts = Math.min(job.opts.attempts ?? 1, configuredAttempts);
  return job.attemptsMade + 1 >= attempts;
}

/** What the BullMQ mapping needs from the queue: the rate limit shared by every worker. */
export interface QueueRateLimiter {
  rateLimit(ms: number): Promise<void>;
}

/** The job calls the BullMQ mapping makes. */
export type MappableJob = Pick<Job, 'moveToDelayed' | 'attemptsStarted'>;

/**
 * How many times a job may be delayed by `retry-later` before further waits use attempts
 * (about an hour at 30 s): a runner whose compute is gone cannot keep GitHub busy forever.
 */
export const MAX_DELAYED_RUNS = 120;

/**
 * Turns a failure into what the processor throws to BullMQ: `UnrecoverableError` (no more
 * attempts), the error itself (retry with backoff), `Worker.RateLimitError()` after pausing
 * the queue, or `DelayedError` after delaying the job. `finalAttempt` makes a retryable error
 * permanent (the worker's configured attempts are used up).
 */
export async function toBullMQError(
  err: unknown,
  job: MappableJob,
  token: string | undefined,
  limiter: QueueRateLimiter,
  options: { readonly finalAttempt?: boolean; readonly now?: () => number } = {},
): Promise<Error> {
  const cls = classifyJobError(err);
  const message = err instanceof Error ? err.message : String(err);
  switch (cls.kind) {
    case 'permanent':
      return err instanceof UnrecoverableError
        ? err
        : new UnrecoverableError(`${cls.code}: ${message}`);
    case 'retryable':
      if (options.finalAttempt === true) {
        return new UnrecoverableError(`${cls.code} (attempts used up): ${message}`);
      }
      return err instanceof Error ? err : new Error(message);
    case 'rate-limited':
      // The limit is the queue's: every worker of the queue pauses, as GitHub's limit is
      // the installation's, not this process's.
      await limiter.rateLimit(Math.max(1, Math.round(cls.retryAfterMs)));
      return Worker.RateLimitError();
    case 'retry-later': {
      if (job.attemptsStarted > MAX_DELAYED_RUNS) {
        return err instanceof Error ? err : new Error(message);
      }
      const now = options.now ?? Date.now;
      await job.moveToDelayed(now() + cls.delayMs, token);
      return new DelayedError(message);
    }
  }
}

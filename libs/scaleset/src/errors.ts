import { inspect } from 'node:util';

/** A service exception parsed from an Actions service error body (`{typeName, message}`). */
export interface ServiceException {
  /** Usually an assembly-qualified .NET name; match it by substring. */
  readonly typeName: string;
  readonly message: string;
}

/** Safe, serialisable summary of an error cause (never the cause object itself). */
interface CauseSummary {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
}

function summarizeCause(cause: unknown): CauseSummary | undefined {
  if (cause === undefined) {
    return undefined;
  }
  if (cause instanceof ScaleSetError) {
    return { name: cause.name, message: cause.message };
  }
  // Duck-typed: causes raised by Node's core may come from another realm.
  if (typeof cause === 'object' && cause !== null) {
    const { name, message, code } = cause as { name?: unknown; message?: unknown; code?: unknown };
    const summary = {
      name: typeof name === 'string' ? name : 'Error',
      message: typeof message === 'string' ? message : '',
    };
    return typeof code === 'string' ? { ...summary, code } : summary;
  }
  return { name: typeof cause, message: '(non-error cause)' };
}

/**
 * Base class of every error thrown by `@app/scaleset`. Its `toJSON` and `util.inspect`
 * forms list only the structured, already-redacted fields.
 */
export abstract class ScaleSetError extends Error {
  /** Structured, secret-free fields for logs. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, message: this.message, cause: summarizeCause(this.cause) };
  }

  [inspect.custom](): string {
    const header = this.stack ?? `${this.name}: ${this.message}`;
    return `${header} ${inspect(this.toJSON(), { depth: 4, breakLength: Infinity })}`;
  }
}

/** The config URL does not point to a repository, organization or enterprise (§1). */
export class InvalidConfigUrlError extends ScaleSetError {
  override readonly name = 'InvalidConfigUrlError';
  /** The URL as given, with any user-info removed. */
  readonly url: string;
  /** Why it was rejected. */
  readonly reason: string;

  constructor(url: string, reason: string, options?: ErrorOptions) {
    super(
      `invalid config URL "${url}": ${reason}. It should point to an enterprise, org, or ` +
        'repository, e.g. https://github.com/my-org/my-repo, ' +
        'https://github.com/enterprises/my-enterprise or https://ghes.example.com/my-org',
      options,
    );
    this.url = url;
    this.reason = reason;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), url: this.url, reason: this.reason };
  }
}

/** `ScaleSetClientOptions` are incomplete or inconsistent (checked at construction). */
export class InvalidClientOptionsError extends ScaleSetError {
  override readonly name = 'InvalidClientOptionsError';
  /** The option that is wrong, e.g. `auth.installationId`. */
  readonly option: string;

  constructor(option: string, problem: string) {
    super(`invalid scale set client option ${option}: ${problem}`);
    this.option = option;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), option: this.option };
  }
}

/** The GitHub App JWT could not be created (bad private key or client id); nothing was sent. */
export class GitHubAppAuthError extends ScaleSetError {
  override readonly name = 'GitHubAppAuthError';

  constructor(problem: string) {
    super(
      `failed to create the GitHub App JWT: ${problem}. Check auth.privateKey (PEM RSA key) ` +
        'and auth.clientId',
    );
  }
}

/** A caller passed an argument the protocol cannot express; nothing was sent. */
export class ScaleSetArgumentError extends ScaleSetError {
  override readonly name = 'ScaleSetArgumentError';
  readonly argument: string;

  constructor(argument: string, problem: string) {
    super(`invalid argument ${argument}: ${problem}`);
    this.argument = argument;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), argument: this.argument };
  }
}

/** Everything known about one failed call, already redacted. */
export interface ScaleSetApiErrorContext {
  readonly method: string;
  /** Origin plus {@link path}; no user-info, secret query values masked. */
  readonly url: string;
  /** Path plus query, secret query values masked. */
  readonly path: string;
  /** HTTP status of the last response; undefined when no response arrived. */
  readonly status?: number | undefined;
  readonly statusText?: string | undefined;
  readonly activityId?: string | undefined;
  readonly githubRequestId?: string | undefined;
  readonly exception?: ServiceException | undefined;
  /** What went wrong in a few words, e.g. `runner not found`. */
  readonly reason: string;
  /** Redacted detail: exception, plain-text body, or `unknown error`. */
  readonly detail?: string | undefined;
  /** Number of HTTP attempts made. */
  readonly attempts?: number | undefined;
  /** Delay the server asked for (Retry-After or rate-limit reset), in ms. */
  readonly retryAfterMs?: number | undefined;
  /** For failures without a response: false for e.g. TLS verification errors. */
  readonly transportRetryable?: boolean | undefined;
}

function formatApiMessage(ctx: ScaleSetApiErrorContext): string {
  const parts: string[] = [];
  if (ctx.status !== undefined) {
    const text = ctx.statusText !== undefined && ctx.statusText !== '' ? ` ${ctx.statusText}` : '';
    parts.push(`status="${ctx.status}${text}"`);
  }
  if (ctx.activityId !== undefined) {
    parts.push(`activity_id="${ctx.activityId}"`);
  }
  if (ctx.githubRequestId !== undefined) {
    parts.push(`github_request_id="${ctx.githubRequestId}"`);
  }
  const meta = parts.length > 0 ? `(${parts.join(', ')})` : '';
  const detail = ctx.detail !== undefined && ctx.detail !== '' ? `: ${ctx.detail}` : '';
  return `request ${ctx.method} ${ctx.url} failed${meta}: ${ctx.reason}${detail}`;
}

/**
 * The one error type for a failed call to GitHub or the Actions service (style.md 10).
 *
 * Unlike the Go SDK, which reports "giving up after N attempts" without a status once
 * retries are exhausted, this error keeps the status, headers and exception of the last
 * response so callers can still classify it (rate limit, 5xx, ...).
 */
export class ScaleSetApiError extends ScaleSetError {
  override readonly name: string = 'ScaleSetApiError';
  readonly method: string;
  readonly url: string;
  readonly path: string;
  readonly status: number | undefined;
  readonly statusText: string | undefined;
  readonly activityId: string | undefined;
  readonly githubRequestId: string | undefined;
  /** `typeName` of the service exception, when the body carried one. */
  readonly typeName: string | undefined;
  /** `message` of the service exception, when the body carried one. */
  readonly exceptionMessage: string | undefined;
  readonly reason: string;
  readonly detail: string | undefined;
  readonly attempts: number | undefined;
  /** See {@link isRetryable}. */
  readonly retryable: boolean;

  constructor(ctx: ScaleSetApiErrorContext, options?: ErrorOptions) {
    super(formatApiMessage(ctx), options);
    this.retryable =
      ctx.status === undefined
        ? (ctx.transportRetryable ?? true)
        : ctx.status === 429 || (ctx.status >= 500 && ctx.status !== 501);
    this.method = ctx.method;
    this.url = ctx.url;
    this.path = ctx.path;
    this.status = ctx.status;
    this.statusText = ctx.statusText;
    this.activityId = ctx.activityId;
    this.githubRequestId = ctx.githubRequestId;
    this.typeName = ctx.exception?.typeName;
    this.exceptionMessage = ctx.exception?.message;
    this.reason = ctx.reason;
    this.detail = ctx.detail;
    this.attempts = ctx.attempts;
  }

  /** True when the service exception's type name contains `fragment` (§5.9). */
  isException(fragment: string): boolean {
    return this.typeName?.includes(fragment) ?? false;
  }

  override toJSON(): Record<string, unknown> {
    return {
      ...super.toJSON(),
      method: this.method,
      path: this.path,
      status: this.status,
      activityId: this.activityId,
      githubRequestId: this.githubRequestId,
      typeName: this.typeName,
      exceptionMessage: this.exceptionMessage,
      attempts: this.attempts,
    };
  }
}

/** 404 `AgentNotFoundException`: the runner does not exist (or already finished). */
export class RunnerNotFoundError extends ScaleSetApiError {
  override readonly name = 'RunnerNotFoundError';
}

/** 409 `AgentExistsException`: a runner with this name is already registered. */
export class RunnerExistsError extends ScaleSetApiError {
  override readonly name = 'RunnerExistsError';
}

/** `JobStillRunningException`: the runner is busy; remove it later. */
export class JobStillRunningError extends ScaleSetApiError {
  override readonly name = 'JobStillRunningError';
}

/** 401 on a message-queue call, also after one session refresh (§7.4). */
export class MessageQueueTokenExpiredError extends ScaleSetApiError {
  override readonly name = 'MessageQueueTokenExpiredError';
}

/** 409 `RunnerScaleSetSessionConflictException`: another session is active (§7.5). */
export class SessionConflictError extends ScaleSetApiError {
  override readonly name = 'SessionConflictError';
}

/**
 * The message session is gone: 404 `RunnerAdminException` on refresh (evicted) or
 * `RunnerScaleSetSessionExpiredException` on delete. Create a new session.
 */
export class SessionNotFoundError extends ScaleSetApiError {
  override readonly name = 'SessionNotFoundError';
}

/** `RunnerScaleSetNotFoundException`: the scale set does not exist (any more). */
export class ScaleSetNotFoundError extends ScaleSetApiError {
  override readonly name = 'ScaleSetNotFoundError';
}

/** The runner group lookup found no group with that name (§4.1). */
export class RunnerGroupNotFoundError extends ScaleSetApiError {
  override readonly name = 'RunnerGroupNotFoundError';
}

/** Default pause when a rate limit carries no usable Retry-After or reset header. */
export const DEFAULT_RATE_LIMIT_PAUSE_MS = 60_000;

/**
 * 429, or 403 with rate-limit headers, still failing after the retries. `retryAfterMs`
 * says how long to pause (e.g. the worker pauses its queue).
 */
export class RateLimitedError extends ScaleSetApiError {
  override readonly name = 'RateLimitedError';
  readonly retryAfterMs: number;

  constructor(ctx: ScaleSetApiErrorContext, options?: ErrorOptions) {
    super(ctx, options);
    this.retryAfterMs = ctx.retryAfterMs ?? DEFAULT_RATE_LIMIT_PAUSE_MS;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), retryAfterMs: this.retryAfterMs };
  }
}

/** What the error factory needs beyond the context. */
export interface ApiErrorClassification {
  readonly rateLimited: boolean;
  /** Force a class, e.g. MessageQueueTokenExpiredError for queue 401s. */
  readonly forced?: typeof ScaleSetApiError | undefined;
}

const EXCEPTION_CLASSES: readonly (readonly [string, typeof ScaleSetApiError, string])[] = [
  ['AgentExistsException', RunnerExistsError, 'runner exists'],
  ['AgentNotFoundException', RunnerNotFoundError, 'runner not found'],
  ['JobStillRunningException', JobStillRunningError, 'job still running'],
  ['RunnerScaleSetSessionConflictException', SessionConflictError, 'session conflict'],
  ['RunnerScaleSetSessionExpiredException', SessionNotFoundError, 'session not found'],
  ['RunnerScaleSetNotFoundException', ScaleSetNotFoundError, 'scale set not found'],
];

/** Builds the most specific {@link ScaleSetApiError} subclass for a failed call. */
export function createApiError(
  ctx: ScaleSetApiErrorContext,
  classification: ApiErrorClassification,
  options?: ErrorOptions,
): ScaleSetApiError {
  if (classification.forced !== undefined) {
    return new classification.forced(ctx, options);
  }
  const typeName = ctx.exception?.typeName;
  if (typeName !== undefined) {
    for (const [fragment, ErrorClass, reason] of EXCEPTION_CLASSES) {
      if (typeName.includes(fragment)) {
        return new ErrorClass({ ...ctx, reason }, options);
      }
    }
    if (typeName.includes('RunnerAdminException') && ctx.status === 404) {
      return new SessionNotFoundError({ ...ctx, reason: 'session not found' }, options);
    }
  }
  if (classification.rateLimited) {
    return new RateLimitedError({ ...ctx, reason: 'rate limited' }, options);
  }
  return new ScaleSetApiError(ctx, options);
}

/**
 * True for failures worth retrying later: transport errors (no response), 5xx except
 * 501, 429 and other rate limits. Cancellation and 4xx are not retryable.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof RateLimitedError) {
    return true;
  }
  return err instanceof ScaleSetApiError && err.retryable;
}

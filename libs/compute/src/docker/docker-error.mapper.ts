import {
  EngineError,
  EngineImageNotFoundError,
  EnginePermanentError,
  EngineTimeoutError,
  EngineTransientError,
  EngineUnavailableError,
  type EngineErrorContext,
} from '../errors';

/** The Docker API calls the engine makes, named for error messages. */
export type DockerOperation =
  | 'inspect-container'
  | 'create-container'
  | 'start-container'
  | 'remove-container'
  | 'list-containers'
  | 'inspect-image'
  | 'pull-image';

/** Where a failure happened, for classification and messages. */
export interface DockerCallContext {
  readonly operation: DockerOperation;
  /** Runner name, container id or image. */
  readonly resource: string;
  /** Daemon address, for messages. */
  readonly endpoint: string;
  /** Whether the call's own timeout fired. */
  readonly timedOut: boolean;
  /** Whether the caller's signal or the engine's close() aborted the call. */
  readonly aborted?: boolean;
  /** The call's timeout in ms. */
  readonly timeoutMs: number;
  /** Values that must not appear in the resulting error (the JIT config). */
  readonly secrets?: readonly string[];
}

// Errors from the socket layer: the daemon is down, restarting or the socket is not there yet.
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);
const DENIED = new Set(['EACCES', 'EPERM']);

interface RawDockerError {
  message?: unknown;
  name?: unknown;
  code?: unknown;
  statusCode?: unknown;
}

function asRaw(err: unknown): RawDockerError {
  return typeof err === 'object' && err !== null ? err : {};
}

function describe(err: unknown): string {
  return typeof err === 'string' ? err : 'unknown error';
}

/** Replaces every secret in `text` with `[REDACTED]`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  return secrets.reduce(
    (out, secret) => (secret === '' ? out : out.split(secret).join('[REDACTED]')),
    text,
  );
}

/** The daemon's own message, without dockerode's `(HTTP code n) ...` prefix, redacted. */
export function daemonMessage(err: unknown, secrets?: readonly string[]): string {
  const raw = asRaw(err);
  const text = typeof raw.message === 'string' ? raw.message : describe(err);
  return redact(text.replace(/^\(HTTP code \d+\)\s*[^-]*-\s*/, '').trim(), secrets);
}

/**
 * A plain copy of a dockerode error that keeps the message (redacted), `code` and
 * `statusCode` but drops the response body and request details.
 */
export function sanitizedCause(err: unknown, secrets?: readonly string[]): Error {
  const raw = asRaw(err);
  const copy = new Error(
    redact(typeof raw.message === 'string' ? raw.message : describe(err), secrets),
  );
  if (typeof raw.name === 'string') {
    copy.name = raw.name;
  }
  return Object.assign(
    copy,
    typeof raw.code === 'string' ? { code: raw.code } : {},
    typeof raw.statusCode === 'number' ? { statusCode: raw.statusCode } : {},
  );
}

/** Whether `err` is a dockerode HTTP error with this status. */
export function dockerStatus(err: unknown): number | undefined {
  const status = asRaw(err).statusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * Classifies a dockerode failure: daemon unreachable, 5xx and timeouts are transient; image
 * not found, refused requests (4xx) and permission problems are permanent. Callers handle
 * the statuses that mean success (404 on destroy, 409 on create) before calling this.
 */
export function toEngineError(err: unknown, ctx: DockerCallContext): EngineError {
  if (err instanceof EngineError) {
    return err;
  }
  const raw = asRaw(err);
  const base: Omit<EngineErrorContext, 'code'> = {
    engine: 'docker',
    operation: ctx.operation,
    resource: ctx.resource,
    cause: sanitizedCause(err, ctx.secrets),
  };
  const what = `${ctx.operation} ${ctx.resource}`;
  if (ctx.timedOut) {
    return new EngineTimeoutError(ctx.timeoutMs, base);
  }
  if (ctx.aborted === true || raw.name === 'AbortError' || raw.code === 'ABORT_ERR') {
    return new EngineTransientError(`${what} was aborted (caller cancelled or engine closed).`, {
      ...base,
      code: 'ABORTED',
    });
  }
  const status = dockerStatus(err);
  if (status !== undefined) {
    const message = daemonMessage(err, ctx.secrets);
    const withStatus = { ...base, status };
    if (status === 404 && /no such image/i.test(message)) {
      return new EngineImageNotFoundError(ctx.resource, message, withStatus);
    }
    if (status >= 500) {
      return new EngineTransientError(
        `Docker daemon failed on ${what} (HTTP ${status}): ${message}. Will retry.`,
        { ...withStatus, code: 'SERVER_ERROR' },
      );
    }
    if (status === 409) {
      return new EngineTransientError(
        `Docker reported a conflict on ${what}: ${message}. Another change is in progress; will retry.`,
        { ...withStatus, code: 'CONFLICT' },
      );
    }
    const code =
      status === 404
        ? 'NOT_FOUND'
        : status === 401 || status === 403
          ? 'PERMISSION_DENIED'
          : 'REJECTED';
    return new EnginePermanentError(
      `Docker refused ${what} (HTTP ${status}): ${message}. Check the docker engine config.`,
      { ...withStatus, code },
    );
  }
  const sysCode = typeof raw.code === 'string' ? raw.code : undefined;
  if (sysCode !== undefined && DENIED.has(sysCode)) {
    return new EnginePermanentError(
      `Permission denied talking to the Docker daemon at ${ctx.endpoint} (${sysCode}) during ${what}. ` +
        `Give this process access to the socket (docker group) or fix docker_host.`,
      { ...base, code: 'PERMISSION_DENIED' },
    );
  }
  if (sysCode !== undefined && UNREACHABLE.has(sysCode)) {
    return new EngineUnavailableError(
      `Docker daemon at ${ctx.endpoint} is unreachable (${sysCode}) during ${what}. ` +
        `Check that dockerd is running and docker_host points at it; will retry.`,
      base,
    );
  }
  return new EngineTransientError(
    `${what} failed: ${daemonMessage(err, ctx.secrets)}. Will retry.`,
    { ...base, code: 'UNKNOWN' },
  );
}

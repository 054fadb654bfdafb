/**
 * The compute lib's error vocabulary (style.md 9, 11). Every engine throws only these, so the
 * worker maps them to BullMQ retry or `UnrecoverableError` in one place by `retryable`.
 */

/** The engines scaleset knows about; `aws` and `azure` are not implemented yet. */
export type EngineKind = 'docker' | 'gcp' | 'simulated' | 'aws' | 'azure';

/** Machine-readable reason carried by every {@link EngineError}. */
export type EngineErrorCode =
  /** The runner image does not exist locally and could not be pulled. */
  | 'IMAGE_NOT_FOUND'
  /** Pulling the image failed although a local copy exists (pull policy `always`). */
  | 'IMAGE_PULL_FAILED'
  /** The engine options or the runner spec are invalid. */
  | 'INVALID_CONFIG'
  /** A resource with the runner's name exists but does not belong to this deployment/runner. */
  | 'NAME_CONFLICT'
  /** The engine API refused the request (a 4xx other than the ones handled as success). */
  | 'REJECTED'
  /** The engine API answered 404 for something the call needed (network, volume, ...). */
  | 'NOT_FOUND'
  /** The engine API refused access (permissions on the socket, 401/403). */
  | 'PERMISSION_DENIED'
  /** The engine was asked for a kind that is not implemented yet. */
  | 'NOT_IMPLEMENTED'
  /** The engine API could not be reached (connection refused, socket missing, reset). */
  | 'UNAVAILABLE'
  /** The engine API failed on its side (5xx). */
  | 'SERVER_ERROR'
  /** The call did not finish within its timeout. */
  | 'TIMEOUT'
  /** The caller aborted the call, or the engine was closed. */
  | 'ABORTED'
  /** A concurrent change got in the way (409 while removing, name kept changing). */
  | 'CONFLICT'
  /** No capacity for the requested machine in any zone tried (stockout); retried later. */
  | 'CAPACITY'
  /** A cloud quota (CPUs, addresses, disks, instances) would be exceeded; retried later. */
  | 'QUOTA_EXCEEDED'
  /** The cloud API throttled the caller (429, rateLimitExceeded); retried later. */
  | 'RATE_LIMITED'
  /** Anything not recognised; retried by default. */
  | 'UNKNOWN';

/** Structured context every engine error carries. */
export interface EngineErrorContext {
  /** The reason code. */
  readonly code: EngineErrorCode;
  /** Which engine raised it. */
  readonly engine?: EngineKind;
  /** The engine operation, for example `create-container` or `pull-image`. */
  readonly operation?: string;
  /** The resource concerned: runner name, container id or image reference. */
  readonly resource?: string;
  /** HTTP status of the engine API answer, when there was one. */
  readonly status?: number;
  /** The underlying error, already stripped of secrets. */
  readonly cause?: unknown;
}

/**
 * Base class of every compute engine error. `retryable` says whether trying the same call
 * again later can succeed; {@link isPermanentEngineError} is the one place that reads it.
 */
export abstract class EngineError extends Error {
  /** Whether the same call may succeed if retried later. */
  abstract readonly retryable: boolean;
  /** Machine-readable reason. */
  readonly code: EngineErrorCode;
  /** Which engine raised it. */
  readonly engine: EngineKind | undefined;
  /** The engine operation that failed. */
  readonly operation: string | undefined;
  /** The resource concerned. */
  readonly resource: string | undefined;
  /** HTTP status of the engine API answer, when there was one. */
  readonly status: number | undefined;

  constructor(message: string, context: EngineErrorContext) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = context.code;
    this.engine = context.engine;
    this.operation = context.operation;
    this.resource = context.resource;
    this.status = context.status;
  }
}

/** A failure that will not go away by retrying: bad config, missing image, invalid name, 4xx. */
export class EnginePermanentError extends EngineError {
  override readonly retryable = false;
  override readonly name: string = 'EnginePermanentError';
}

/** A failure that may go away by retrying: daemon unreachable, 5xx, timeouts. */
export class EngineTransientError extends EngineError {
  override readonly retryable = true;
  override readonly name: string = 'EngineTransientError';
}

/** The runner image is missing and could not be pulled (or pulling is disabled). */
export class EngineImageNotFoundError extends EnginePermanentError {
  override readonly name: string = 'EngineImageNotFoundError';
  /** The image reference that could not be found. */
  readonly image: string;

  constructor(image: string, reason: string, context: Omit<EngineErrorContext, 'code'> = {}) {
    super(
      `Runner image ${image} is not available: ${reason}. Build or pull it on the Docker host, ` +
        `or fix the image name / pull policy in the engine config.`,
      { ...context, code: 'IMAGE_NOT_FOUND', resource: image },
    );
    this.image = image;
  }
}

/** The engine options or a runner spec are invalid; names the offending field. */
export class EngineConfigError extends EnginePermanentError {
  override readonly name: string = 'EngineConfigError';
  /** Path of the offending field, for example `docker.memory`. */
  readonly field: string;

  constructor(field: string, problem: string, context: Omit<EngineErrorContext, 'code'> = {}) {
    super(`${field}: ${problem}`, { ...context, code: 'INVALID_CONFIG' });
    this.field = field;
  }
}

/** A resource with the runner's name exists but is not this deployment's runner of that name. */
export class EngineNameConflictError extends EnginePermanentError {
  override readonly name: string = 'EngineNameConflictError';

  constructor(
    resourceName: string,
    reason: string,
    context: Omit<EngineErrorContext, 'code'> = {},
  ) {
    super(
      `A resource named ${resourceName} already exists but ${reason}; scaleset never adopts or ` +
        `touches resources it does not own. Remove or rename it.`,
      { ...context, code: 'NAME_CONFLICT', resource: resourceName },
    );
  }
}

/** The configured engine kind has no implementation yet. */
export class EngineNotImplementedError extends EnginePermanentError {
  override readonly name: string = 'EngineNotImplementedError';

  constructor(kind: EngineKind) {
    super(`Compute engine "${kind}" is not implemented yet; set compute.engine to "docker".`, {
      code: 'NOT_IMPLEMENTED',
      engine: kind,
    });
  }
}

/** The engine API (for Docker: the daemon) could not be reached. */
export class EngineUnavailableError extends EngineTransientError {
  override readonly name: string = 'EngineUnavailableError';

  constructor(message: string, context: Omit<EngineErrorContext, 'code'>) {
    super(message, { ...context, code: 'UNAVAILABLE' });
  }
}

/** An engine call did not finish within its timeout. */
export class EngineTimeoutError extends EngineTransientError {
  override readonly name: string = 'EngineTimeoutError';
  /** The timeout that expired, in milliseconds. */
  readonly timeoutMs: number;

  constructor(timeoutMs: number, context: Omit<EngineErrorContext, 'code'>) {
    super(
      `${context.operation ?? 'Engine call'}${context.resource === undefined ? '' : ` for ${context.resource}`} ` +
        `did not finish within ${timeoutMs} ms; the engine API is slow or hung, will retry.`,
      { ...context, code: 'TIMEOUT' },
    );
    this.timeoutMs = timeoutMs;
  }
}

/**
 * No zone tried had capacity for the runner (a stockout in each, or a mix of stockouts and
 * quota refusals). Retryable: capacity comes back, usually within minutes.
 */
export class EngineCapacityError extends EngineTransientError {
  override readonly name: string = 'EngineCapacityError';
  /** The zones (or regions, locations) tried, in order. */
  readonly locations: readonly string[];

  constructor(
    message: string,
    locations: readonly string[],
    context: Omit<EngineErrorContext, 'code'> = {},
  ) {
    super(message, { ...context, code: 'CAPACITY' });
    this.locations = [...locations];
  }
}

/**
 * A cloud quota refused the runner in every location tried. Retryable (runners being deleted
 * free quota), but persistent quota errors mean `max_runners` is above what the project allows.
 */
export class EngineQuotaExceededError extends EngineTransientError {
  override readonly name: string = 'EngineQuotaExceededError';
  /** The zones (or regions, locations) tried, in order. */
  readonly locations: readonly string[];

  constructor(
    message: string,
    locations: readonly string[],
    context: Omit<EngineErrorContext, 'code'> = {},
  ) {
    super(message, { ...context, code: 'QUOTA_EXCEEDED' });
    this.locations = [...locations];
  }
}

/** Whether `err` is one of the compute lib's errors. */
export function isEngineError(err: unknown): err is EngineError {
  return err instanceof EngineError;
}

/**
 * Whether retrying cannot help: true only for {@link EnginePermanentError}s. Anything else,
 * including errors that are not engine errors at all, is treated as retryable (style.md 11).
 */
export function isPermanentEngineError(err: unknown): boolean {
  return err instanceof EngineError && !err.retryable;
}

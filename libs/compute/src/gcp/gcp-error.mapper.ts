import {
  EngineError,
  EnginePermanentError,
  EngineTimeoutError,
  EngineTransientError,
  EngineUnavailableError,
  type EngineErrorCode,
  type EngineErrorContext,
} from '../errors';

/** The Compute API calls the engine makes, named for error messages. */
export type GcpOperation =
  | 'get-instance'
  | 'insert-instance'
  | 'delete-instance'
  | 'list-instances'
  | 'set-metadata'
  | 'get-guest-attributes'
  | 'wait-operation';

/**
 * What a Compute API failure says, from any of its shapes: a `GoogleError` of the REST
 * transport (`code` holding a gRPC code or, with some client versions, the HTTP status;
 * `httpStatusCode`; `reason` from `ErrorInfo`; Compute's legacy `errors[].reason`), a
 * network error (`code: 'ECONNRESET'`), or a failed zone operation (`error.errors[].code`).
 */
export interface GcpFailure {
  /** HTTP status, when a response (or a failed operation) carried one. */
  readonly httpStatus?: number;
  /** gRPC status code 0-16, when the client mapped the failure to one. */
  readonly grpcCode?: number;
  /** Machine-readable reasons: `ZONE_RESOURCE_POOL_EXHAUSTED`, `quotaExceeded`, ... */
  readonly reasons: readonly string[];
  /** The API's message, redacted and shortened. */
  readonly message: string;
  /** A system error code (`ECONNREFUSED`), when the request never got an answer. */
  readonly sysCode?: string;
}

/** How the engine reacts to a failure, before it becomes an {@link EngineError}. */
export type GcpFailureKind =
  | 'stockout'
  | 'quota'
  | 'rate-limited'
  | 'not-found'
  | 'already-exists'
  | 'conflict'
  | 'permission-denied'
  | 'invalid'
  | 'unavailable'
  | 'server-error'
  | 'timeout'
  | 'cancelled'
  | 'unknown';

/** Where a failure happened, for classification and messages. */
export interface GcpCallContext {
  readonly operation: GcpOperation;
  /** Instance name (or `owner=...` for a list). */
  readonly resource: string;
  /** Zone of the call, when it has one. */
  readonly zone?: string;
  /** Whether the call's own timeout fired. */
  readonly timedOut?: boolean;
  /** Whether the caller's signal or the engine's close() aborted the call. */
  readonly aborted?: boolean;
  /** The call's timeout in ms. */
  readonly timeoutMs?: number;
  /** Values that must not appear in the resulting error (the JIT config). */
  readonly secrets?: readonly string[];
  /** Whether the VMs run as a service account (names the extra IAM role in messages). */
  readonly serviceAccount?: boolean;
}

/** The role scaleset's identity needs to create and delete VMs. */
export const GCP_INSTANCE_ADMIN_ROLE = 'roles/compute.instanceAdmin.v1';
/** The role it needs on the runner VMs' service account to attach it. */
export const GCP_SERVICE_ACCOUNT_USER_ROLE = 'roles/iam.serviceAccountUser';

const MAX_MESSAGE = 400;
// A JIT config is long base64; an API message that echoes part of a request body (a bad
// metadata value, say) could hold a piece of it that exact-match redaction would miss.
const LONG_TOKEN = /[A-Za-z0-9+/_-]{64,}={0,2}/g;
const STOCKOUT = new Set([
  'ZONE_RESOURCE_POOL_EXHAUSTED',
  'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS',
  'RESOURCE_POOL_EXHAUSTED',
  'STOCKOUT',
  'resourcePoolExhausted',
]);
const QUOTA = new Set(['QUOTA_EXCEEDED', 'quotaExceeded', 'QUOTA_LIMIT_EXCEEDED']);
const RATE_LIMIT = new Set([
  'rateLimitExceeded',
  'userRateLimitExceeded',
  'RATE_LIMIT_EXCEEDED',
  'RATE_LIMIT_EXCEEDED_WITH_DETAILS',
]);
const NOT_FOUND = new Set(['notFound', 'RESOURCE_NOT_FOUND', 'NOT_FOUND']);
const ALREADY_EXISTS = new Set(['alreadyExists', 'RESOURCE_ALREADY_EXISTS', 'ALREADY_EXISTS']);
// A concurrent change: fingerprint mismatch (412), or the resource is busy with another
// operation (a delete while the insert still runs).
const CONFLICT = new Set([
  'conditionNotMet',
  'CONDITION_NOT_MET',
  'resourceNotReady',
  'RESOURCE_NOT_READY',
  'resourceInUseByAnotherResource',
  'RESOURCE_IN_USE_BY_ANOTHER_RESOURCE',
]);
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);
// gRPC status codes (google.rpc.Code).
const GRPC = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

type Raw = Record<string, unknown>;

function asRaw(value: unknown): Raw {
  return typeof value === 'object' && value !== null ? (value as Raw) : {};
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Replaces every secret, and anything that looks like a long token, with `[REDACTED]`. */
export function redactGcp(text: string, secrets: readonly string[] = []): string {
  const exact = secrets.reduce((out, secret) => {
    if (secret === '') {
      return out;
    }
    // JSON encoders may escape "/" in base64 as "\/".
    return out
      .split(secret)
      .join('[REDACTED]')
      .split(secret.replace(/\//g, '\\/'))
      .join('[REDACTED]');
  }, text);
  const scrubbed = exact.replace(LONG_TOKEN, '[REDACTED]');
  return scrubbed.length > MAX_MESSAGE ? `${scrubbed.slice(0, MAX_MESSAGE)}…` : scrubbed;
}

function reasonsOf(raw: Raw): string[] {
  const reasons: string[] = [];
  const add = (value: unknown): void => {
    const s = str(value);
    if (s !== undefined && !reasons.includes(s)) {
      reasons.push(s);
    }
  };
  add(raw['reason']);
  for (const list of [raw['errors'], raw['statusDetails'], raw['details']]) {
    if (Array.isArray(list)) {
      for (const item of list) {
        const entry = asRaw(item);
        add(entry['reason']);
        // Operation errors name their reason in `code` (ZONE_RESOURCE_POOL_EXHAUSTED).
        if (typeof entry['code'] === 'string') {
          add(entry['code']);
        }
      }
    }
  }
  return reasons;
}

/** Reads any error the Compute client can throw into a {@link GcpFailure}. */
export function describeGcpFailure(err: unknown, secrets: readonly string[] = []): GcpFailure {
  if (typeof err === 'string') {
    return { reasons: [], message: redactGcp(err, secrets) };
  }
  const raw = asRaw(err);
  const code = raw['code'];
  let httpStatus: number | undefined;
  let grpcCode: number | undefined;
  for (const candidate of [
    raw['httpStatusCode'],
    raw['status'],
    asRaw(raw['response'])['status'],
  ]) {
    if (typeof candidate === 'number' && candidate >= 100 && candidate < 600) {
      httpStatus = candidate;
      break;
    }
  }
  // Depending on the client version, `code` is the gRPC status (0-16) or the HTTP status.
  if (typeof code === 'number') {
    if (code >= 100 && code < 600) {
      httpStatus ??= code;
    } else if (code >= 0 && code <= 16) {
      grpcCode = code;
    }
  }
  const sysCode =
    typeof code === 'string' ? code : (str(asRaw(raw['cause'])['code']) ?? str(raw['errno']));
  return {
    ...(httpStatus === undefined ? {} : { httpStatus }),
    ...(grpcCode === undefined ? {} : { grpcCode }),
    reasons: reasonsOf(raw),
    message: redactGcp(str(raw['message']) ?? 'unknown error', secrets),
    ...(sysCode === undefined ? {} : { sysCode }),
  };
}

/**
 * The failure of a finished zone operation (`status: DONE` with `error`), or `null` when it
 * succeeded. Operation errors name their reason in `error.errors[].code`.
 */
export function operationFailure(
  operation: unknown,
  secrets: readonly string[] = [],
): GcpFailure | null {
  const op = asRaw(operation);
  const errors = asRaw(op['error'])['errors'];
  if (!Array.isArray(errors) || errors.length === 0) {
    return null;
  }
  const messages = errors
    .map((e) => str(asRaw(e)['message']))
    .filter((m): m is string => m !== undefined);
  const httpStatus = op['httpErrorStatusCode'];
  return {
    ...(typeof httpStatus === 'number' && httpStatus >= 100 ? { httpStatus } : {}),
    reasons: reasonsOf({ errors }),
    message: redactGcp(
      messages.join('; ') || str(op['httpErrorMessage']) || 'operation failed',
      secrets,
    ),
  };
}

function hasAny(reasons: readonly string[], set: ReadonlySet<string>): boolean {
  return reasons.some((r) => set.has(r));
}

/** Sorts a failure into what the engine does about it (next zone, success, retry, give up). */
export function classifyGcpFailure(f: GcpFailure): GcpFailureKind {
  const { reasons, httpStatus, grpcCode, message } = f;
  if (
    hasAny(reasons, STOCKOUT) ||
    /ZONE_RESOURCE_POOL_EXHAUSTED|does not have enough resources available/i.test(message)
  ) {
    return 'stockout';
  }
  if (hasAny(reasons, RATE_LIMIT) || /rate limit exceeded|per minute/i.test(message)) {
    return 'rate-limited';
  }
  if (hasAny(reasons, QUOTA) || /QUOTA_EXCEEDED|quota '[^']*' exceeded/i.test(message)) {
    return 'quota';
  }
  if (hasAny(reasons, ALREADY_EXISTS) || httpStatus === 409 || grpcCode === GRPC.ALREADY_EXISTS) {
    return 'already-exists';
  }
  if (hasAny(reasons, CONFLICT) || httpStatus === 412) {
    return 'conflict';
  }
  if (hasAny(reasons, NOT_FOUND) || httpStatus === 404 || grpcCode === GRPC.NOT_FOUND) {
    return 'not-found';
  }
  if (httpStatus === 429 || grpcCode === GRPC.RESOURCE_EXHAUSTED) {
    return 'rate-limited';
  }
  if (
    httpStatus === 401 ||
    httpStatus === 403 ||
    grpcCode === GRPC.PERMISSION_DENIED ||
    grpcCode === GRPC.UNAUTHENTICATED
  ) {
    return 'permission-denied';
  }
  if (httpStatus === 408 || grpcCode === GRPC.DEADLINE_EXCEEDED) {
    return 'timeout';
  }
  if (httpStatus !== undefined && httpStatus >= 500) {
    return httpStatus === 503 ? 'unavailable' : 'server-error';
  }
  if (httpStatus !== undefined && httpStatus >= 400) {
    return 'invalid';
  }
  if (grpcCode === GRPC.INVALID_ARGUMENT || grpcCode === GRPC.FAILED_PRECONDITION) {
    return 'invalid';
  }
  if (grpcCode === GRPC.CANCELLED) {
    return 'cancelled';
  }
  if (grpcCode === GRPC.UNAVAILABLE) {
    return 'unavailable';
  }
  if (grpcCode === GRPC.INTERNAL || grpcCode === GRPC.ABORTED || grpcCode === GRPC.UNKNOWN) {
    return 'server-error';
  }
  if (f.sysCode !== undefined && UNREACHABLE.has(f.sysCode)) {
    return 'unavailable';
  }
  return 'unknown';
}

/** Which `engine.gcp.*` setting a refused or not-found resource points at, from the message. */
export function offendingField(message: string): string | undefined {
  const rules: [RegExp, string][] = [
    [/\/images\/|\bimage\b|sourceImage/i, 'engine.gcp.image'],
    [/machineTypes?\/|machine ?type/i, 'engine.gcp.machine_type'],
    [/diskTypes?\/|disk ?type/i, 'engine.gcp.disk_type'],
    [/subnetworks?\/|subnetwork/i, 'engine.gcp.subnet'],
    [/\/networks\/|\bnetwork\b/i, 'engine.gcp.network'],
    [/serviceAccounts?|service account/i, 'engine.gcp.service_account'],
    [/\/zones\/|\bzone\b/i, 'engine.gcp.zones'],
    [/\bprojects?\b/i, 'engine.gcp.project'],
  ];
  return rules.find(([re]) => re.test(message))?.[1];
}

/** A plain copy of a failure that keeps only what is safe to log: no request, no body. */
export function sanitizedGcpCause(f: GcpFailure): Error {
  const copy: Error & {
    status?: number;
    grpcCode?: number;
    reasons?: readonly string[];
    code?: string;
  } = new Error(f.message);
  copy.name = 'GcpApiError';
  if (f.httpStatus !== undefined) {
    copy.status = f.httpStatus;
  }
  if (f.grpcCode !== undefined) {
    copy.grpcCode = f.grpcCode;
  }
  if (f.reasons.length > 0) {
    copy.reasons = [...f.reasons];
  }
  if (f.sysCode !== undefined) {
    copy.code = f.sysCode;
  }
  return copy;
}

/**
 * Maps a Compute API failure to the compute lib's errors: throttling, 5xx, unreachable API and
 * timeouts are transient; permission problems, a bad image, machine type or other refused
 * input are permanent and name the setting and IAM role to fix. Stockout and quota reach here
 * only when the caller does not fall back to another zone (a single failed call); the engine
 * turns them into {@link EngineCapacityError}/{@link EngineQuotaExceededError} across zones.
 */
export function toGcpEngineError(err: unknown, ctx: GcpCallContext): EngineError {
  if (err instanceof EngineError) {
    return err;
  }
  const failure = describeGcpFailure(err, ctx.secrets);
  const base: Omit<EngineErrorContext, 'code'> = {
    engine: 'gcp',
    operation: ctx.operation,
    resource: ctx.resource,
    cause: sanitizedGcpCause(failure),
    ...(failure.httpStatus === undefined ? {} : { status: failure.httpStatus }),
  };
  if (ctx.timedOut === true) {
    return new EngineTimeoutError(ctx.timeoutMs ?? 0, base);
  }
  if (ctx.aborted === true) {
    return new EngineTransientError(
      `${ctx.operation} ${ctx.resource} was aborted (caller cancelled or engine closed).`,
      { ...base, code: 'ABORTED' },
    );
  }
  return failureToEngineError(failure, ctx, base);
}

/** {@link toGcpEngineError} for a failure already described (for example a failed operation). */
export function failureToEngineError(
  failure: GcpFailure,
  ctx: GcpCallContext,
  base: Omit<EngineErrorContext, 'code'> = {
    engine: 'gcp',
    operation: ctx.operation,
    resource: ctx.resource,
    cause: sanitizedGcpCause(failure),
    ...(failure.httpStatus === undefined ? {} : { status: failure.httpStatus }),
  },
): EngineError {
  const where = `${ctx.operation} ${ctx.resource}${ctx.zone === undefined ? '' : ` in ${ctx.zone}`}`;
  const status = failure.httpStatus === undefined ? '' : ` (HTTP ${failure.httpStatus})`;
  const what = `${where}${status}: ${failure.message.replace(/[.\s]+$/, '')}`;
  const transient = (code: EngineErrorCode, advice: string): EngineError =>
    new EngineTransientError(`Compute API failed on ${what}. ${advice}`, { ...base, code });
  const kind = classifyGcpFailure(failure);
  switch (kind) {
    case 'stockout':
      return transient(
        'CAPACITY',
        'The zone is out of capacity for this machine type; will retry.',
      );
    case 'quota':
      return transient(
        'QUOTA_EXCEEDED',
        'A quota is exhausted; will retry. Raise the quota or lower max_runners if it persists.',
      );
    case 'rate-limited':
      return transient('RATE_LIMITED', 'The Compute API throttled the request; will retry.');
    case 'timeout':
      return new EngineTimeoutError(ctx.timeoutMs ?? 0, base);
    case 'cancelled':
      return transient('ABORTED', 'The request was cancelled; will retry.');
    case 'unavailable':
      return new EngineUnavailableError(
        `Compute API is unreachable on ${what}. Check network access to the API (api_endpoint); will retry.`,
        base,
      );
    case 'server-error':
      return transient('SERVER_ERROR', 'Compute Engine failed on its side; will retry.');
    case 'conflict':
    case 'already-exists':
      return transient('CONFLICT', 'A concurrent change got in the way; will retry.');
    case 'permission-denied': {
      const roles = ctx.serviceAccount
        ? `${GCP_INSTANCE_ADMIN_ROLE} on the project and ${GCP_SERVICE_ACCOUNT_USER_ROLE} on the runner service account (engine.gcp.service_account)`
        : `${GCP_INSTANCE_ADMIN_ROLE} on the project`;
      return new EnginePermanentError(
        `Compute API refused ${what}. Grant scaleset's identity (Application Default Credentials) ${roles}, ` +
          `and check engine.gcp.project.`,
        { ...base, code: 'PERMISSION_DENIED' },
      );
    }
    case 'not-found':
    case 'invalid': {
      const field = offendingField(failure.message);
      const code: EngineErrorCode =
        field === 'engine.gcp.image'
          ? 'IMAGE_NOT_FOUND'
          : kind === 'not-found'
            ? 'NOT_FOUND'
            : 'REJECTED';
      const fix =
        field === 'engine.gcp.image'
          ? 'Check engine.gcp.image: a self-link, projects/<p>/global/images/<name> or projects/<p>/global/images/family/<family> that scaleset may use.'
          : field === undefined
            ? 'Check the engine.gcp settings.'
            : `Check ${field}.`;
      return new EnginePermanentError(`Compute API refused ${what}. ${fix}`, { ...base, code });
    }
    case 'unknown':
      return transient('UNKNOWN', 'Will retry.');
  }
}

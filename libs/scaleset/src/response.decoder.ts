import {
  createApiError,
  DEFAULT_RATE_LIMIT_PAUSE_MS,
  type ScaleSetApiError,
  type ScaleSetApiErrorContext,
  type ServiceException,
} from './errors';
import { parseRetryAfter, type HttpRequest, type HttpResponse } from './http.transport';
import { safePath, safeUrl } from './request-url.builder';
import type { SecretRedactor } from './secret.redactor';

const MAX_DETAIL = 2_000;

/** How to report a response that is not the expected success. */
export interface ResponseErrorOptions {
  /** What failed, e.g. `failed to get runner`; defaults to `unexpected status code`. */
  readonly reason?: string;
  /**
   * The success body of this endpoint carries a secret (token endpoints, JIT config,
   * sessions): never copy raw body text into the error, only a parsed exception.
   */
  readonly secretBody?: boolean;
  /** Always use this class (e.g. MessageQueueTokenExpiredError for queue 401s). */
  readonly forced?: typeof ScaleSetApiError;
}

function header(res: HttpResponse, name: string): string | undefined {
  return res.headers.get(name) ?? undefined;
}

function truncate(text: string): string {
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}… (truncated)` : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a key the way Go's decoder does: exact match first, then case-insensitive. */
export function pickField(obj: Record<string, unknown>, key: string): unknown {
  if (Object.hasOwn(obj, key)) {
    return obj[key];
  }
  const lower = key.toLowerCase();
  for (const [k, v] of Object.entries(obj)) {
    if (k.toLowerCase() === lower) {
      return v;
    }
  }
  return undefined;
}

function rateLimitDelay(res: HttpResponse): number | undefined {
  const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
  if (retryAfter !== undefined) {
    return retryAfter;
  }
  const reset = res.headers.get('x-ratelimit-reset');
  if (reset !== null && /^\d+$/.test(reset.trim())) {
    return Math.max(0, Number(reset.trim()) * 1000 - Date.now());
  }
  return undefined;
}

function isRateLimited(res: HttpResponse): boolean {
  if (res.status === 429) {
    return true;
  }
  return (
    res.status === 403 &&
    (res.headers.get('x-ratelimit-remaining') === '0' || res.headers.get('retry-after') !== null)
  );
}

function describeBody(
  res: HttpResponse,
  secretBody: boolean,
  forced: boolean,
): { detail: string; exception?: ServiceException } {
  const body = res.body;
  if (body.trim() === '' || res.headers.get('content-length') === '0') {
    return { detail: 'unknown error' };
  }
  const contentType = res.headers.get('content-type') ?? '';
  if (!secretBody && (forced || contentType.includes('text/plain'))) {
    return { detail: body };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return {
      detail: secretBody
        ? 'failed to unmarshal error response body (body withheld: the endpoint returns secrets)'
        : `failed to unmarshal error response body: ${JSON.stringify(body)}`,
    };
  }
  if (!isRecord(parsed)) {
    return { detail: secretBody ? 'unexpected error response body' : body };
  }
  const typeName = pickField(parsed, 'typeName');
  const message = pickField(parsed, 'message');
  const messageText = typeof message === 'string' ? message : '';
  if (typeof typeName === 'string' && typeName !== '') {
    return { detail: `${typeName}: ${messageText}`, exception: { typeName, message: messageText } };
  }
  if (messageText !== '') {
    return { detail: messageText };
  }
  return { detail: secretBody ? 'unexpected error response body' : body };
}

/** Builds the classified, redacted error for a response that is not the expected success. */
export function errorFromResponse(
  request: HttpRequest,
  response: HttpResponse,
  redactor: SecretRedactor,
  options: ResponseErrorOptions = {},
): ScaleSetApiError {
  const secretBody = options.secretBody ?? false;
  const described = describeBody(response, secretBody, options.forced !== undefined);
  const rateLimited = isRateLimited(response);
  const exception =
    described.exception === undefined
      ? undefined
      : {
          typeName: redactor.redact(described.exception.typeName),
          message: redactor.redact(described.exception.message),
        };
  const ctx: ScaleSetApiErrorContext = {
    method: request.method,
    url: safeUrl(request.url),
    path: safePath(request.url),
    status: response.status,
    statusText: response.statusText,
    activityId: header(response, 'activityid'),
    githubRequestId: header(response, 'x-github-request-id'),
    exception,
    reason: options.reason ?? 'unexpected status code',
    detail: truncate(redactor.redact(described.detail)),
    attempts: response.attempts,
    retryAfterMs: rateLimited
      ? (rateLimitDelay(response) ?? DEFAULT_RATE_LIMIT_PAUSE_MS)
      : undefined,
  };
  return createApiError(
    ctx,
    options.forced === undefined ? { rateLimited } : { rateLimited, forced: options.forced },
  );
}

/** Builds an error for a success status whose body is unusable (bad JSON, wrong shape). */
export function errorFromBadBody(
  request: HttpRequest,
  response: HttpResponse,
  reason: string,
  detail: string,
): ScaleSetApiError {
  return createApiError(
    {
      method: request.method,
      url: safeUrl(request.url),
      path: safePath(request.url),
      status: response.status,
      statusText: response.statusText,
      activityId: header(response, 'activityid'),
      githubRequestId: header(response, 'x-github-request-id'),
      reason,
      detail,
      attempts: response.attempts,
    },
    { rateLimited: false },
  );
}

/**
 * Parses a success body as JSON. The error never quotes the body (it may hold secrets);
 * an empty body is reported as `EOF`, like the Go client.
 */
export function parseJsonBody(request: HttpRequest, response: HttpResponse): unknown {
  if (response.body.trim() === '') {
    throw errorFromBadBody(request, response, 'failed to decode response body', 'EOF');
  }
  try {
    return JSON.parse(response.body) as unknown;
  } catch {
    throw errorFromBadBody(
      request,
      response,
      'failed to decode response body',
      `invalid JSON (${response.body.length} characters)`,
    );
  }
}

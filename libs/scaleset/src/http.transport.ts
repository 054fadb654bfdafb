import { rootCertificates } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, EnvHttpProxyAgent, fetch, type Dispatcher } from 'undici';
import { createApiError } from './errors';
import { safePath, safeUrl } from './request-url.builder';
import type { SecretRedactor } from './secret.redactor';

/** Pino-compatible logger the client writes to (all fields are secret-free). */
export interface ScaleSetLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A logger that drops everything. */
export const NOOP_LOGGER: ScaleSetLogger = Object.freeze({
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
});

/**
 * One finished request (after its retries), for metrics. Carries no URL host, query, header or
 * body: only the method, the path with ids replaced, the status and timings.
 */
export interface ScaleSetRequestEvent {
  readonly method: HttpMethod;
  /** The path with numeric ids, GUIDs and long tokens replaced by `{id}`. */
  readonly endpoint: string;
  /** Final status; 0 when no response arrived. */
  readonly status: number;
  readonly attempts: number;
  /** Wall time including retries and waits. */
  readonly durationMs: number;
  /** `x-ratelimit-remaining`, when the response had it. */
  readonly rateLimitRemaining?: number;
  /** `x-ratelimit-resource`, when the response had it. */
  readonly rateLimitResource?: string;
}

/** Observer of finished requests (`ScaleSetClientOptions.onRequest`); must not throw. */
export type ScaleSetRequestObserver = (event: ScaleSetRequestEvent) => void;

const ID_SEGMENT =
  /^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-z0-9_-]{20,})$/i;

/** A low-cardinality name of a request path: `/_apis/runtime/runnerscalesets/{id}`. */
export function endpointTemplate(url: URL): string {
  const segments = url.pathname
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => (ID_SEGMENT.test(segment) ? '{id}' : segment));
  return `/${segments.join('/')}`;
}

/** Retry policy of the HTTP layer (§3.5). */
export interface RetryPolicy {
  /** Retries after the first attempt; 0 disables retries. */
  readonly max: number;
  /** Backoff before retry n is `waitMinMs × 2^n`, capped at `waitMaxMs`. */
  readonly waitMinMs: number;
  readonly waitMaxMs: number;
  /** A `Retry-After` longer than this is not waited out in-process; the call fails instead. */
  readonly retryAfterMaxMs: number;
}

/** Defaults of §3.5, plus a cap on in-process Retry-After waits. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  max: 4,
  waitMinMs: 1_000,
  waitMaxMs: 30_000,
  retryAfterMaxMs: 60_000,
});

/** Per-attempt timeout; longer than the ~50 s long poll. */
export const DEFAULT_TIMEOUT_MS = 300_000;

/** HTTP methods used by the protocol. */
export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** One logical request; the body is replayed on every attempt. */
export interface HttpRequest {
  readonly method: HttpMethod;
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Statuses retried in addition to 429/5xx (runner-registration: 401, 403). */
  readonly extraRetryStatuses?: readonly number[] | undefined;
}

/** Read access to response headers (case-insensitive names). */
export interface ResponseHeaders {
  get(name: string): string | null;
}

/** The last response of a request, body fully read, BOM stripped. */
export interface HttpResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: ResponseHeaders;
  readonly body: string;
  readonly attempts: number;
}

/** Transport settings: TLS trust and proxy. */
export interface DispatcherOptions {
  readonly caCert?: string | undefined;
  readonly proxy: 'env' | 'none';
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * Builds the undici dispatcher: an `EnvHttpProxyAgent` reading HTTPS_PROXY/HTTP_PROXY/
 * NO_PROXY from `env` (not implicitly from `process.env`), and an extra CA bundle that
 * is trusted in addition to the public roots.
 */
export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const tls =
    options.caCert === undefined ? undefined : { ca: [...rootCertificates, options.caCert] };
  if (options.proxy === 'none') {
    return tls === undefined ? new Agent() : new Agent({ connect: tls });
  }
  const env = options.env;
  // Empty strings (not undefined) stop undici from falling back to process.env.
  const proxyEnv = {
    httpProxy: env.http_proxy ?? env.HTTP_PROXY ?? '',
    httpsProxy: env.https_proxy ?? env.HTTPS_PROXY ?? '',
    noProxy: env.no_proxy ?? env.NO_PROXY ?? '',
  };
  return tls === undefined
    ? new EnvHttpProxyAgent(proxyEnv)
    : new EnvHttpProxyAgent({ ...proxyEnv, connect: tls, requestTls: tls, proxyTls: tls });
}

/** Parses `Retry-After` (seconds or HTTP date) into milliseconds from now. */
export function parseRetryAfter(
  value: string | null,
  now: number = Date.now(),
): number | undefined {
  if (value === null) {
    return undefined;
  }
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) {
    return Number(trimmed) * 1000;
  }
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** True for statuses the HTTP layer retries by default: 0, 429, 5xx except 501. */
export function isRetryableStatus(status: number): boolean {
  return status === 0 || status === 429 || (status >= 500 && status !== 501);
}

/** Exponential backoff before retry `n` (0-based) with up to 10 % jitter. */
export function backoffMs(
  n: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const base = Math.min(policy.waitMinMs * 2 ** n, policy.waitMaxMs);
  return Math.round(base + base * 0.1 * random());
}

// TLS verification failures, bad URLs and redirect loops will not fix themselves (§3.5).
const PERMANENT_TRANSPORT = /CERT|ERR_TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_INVALID|redirect/i;

function transportFailure(err: unknown): { text: string; retryable: boolean } {
  const texts: string[] = [];
  let retryable = true;
  let current: unknown = err;
  // Duck-typed: errors raised by Node's core (sockets, TLS) may come from another realm.
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const { code, message, cause } = current as {
      code?: unknown;
      message?: unknown;
      cause?: unknown;
    };
    const codeText = typeof code === 'string' ? code : '';
    const messageText = typeof message === 'string' ? message : '';
    if (PERMANENT_TRANSPORT.test(codeText) || PERMANENT_TRANSPORT.test(messageText)) {
      retryable = false;
    }
    const text = messageText !== '' ? messageText : codeText;
    if (text !== '') {
      texts.push(codeText !== '' && !text.includes(codeText) ? `${text} (${codeText})` : text);
    }
    current = cause;
  }
  return { text: texts.join(': ') || 'unknown transport error', retryable };
}

/**
 * Retrying HTTP layer on undici `fetch` (§3.5): bounded retries with exponential backoff
 * and jitter, `Retry-After` on 429/503, a timeout per attempt, and cancellation that is
 * never retried. It returns the last response whatever its status; it throws only when
 * no response arrived (a {@link ScaleSetApiError} without status) or when the caller's
 * signal aborted (the signal's reason, like `fetch`).
 */
export class HttpTransport {
  readonly #dispatcher: Dispatcher;
  readonly #retry: RetryPolicy;
  readonly #timeoutMs: number;
  readonly #logger: ScaleSetLogger;
  readonly #redactor: SecretRedactor;
  readonly #onRequest: ScaleSetRequestObserver | undefined;
  /** Aborted by {@link close}: no request or retry wait outlives the client. */
  readonly #closing = new AbortController();

  constructor(options: {
    dispatcher: Dispatcher;
    retry: RetryPolicy;
    timeoutMs: number;
    logger: ScaleSetLogger;
    redactor: SecretRedactor;
    onRequest?: ScaleSetRequestObserver | undefined;
  }) {
    this.#dispatcher = options.dispatcher;
    this.#retry = options.retry;
    this.#timeoutMs = options.timeoutMs;
    this.#logger = options.logger;
    this.#redactor = options.redactor;
    this.#onRequest = options.onRequest;
  }

  /** Sends `request`, retrying per the policy; see the class comment for outcomes. */
  async send(input: HttpRequest): Promise<HttpResponse> {
    if (this.#onRequest === undefined) {
      return this.#send(input);
    }
    const started = performance.now();
    let response: HttpResponse | undefined;
    try {
      response = await this.#send(input);
      return response;
    } finally {
      this.#report(input, response, started);
    }
  }

  #report(input: HttpRequest, response: HttpResponse | undefined, started: number): void {
    const remaining = Number(response?.headers.get('x-ratelimit-remaining') ?? NaN);
    const resource = response?.headers.get('x-ratelimit-resource') ?? null;
    try {
      this.#onRequest?.({
        method: input.method,
        endpoint: endpointTemplate(input.url),
        status: response?.status ?? 0,
        attempts: response?.attempts ?? 0,
        durationMs: performance.now() - started,
        ...(Number.isFinite(remaining) ? { rateLimitRemaining: remaining } : {}),
        ...(resource === null ? {} : { rateLimitResource: resource }),
      });
    } catch {
      // An observer never breaks a request.
    }
  }

  async #send(input: HttpRequest): Promise<HttpResponse> {
    const signal =
      input.signal === undefined
        ? this.#closing.signal
        : AbortSignal.any([input.signal, this.#closing.signal]);
    const request: HttpRequest = { ...input, signal };
    const path = safePath(request.url);
    for (let attempt = 1; ; attempt++) {
      signal.throwIfAborted();
      const retriesLeft = attempt <= this.#retry.max;
      let waitMs: number | undefined;
      try {
        const response = await this.#attempt(request, attempt);
        const retryable =
          isRetryableStatus(response.status) ||
          (request.extraRetryStatuses?.includes(response.status) ?? false);
        if (!retryable || !retriesLeft) {
          this.#logger.debug(
            { method: request.method, path, status: response.status, attempt },
            'scale set API response',
          );
          return response;
        }
        waitMs = backoffMs(attempt - 1, this.#retry);
        if (response.status === 429 || response.status === 503) {
          const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
          if (retryAfter !== undefined && retryAfter > this.#retry.retryAfterMaxMs) {
            // Too long to hold a call open; the caller gets a RateLimitedError with
            // retryAfterMs and can pause its own work instead.
            return response;
          }
          waitMs = retryAfter ?? waitMs;
        }
        this.#logger.warn(
          { method: request.method, path, status: response.status, attempt, waitMs },
          'retrying scale set API request',
        );
      } catch (err) {
        signal.throwIfAborted();
        const failure = transportFailure(err);
        const text = this.#redactor.redact(failure.text);
        if (!failure.retryable || !retriesLeft) {
          throw createApiError(
            {
              method: request.method,
              url: safeUrl(request.url),
              path,
              reason: retriesLeft ? text : `giving up after ${attempt} attempt(s): ${text}`,
              attempts: attempt,
              transportRetryable: failure.retryable,
            },
            { rateLimited: false },
            { cause: err },
          );
        }
        waitMs = backoffMs(attempt - 1, this.#retry);
        this.#logger.warn(
          { method: request.method, path, attempt, waitMs, error: text },
          'retrying scale set API request after transport error',
        );
      }
      try {
        await sleep(waitMs, undefined, { signal });
      } catch (err) {
        signal.throwIfAborted();
        throw err;
      }
    }
  }

  async #attempt(request: HttpRequest, attempt: number): Promise<HttpResponse> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal =
      request.signal === undefined ? timeout : AbortSignal.any([request.signal, timeout]);
    try {
      const response = await fetch(request.url, {
        method: request.method,
        headers: request.headers,
        body: request.body ?? null,
        signal,
        dispatcher: this.#dispatcher,
      });
      const bytes = Buffer.from(await response.arrayBuffer());
      let body = bytes.toString('utf8');
      if (body.charCodeAt(0) === 0xfeff) {
        body = body.slice(1);
      }
      return {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
        body,
        attempts: attempt,
      };
    } catch (err) {
      if (timeout.aborted && request.signal?.aborted !== true) {
        throw new Error(`timed out after ${this.#timeoutMs} ms`, { cause: err });
      }
      throw err;
    }
  }

  /** Aborts in-flight requests and retry waits, then closes the connections. */
  async close(): Promise<void> {
    this.#closing.abort(new Error('the scale set client was closed'));
    await this.#dispatcher.close();
  }
}

import type { GitHubConfigUrl } from './config-url.parser';
import { isLoopbackHost } from '@app/config';
import type { GitHubCredentialSource } from './github-credential.source';
import type { HttpRequest, HttpResponse, HttpTransport, ScaleSetLogger } from './http.transport';
import { errorFromBadBody, errorFromResponse, parseJsonBody, pickField } from './response.decoder';
import type { SecretRedactor } from './secret.redactor';

/** The Actions service URL and the admin token that authorises calls to it (§2.4). */
export interface AdminConnection {
  readonly serviceUrl: string;
  readonly token: string;
  /** `exp` of the admin JWT, in ms since the epoch. */
  readonly expiresAtMs: number;
}

/** Refresh when less than this is left before `exp` (§2.5). */
export const ADMIN_TOKEN_REFRESH_MARGIN_MS = 60_000;

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Reads `exp` (ms) from a JWT without verifying it; undefined when it is not one. */
export function jwtExpiryMs(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) {
    return undefined;
  }
  const [headerPart = '', claimsPart = ''] = parts;
  if (!BASE64URL.test(headerPart) || !BASE64URL.test(claimsPart)) {
    return undefined;
  }
  try {
    const header: unknown = JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8'));
    const claims: unknown = JSON.parse(Buffer.from(claimsPart, 'base64url').toString('utf8'));
    if (typeof header !== 'object' || header === null || Array.isArray(header)) {
      return undefined;
    }
    if (typeof (header as Record<string, unknown>).alg !== 'string') {
      return undefined;
    }
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
      return undefined;
    }
    const exp = (claims as Record<string, unknown>).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves `promise`, or rejects with the signal's reason as soon as it aborts. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) {
    return promise;
  }
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error('operation failed', { cause: err }));
      },
    );
  });
}

/**
 * Runs the token chain (credential → registration token → `actions/runner-registration`)
 * lazily and caches the admin connection until it is within 60 s of `exp` (§2.5).
 * Concurrent callers share one refresh; a failed refresh keeps the previous connection.
 */
export class AdminTokenProvider {
  readonly #configUrl: GitHubConfigUrl;
  readonly #credentials: GitHubCredentialSource;
  readonly #transport: HttpTransport;
  readonly #userAgent: () => string;
  readonly #redactor: SecretRedactor;
  readonly #logger: ScaleSetLogger;
  #connection: AdminConnection | undefined;
  #refreshing: Promise<AdminConnection> | undefined;

  constructor(deps: {
    configUrl: GitHubConfigUrl;
    credentials: GitHubCredentialSource;
    transport: HttpTransport;
    userAgent: () => string;
    redactor: SecretRedactor;
    logger: ScaleSetLogger;
  }) {
    this.#configUrl = deps.configUrl;
    this.#credentials = deps.credentials;
    this.#transport = deps.transport;
    this.#userAgent = deps.userAgent;
    this.#redactor = deps.redactor;
    this.#logger = deps.logger;
  }

  /**
   * A connection valid for at least another minute. The shared refresh is not bound to
   * one caller's signal; `signal` only stops this caller from waiting.
   */
  get(signal?: AbortSignal): Promise<AdminConnection> {
    const current = this.#connection;
    if (current !== undefined && Date.now() + ADMIN_TOKEN_REFRESH_MARGIN_MS < current.expiresAtMs) {
      return Promise.resolve(current);
    }
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    return abortable(this.#refreshing, signal);
  }

  async #refresh(): Promise<AdminConnection> {
    const bearer = await this.#credentials.bearerToken();
    const registrationToken = await this.#registrationToken(bearer);
    const connection = await this.#runnerRegistration(registrationToken);
    this.#connection = connection;
    this.#logger.info(
      {
        serviceHost: new URL(connection.serviceUrl).host,
        expiresAt: new Date(connection.expiresAtMs).toISOString(),
      },
      'obtained Actions service admin token',
    );
    return connection;
  }

  async #registrationToken(bearer: string): Promise<string> {
    const request: HttpRequest = {
      method: 'POST',
      url: new URL(this.#configUrl.apiBaseUrl(this.#configUrl.registrationTokenPath)),
      headers: {
        authorization: `Bearer ${bearer}`,
        'content-type': 'application/vnd.github.v3+json',
        'user-agent': this.#userAgent(),
      },
    };
    const response = await this.#transport.send(request);
    if (response.status !== 201) {
      throw errorFromResponse(request, response, this.#redactor, {
        reason: 'failed to get runner registration token',
        secretBody: true,
      });
    }
    const body = this.#object(request, response);
    const token = pickField(body, 'token');
    if (typeof token !== 'string' || token === '') {
      throw errorFromBadBody(request, response, 'failed to decode response body', 'missing token');
    }
    const expiresAt = pickField(body, 'expires_at');
    if (
      expiresAt !== undefined &&
      expiresAt !== null &&
      (typeof expiresAt !== 'string' || !RFC3339.test(expiresAt))
    ) {
      throw errorFromBadBody(
        request,
        response,
        'failed to decode response body',
        'expires_at is not an RFC 3339 timestamp',
      );
    }
    this.#redactor.add(token);
    return token;
  }

  async #runnerRegistration(registrationToken: string): Promise<AdminConnection> {
    const request: HttpRequest = {
      method: 'POST',
      url: new URL(this.#configUrl.apiBaseUrl('/actions/runner-registration')),
      headers: {
        authorization: `RemoteAuth ${registrationToken}`,
        'content-type': 'application/json',
        'user-agent': this.#userAgent(),
      },
      // JSON.stringify escapes no HTML characters, matching the SDK's encoder (§2.4).
      body: `${JSON.stringify({ url: this.#configUrl.configUrl, runner_event: 'register' })}\n`,
      // A freshly minted registration token is sometimes not accepted yet (§2.4).
      extraRetryStatuses: [401, 403],
    };
    const response = await this.#transport.send(request);
    if (response.status < 200 || response.status > 299) {
      throw errorFromResponse(request, response, this.#redactor, {
        reason: 'failed to get Actions service admin connection',
        secretBody: true,
      });
    }
    const body = this.#object(request, response);
    const url = pickField(body, 'url');
    const token = pickField(body, 'token');
    if (typeof token === 'string') {
      this.#redactor.add(token);
    }
    if (typeof url !== 'string' || url === '') {
      throw errorFromBadBody(
        request,
        response,
        'actions service admin connection missing url',
        'the response has no url',
      );
    }
    if (typeof token !== 'string' || token === '') {
      throw errorFromBadBody(
        request,
        response,
        'actions service admin connection missing token',
        'the response has no token',
      );
    }
    let serviceUrl: URL;
    try {
      serviceUrl = new URL(url);
    } catch {
      throw errorFromBadBody(request, response, 'invalid Actions service URL', 'not absolute');
    }
    if (
      serviceUrl.protocol !== 'https:' &&
      !(serviceUrl.protocol === 'http:' && isLoopbackHost(serviceUrl.hostname))
    ) {
      throw errorFromBadBody(
        request,
        response,
        'invalid Actions service URL',
        'it must be https (plain http only for loopback hosts)',
      );
    }
    const expiresAtMs = jwtExpiryMs(token);
    if (expiresAtMs === undefined) {
      throw errorFromBadBody(
        request,
        response,
        'failed to parse admin token',
        'the token is not a JWT with an exp claim',
      );
    }
    return { serviceUrl: serviceUrl.href, token, expiresAtMs };
  }

  #object(request: HttpRequest, response: HttpResponse): Record<string, unknown> {
    const body = parseJsonBody(request, response);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw errorFromBadBody(request, response, 'failed to decode response body', 'not an object');
    }
    return body as Record<string, unknown>;
  }
}

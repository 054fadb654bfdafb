import type * as AuthApp from '@octokit/auth-app';
import type * as OctokitRequest from '@octokit/request';
import { GitHubAppAuthError } from './errors';
import type { GitHubConfigUrl } from './config-url.parser';
import type { HttpMethod, HttpRequest, HttpResponse, HttpTransport } from './http.transport';
import { errorFromResponse } from './response.decoder';
import type { SecretRedactor } from './secret.redactor';

/** How the client authenticates to GitHub (§2.1/§2.2). */
export type GitHubAuth =
  | { readonly kind: 'pat'; readonly token: string }
  | {
      readonly kind: 'app';
      /** The App's client id (the numeric App id works too). */
      readonly clientId: string;
      readonly installationId: number;
      /** PEM RSA key, PKCS#1 or PKCS#8. */
      readonly privateKey: string;
    };

interface AppCallTrace {
  request?: HttpRequest;
  response?: HttpResponse;
  transportError?: Error;
}

const METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PATCH', 'DELETE'];

interface Octokit {
  readonly createAppAuth: typeof AuthApp.createAppAuth;
  readonly request: typeof OctokitRequest.request;
}

let octokit: Promise<Octokit> | undefined;

// Loaded on first use of App auth, as real ES modules: both packages are ESM-only and
// PAT deployments never need them. This also keeps every importer of this lib loadable
// in jest's CommonJS runtime, which cannot load their ESM-only dependency `content-type`
// (missing from jest.config's esmOnly list).
function loadOctokit(): Promise<Octokit> {
  octokit ??= Promise.all([import('@octokit/auth-app'), import('@octokit/request')]).then(
    ([authApp, request]) => ({ createAppAuth: authApp.createAppAuth, request: request.request }),
    (err: unknown) => {
      octokit = undefined;
      throw err;
    },
  );
  return octokit;
}

/**
 * Produces the bearer credential for the registration-token call: the PAT itself, or a
 * fresh installation token minted through `@octokit/auth-app` (new JWT each time, like
 * the SDK, §2.2), sent through the client's own retrying transport.
 */
export class GitHubCredentialSource {
  readonly #auth: GitHubAuth;
  readonly #configUrl: GitHubConfigUrl;
  readonly #transport: HttpTransport;
  readonly #userAgent: () => string;
  readonly #redactor: SecretRedactor;

  constructor(deps: {
    auth: GitHubAuth;
    configUrl: GitHubConfigUrl;
    transport: HttpTransport;
    userAgent: () => string;
    redactor: SecretRedactor;
  }) {
    this.#auth = deps.auth;
    this.#configUrl = deps.configUrl;
    this.#transport = deps.transport;
    this.#userAgent = deps.userAgent;
    this.#redactor = deps.redactor;
  }

  /** The token to send as `Authorization: Bearer` to the registration-token endpoint. */
  async bearerToken(): Promise<string> {
    if (this.#auth.kind === 'pat') {
      return this.#auth.token;
    }
    return this.#installationToken(this.#auth);
  }

  async #installationToken(auth: Extract<GitHubAuth, { kind: 'app' }>): Promise<string> {
    const trace: AppCallTrace = {};
    const fetchThroughTransport = async (
      url: string,
      init: { method?: string; headers?: Record<string, string>; body?: unknown },
    ): Promise<Response> => {
      const method = METHODS.find((m) => m === init.method?.toUpperCase()) ?? 'POST';
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(init.headers ?? {})) {
        headers[name.toLowerCase()] = value;
      }
      headers['user-agent'] = this.#userAgent();
      headers['content-type'] = 'application/vnd.github+json';
      const request: HttpRequest = {
        method,
        url: new URL(url),
        headers,
        body: typeof init.body === 'string' ? init.body : undefined,
      };
      trace.request = request;
      let response: HttpResponse;
      try {
        response = await this.#transport.send(request);
      } catch (err) {
        trace.transportError = err instanceof Error ? err : new Error('request failed');
        throw err;
      }
      trace.response = response;
      const nullBody =
        response.status === 204 || response.status === 205 || response.status === 304;
      const contentType = response.headers.get('content-type') ?? 'application/json';
      return new Response(nullBody ? null : response.body, {
        status: response.status,
        statusText: response.statusText,
        headers: { 'content-type': contentType },
      });
    };

    const { createAppAuth, request: octokitRequest } = await loadOctokit();
    const appAuth = createAppAuth({
      appId: auth.clientId,
      privateKey: auth.privateKey,
      installationId: auth.installationId,
      request: octokitRequest.defaults({
        baseUrl: this.#configUrl.apiBaseUrl(''),
        request: { fetch: fetchThroughTransport },
      }),
    });

    let token: string;
    try {
      const result = await appAuth({ type: 'installation', refresh: true });
      token = result.token;
    } catch (err) {
      if (trace.transportError !== undefined) {
        throw trace.transportError;
      }
      if (trace.request !== undefined && trace.response !== undefined) {
        throw errorFromResponse(trace.request, trace.response, this.#redactor, {
          reason: 'failed to get access token for GitHub App auth',
          secretBody: true,
        });
      }
      // Failed before any request: signing the JWT (bad key or client id). The library's
      // error object is not kept as cause: only its redacted message is.
      const text = err instanceof Error ? err.message : 'unknown error';
      throw new GitHubAppAuthError(this.#redactor.redact(text));
    }
    if (trace.request !== undefined && trace.response !== undefined) {
      if (trace.response.status !== 201) {
        throw errorFromResponse(trace.request, trace.response, this.#redactor, {
          reason: 'failed to get access token for GitHub App auth',
          secretBody: true,
        });
      }
    }
    this.#redactor.add(token);
    return token;
  }
}

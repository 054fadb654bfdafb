import { AdminTokenProvider } from './admin-token.provider';
import { parseGitHubConfigUrl, type GitHubConfigUrl } from './config-url.parser';
import {
  InvalidClientOptionsError,
  RunnerGroupNotFoundError,
  ScaleSetApiError,
  ScaleSetArgumentError,
} from './errors';
import { GitHubCredentialSource, type GitHubAuth } from './github-credential.source';
import {
  createDispatcher,
  DEFAULT_RETRY_POLICY,
  DEFAULT_TIMEOUT_MS,
  HttpTransport,
  NOOP_LOGGER,
  type HttpMethod,
  type HttpRequest,
  type HttpResponse,
  type RetryPolicy,
  type ScaleSetLogger,
  type ScaleSetRequestObserver,
} from './http.transport';
import { MessageSessionClient, type MessageSessionHost } from './message-session.client';
import { buildServiceUrl, safePath, safeUrl } from './request-url.builder';
import { errorFromBadBody, errorFromResponse, parseJsonBody } from './response.decoder';
import {
  decodeAcquiredJobs,
  decodeJitConfig,
  decodeList,
  decodeMessage,
  decodeRunnerGroup,
  decodeRunnerReference,
  decodeRunnerScaleSet,
  decodeSession,
  encodeRunnerScaleSet,
  WireDecodeError,
} from './scaleset.codec';
import { SecretRedactor } from './secret.redactor';
import {
  NIL_UUID,
  type RunnerGroup,
  type RunnerReference,
  type RunnerScaleSet,
  type RunnerScaleSetInput,
  type RunnerScaleSetJitRunnerConfig,
  type RunnerScaleSetJitRunnerSetting,
  type RunnerScaleSetMessage,
  type RunnerScaleSetSession,
} from './scaleset.types';
import { buildUserAgent, DEFAULT_SYSTEM_INFO, type SystemInfo } from './user-agent.builder';

/** Options of {@link ScaleSetClient}. */
export interface ScaleSetClientOptions {
  /** Repository, organization or enterprise URL (§1). */
  readonly configUrl: string;
  readonly auth: GitHubAuth;
  /** User-Agent fields; defaults: system/subsystem `scaleset`, scale set id 0. */
  readonly systemInfo?: Partial<SystemInfo>;
  /** HTTP retries (§3.5); defaults 4 retries, 1 s doubling, capped at 30 s. */
  readonly retry?: Partial<RetryPolicy>;
  /** Timeout of each HTTP attempt, default 300000 ms (longer than the long poll). */
  readonly timeoutMs?: number;
  /** Extra PEM CA bundle trusted for TLS to GHES or a TLS-intercepting proxy. */
  readonly caCert?: string;
  /** `env` (default): HTTPS_PROXY/HTTP_PROXY/NO_PROXY from `env`; `none`: direct. */
  readonly proxy?: 'env' | 'none';
  readonly logger?: ScaleSetLogger;
  /** Called after every request (and its retries) with secret-free facts, for metrics. */
  readonly onRequest?: ScaleSetRequestObserver;
  /** Environment for GITHUB_ACTIONS_FORCE_GHES and proxy variables; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const PATHS = {
  scaleSets: '/_apis/runtime/runnerscalesets',
  runners: '/_apis/distributedtask/pools/0/agents',
  // The trailing slash is part of the SDK's route (§4).
  runnerGroups: '/_apis/runtime/runnergroups/',
} as const;

interface ServiceCall {
  readonly method: HttpMethod;
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number>>;
  readonly body?: string;
  readonly signal?: AbortSignal | undefined;
  readonly expect: number;
  readonly reason: string;
  /** The success body carries a secret: never quote it. */
  readonly secretBody?: boolean;
  /** Overrides the admin token (acquire-jobs uses the queue token). */
  readonly bearer?: string;
}

function validateOptions(options: ScaleSetClientOptions): void {
  const auth = options.auth as GitHubAuth | undefined;
  if (auth === undefined) {
    throw new InvalidClientOptionsError('auth', 'is required (a PAT or GitHub App credentials)');
  }
  if (auth.kind === 'pat') {
    if (typeof auth.token !== 'string' || auth.token.trim() === '') {
      throw new InvalidClientOptionsError('auth.token', 'the personal access token is empty');
    }
  } else {
    if (typeof auth.clientId !== 'string' || auth.clientId.trim() === '') {
      throw new InvalidClientOptionsError('auth.clientId', 'client ID is required');
    }
    if (!Number.isSafeInteger(auth.installationId) || auth.installationId <= 0) {
      throw new InvalidClientOptionsError(
        'auth.installationId',
        'app installation ID is required (a positive integer)',
      );
    }
    if (typeof auth.privateKey !== 'string' || auth.privateKey.trim() === '') {
      throw new InvalidClientOptionsError('auth.privateKey', 'app private key is required');
    }
  }
  const retry = options.retry ?? {};
  for (const key of ['max', 'waitMinMs', 'waitMaxMs', 'retryAfterMaxMs'] as const) {
    const value = retry[key];
    if (value !== undefined && (!Number.isFinite(value) || value < 0)) {
      throw new InvalidClientOptionsError(`retry.${key}`, 'must be a non-negative number');
    }
  }
  if (
    options.timeoutMs !== undefined &&
    (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0)
  ) {
    throw new InvalidClientOptionsError('timeoutMs', 'must be a positive number');
  }
}

function assertId(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ScaleSetArgumentError(name, 'must be a positive integer');
  }
}

function assertSessionId(sessionId: string): void {
  if (typeof sessionId !== 'string' || sessionId === '') {
    throw new ScaleSetArgumentError('sessionId', 'must be a non-empty session id');
  }
}

/**
 * Client of the GitHub Actions runner scale set API (§4): scale sets, runners, JIT
 * configs and message sessions. The token chain runs lazily on the first call (§2).
 * All failed calls throw {@link ScaleSetApiError} (or a subclass); cancellation via
 * `signal` rejects with the signal's reason and is never retried.
 */
export class ScaleSetClient {
  /** The parsed config URL. */
  readonly config: GitHubConfigUrl;
  readonly #transport: HttpTransport;
  readonly #redactor = new SecretRedactor();
  readonly #admin: AdminTokenProvider;
  readonly #logger: ScaleSetLogger;
  #systemInfo: SystemInfo;

  constructor(options: ScaleSetClientOptions) {
    validateOptions(options);
    const env = options.env ?? process.env;
    this.config = parseGitHubConfigUrl(options.configUrl, env);
    if (options.auth.kind === 'pat') {
      this.#redactor.add(options.auth.token);
    } else {
      this.#redactor.add(options.auth.privateKey);
    }
    this.#logger = options.logger ?? NOOP_LOGGER;
    this.#systemInfo = { ...DEFAULT_SYSTEM_INFO, ...options.systemInfo };
    this.#transport = new HttpTransport({
      dispatcher: createDispatcher({ caCert: options.caCert, proxy: options.proxy ?? 'env', env }),
      retry: { ...DEFAULT_RETRY_POLICY, ...options.retry },
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      logger: this.#logger,
      redactor: this.#redactor,
      onRequest: options.onRequest,
    });
    const userAgent = (): string => this.userAgent;
    this.#admin = new AdminTokenProvider({
      configUrl: this.config,
      credentials: new GitHubCredentialSource({
        auth: options.auth,
        configUrl: this.config,
        transport: this.#transport,
        userAgent,
        redactor: this.#redactor,
      }),
      transport: this.#transport,
      userAgent,
      redactor: this.#redactor,
      logger: this.#logger,
    });
  }

  /** The JSON `User-Agent` sent with the next request (§3.3). */
  get userAgent(): string {
    return buildUserAgent(this.#systemInfo);
  }

  /** Sets `scale_set_id` in the User-Agent; call it before creating a session client. */
  setScaleSetId(id: number): void {
    this.#systemInfo = { ...this.#systemInfo, scaleSetId: id };
  }

  /** Looks up a runner group by name (§4.1); none → {@link RunnerGroupNotFoundError}. */
  async getRunnerGroupByName(name: string, signal?: AbortSignal): Promise<RunnerGroup> {
    return this.#findOne(
      {
        method: 'GET',
        path: PATHS.runnerGroups,
        query: { groupName: name },
        signal,
        expect: 200,
        reason: 'failed to get runner group',
      },
      decodeRunnerGroup,
      `multiple runner group found with name ${JSON.stringify(name)}`,
      `no runner group found with name ${JSON.stringify(name)}`,
    );
  }

  /** Finds a scale set by name within a runner group (§4.2); `null` when absent. */
  async getRunnerScaleSetByName(
    runnerGroupId: number,
    name: string,
    signal?: AbortSignal,
  ): Promise<RunnerScaleSet | null> {
    assertId('runnerGroupId', runnerGroupId);
    return this.#findOne(
      {
        method: 'GET',
        path: PATHS.scaleSets,
        query: { runnerGroupId, name },
        signal,
        expect: 200,
        reason: 'failed to get runner scale set',
      },
      decodeRunnerScaleSet,
      `multiple runner scale sets found with name ${JSON.stringify(name)}`,
    );
  }

  /** Gets a scale set by id (§4.3); a `null` body yields `null`, 404 an error. */
  async getRunnerScaleSet(id: number, signal?: AbortSignal): Promise<RunnerScaleSet | null> {
    assertId('id', id);
    const { request, response } = await this.#call({
      method: 'GET',
      path: `${PATHS.scaleSets}/${id}`,
      signal,
      expect: 200,
      reason: 'failed to get runner scale set',
    });
    return this.#decode(request, response, (v) => (v === null ? null : decodeRunnerScaleSet(v)));
  }

  /**
   * Creates a scale set (§4.4). Without labels the name becomes the only label; empty
   * label types become `System`. Neither name nor labels → {@link ScaleSetArgumentError}.
   */
  async createRunnerScaleSet(
    scaleSet: RunnerScaleSetInput,
    signal?: AbortSignal,
  ): Promise<RunnerScaleSet> {
    const name = scaleSet.name ?? '';
    let input = scaleSet;
    if (scaleSet.labels === undefined || scaleSet.labels.length === 0) {
      if (name === '') {
        throw new ScaleSetArgumentError(
          'scaleSet',
          'runner scale set must have a name or at least one label',
        );
      }
      input = { ...scaleSet, labels: [{ type: 'System', name }] };
    }
    const { request, response } = await this.#call({
      method: 'POST',
      path: PATHS.scaleSets,
      body: encodeRunnerScaleSet(input),
      signal,
      expect: 200,
      reason: 'failed to create runner scale set',
    });
    return this.#decode(request, response, (v) => decodeRunnerScaleSet(v));
  }

  /** Updates a scale set with a partial body (§4.5); returns the full updated scale set. */
  async updateRunnerScaleSet(
    id: number,
    scaleSet: RunnerScaleSetInput,
    signal?: AbortSignal,
  ): Promise<RunnerScaleSet> {
    assertId('id', id);
    const { request, response } = await this.#call({
      method: 'PATCH',
      path: `${PATHS.scaleSets}/${id}`,
      body: encodeRunnerScaleSet(scaleSet),
      signal,
      expect: 200,
      reason: 'failed to update runner scale set',
    });
    return this.#decode(request, response, (v) => decodeRunnerScaleSet(v));
  }

  /** Deletes a scale set (§4.6); success is 204 only. */
  async deleteRunnerScaleSet(id: number, signal?: AbortSignal): Promise<void> {
    assertId('id', id);
    await this.#call({
      method: 'DELETE',
      path: `${PATHS.scaleSets}/${id}`,
      signal,
      expect: 204,
      reason: 'failed to delete runner scale set',
    });
  }

  /**
   * Registers a runner and returns its JIT config (§4.7). A taken name →
   * {@link RunnerExistsError}. The config is a secret (non-enumerable property).
   */
  async generateJitRunnerConfig(
    scaleSetId: number,
    setting: RunnerScaleSetJitRunnerSetting,
    signal?: AbortSignal,
  ): Promise<RunnerScaleSetJitRunnerConfig> {
    assertId('scaleSetId', scaleSetId);
    const { request, response } = await this.#call({
      method: 'POST',
      path: `${PATHS.scaleSets}/${scaleSetId}/generatejitconfig`,
      body: JSON.stringify({ name: setting.name, workFolder: setting.workFolder ?? '' }),
      signal,
      expect: 200,
      reason: 'failed to generate JIT runner config',
      secretBody: true,
    });
    const config = this.#decode(request, response, (v) => decodeJitConfig(v));
    this.#redactor.add(config.encodedJITConfig);
    return config;
  }

  /** Gets a runner by id (§4.8); unknown or finished → {@link RunnerNotFoundError}. */
  async getRunner(runnerId: number, signal?: AbortSignal): Promise<RunnerReference> {
    assertId('runnerId', runnerId);
    const { request, response } = await this.#call({
      method: 'GET',
      path: `${PATHS.runners}/${runnerId}`,
      signal,
      expect: 200,
      reason: 'failed to get runner',
    });
    return this.#decode(request, response, (v) => decodeRunnerReference(v));
  }

  /** Finds a runner by name (§4.9); `null` when absent. */
  async getRunnerByName(name: string, signal?: AbortSignal): Promise<RunnerReference | null> {
    return this.#findOne(
      {
        method: 'GET',
        path: PATHS.runners,
        query: { agentName: name },
        signal,
        expect: 200,
        reason: 'failed to get runner by name',
      },
      decodeRunnerReference,
      `multiple runners found with name ${JSON.stringify(name)}`,
    );
  }

  /** Removes a runner registration (§4.10); busy → {@link JobStillRunningError}. */
  async removeRunner(runnerId: number, signal?: AbortSignal): Promise<void> {
    assertId('runnerId', runnerId);
    await this.#call({
      method: 'DELETE',
      path: `${PATHS.runners}/${runnerId}`,
      signal,
      expect: 204,
      reason: 'failed to remove runner',
    });
  }

  /**
   * Creates a message session (§4.11). Another active session →
   * {@link SessionConflictError}; unknown scale set → {@link ScaleSetNotFoundError}.
   */
  async createMessageSession(
    scaleSetId: number,
    ownerName: string,
    signal?: AbortSignal,
  ): Promise<RunnerScaleSetSession> {
    assertId('scaleSetId', scaleSetId);
    const { request, response } = await this.#call({
      method: 'POST',
      path: `${PATHS.scaleSets}/${scaleSetId}/sessions`,
      body: JSON.stringify({ sessionId: NIL_UUID, ownerName }),
      signal,
      expect: 200,
      reason: 'failed to create message session',
      secretBody: true,
    });
    return this.#session(request, response);
  }

  /** Refreshes a session (§4.12); evicted → {@link SessionNotFoundError}. */
  async refreshMessageSession(
    scaleSetId: number,
    sessionId: string,
    signal?: AbortSignal,
  ): Promise<RunnerScaleSetSession> {
    assertId('scaleSetId', scaleSetId);
    assertSessionId(sessionId);
    const { request, response } = await this.#call({
      method: 'PATCH',
      path: `${PATHS.scaleSets}/${scaleSetId}/sessions/${encodeURIComponent(sessionId)}`,
      signal,
      expect: 200,
      reason: 'failed to refresh message session',
      secretBody: true,
    });
    return this.#session(request, response);
  }

  /**
   * Deletes a session by id (§4.13); needs only the admin token, so a new leader can
   * delete its predecessor's session. Unknown/expired id → {@link SessionNotFoundError}.
   */
  async deleteMessageSession(
    scaleSetId: number,
    sessionId: string,
    signal?: AbortSignal,
  ): Promise<void> {
    assertId('scaleSetId', scaleSetId);
    assertSessionId(sessionId);
    await this.#call({
      method: 'DELETE',
      path: `${PATHS.scaleSets}/${scaleSetId}/sessions/${encodeURIComponent(sessionId)}`,
      signal,
      expect: 204,
      reason: 'failed to delete message session',
    });
  }

  /** Creates a session and returns a client for it; nothing is returned if creation fails. */
  async createMessageSessionClient(
    scaleSetId: number,
    ownerName: string,
    signal?: AbortSignal,
  ): Promise<MessageSessionClient> {
    const session = await this.createMessageSession(scaleSetId, ownerName, signal);
    return this.messageSessionClientFor(scaleSetId, session);
  }

  /** A client for an existing session (e.g. handed over by another replica); no request. */
  messageSessionClientFor(
    scaleSetId: number,
    session: RunnerScaleSetSession,
  ): MessageSessionClient {
    assertId('scaleSetId', scaleSetId);
    return new MessageSessionClient(this.#sessionHost(), scaleSetId, session, this.userAgent);
  }

  /** Closes idle connections of the HTTP dispatcher. */
  async close(): Promise<void> {
    await this.#transport.close();
  }

  #sessionHost(): MessageSessionHost {
    return {
      transport: this.#transport,
      redactor: this.#redactor,
      refreshMessageSession: (scaleSetId, sessionId, signal) =>
        this.refreshMessageSession(scaleSetId, sessionId, signal),
      deleteMessageSession: (scaleSetId, sessionId, signal) =>
        this.deleteMessageSession(scaleSetId, sessionId, signal),
      sendAcquireJobs: (scaleSetId, queueToken, requestIds, signal) =>
        this.#exchange({
          method: 'POST',
          path: `${PATHS.scaleSets}/${scaleSetId}/acquirejobs`,
          body: JSON.stringify(requestIds),
          signal,
          expect: 200,
          reason: 'failed to acquire jobs',
          bearer: queueToken,
        }),
      decodeMessage: (request, response): RunnerScaleSetMessage =>
        this.#decode(request, response, decodeMessage, 'failed to parse message'),
      decodeAcquiredJobs: (request, response) =>
        this.#decode(request, response, decodeAcquiredJobs),
    };
  }

  #session(request: HttpRequest, response: HttpResponse): RunnerScaleSetSession {
    const session = this.#decode(request, response, decodeSession);
    this.#redactor.add(session.messageQueueAccessToken);
    return session;
  }

  /** Sends an Actions service request; returns the exchange whatever the status. */
  async #exchange(call: ServiceCall): Promise<{ request: HttpRequest; response: HttpResponse }> {
    const admin = await this.#admin.get(call.signal);
    const headers: Record<string, string> = {
      authorization: `Bearer ${call.bearer ?? admin.token}`,
      'content-type': 'application/json',
      'user-agent': this.userAgent,
    };
    const request: HttpRequest = {
      method: call.method,
      url: buildServiceUrl(admin.serviceUrl, call.path, call.query),
      headers,
      body: call.body,
      signal: call.signal,
    };
    const response = await this.#transport.send(request);
    return { request, response };
  }

  /** Sends an Actions service request and throws unless the status is `call.expect`. */
  async #call(call: ServiceCall): Promise<{ request: HttpRequest; response: HttpResponse }> {
    const exchange = await this.#exchange(call);
    if (exchange.response.status !== call.expect) {
      throw errorFromResponse(exchange.request, exchange.response, this.#redactor, {
        reason: call.reason,
        secretBody: call.secretBody ?? false,
      });
    }
    return exchange;
  }

  #decode<T>(
    request: HttpRequest,
    response: HttpResponse,
    decode: (value: unknown) => T,
    reason = 'failed to decode response body',
  ): T {
    const body = parseJsonBody(request, response);
    try {
      return decode(body);
    } catch (err) {
      if (err instanceof WireDecodeError) {
        throw errorFromBadBody(request, response, reason, err.message);
      }
      throw err;
    }
  }

  /**
   * A lookup by name (§4.1, §4.2, §4.9), decided by `count` as the SDK does: one → the item;
   * none → `null`, or {@link RunnerGroupNotFoundError} when `noneReason` is given; more →
   * an error carrying the `ActivityId`.
   */
  async #findOne<T>(
    call: ServiceCall,
    decodeItem: (v: unknown, path: string) => T,
    multipleReason: string,
  ): Promise<T | null>;
  async #findOne<T>(
    call: ServiceCall,
    decodeItem: (v: unknown, path: string) => T,
    multipleReason: string,
    noneReason: string,
  ): Promise<T>;
  async #findOne<T>(
    call: ServiceCall,
    decodeItem: (v: unknown, path: string) => T,
    multipleReason: string,
    noneReason?: string,
  ): Promise<T | null> {
    const { request, response } = await this.#call(call);
    const { count, first } = this.#decode(request, response, (v) => decodeList(v, decodeItem));
    if (count === 1 && first !== undefined) {
      return first;
    }
    if (count === 0 && noneReason === undefined) {
      return null;
    }
    throw count === 0
      ? this.#listError(RunnerGroupNotFoundError, request, response, noneReason ?? '')
      : this.#listError(ScaleSetApiError, request, response, multipleReason);
  }

  #listError(
    ErrorClass: typeof ScaleSetApiError,
    request: HttpRequest,
    response: HttpResponse,
    reason: string,
  ): ScaleSetApiError {
    return new ErrorClass({
      method: request.method,
      url: safeUrl(request.url),
      path: safePath(request.url),
      status: response.status,
      statusText: response.statusText,
      activityId: response.headers.get('activityid') ?? undefined,
      githubRequestId: response.headers.get('x-github-request-id') ?? undefined,
      reason,
      attempts: response.attempts,
    });
  }
}

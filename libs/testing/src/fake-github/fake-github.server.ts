import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ActionsServiceState,
  FakeServiceError,
  type ActionsServiceSettings,
  type SessionRecord,
} from './actions-service.state';
import { FaultInjector } from './fake-github.faults';
import { nowSec, signJwtHs256, verifyJwtHs256, verifyJwtRs256 } from './fake-github.jwt';
import { RequestRecorder } from './fake-github.recorder';
import { isGitHubRestEndpoint, matchRoute, TENANT_PATH } from './fake-github.routes';
import {
  ENDPOINT_NAMES,
  type EndpointName,
  type FakeBehaviour,
  type FakeFault,
  type FakeGitHubOptions,
  type FakeGitHubStats,
  type FakeServiceEvent,
  type JobHandle,
  type JobView,
  type QueueJobsOptions,
  type RecordedEndpoint,
  type RecordedRequest,
  type RunnerView,
  type ScaleSetStatistics,
  type SessionView,
  type WireRunnerGroup,
  type WireScaleSet,
} from './fake-github.types';

/** Scope of a config URL. */
export type ConfigUrlScope = 'org' | 'repo' | 'enterprise';

/** Credentials of the fake's GitHub App (PEM private key in PKCS#1, like GitHub's downloads). */
export interface FakeGitHubApp {
  clientId: string;
  /** The numeric app id, accepted as JWT `iss` too. */
  appId: number;
  installationId: number;
  privateKey: string;
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  endpoint: RecordedEndpoint;
  path: string;
  query: Record<string, string>;
  body: string;
  bom: boolean;
}

const API_VERSION = '6.0-preview';
const REPO = 'test-repo';
const ENTERPRISE = 'test-ent';
const HOUR_MS = 3_600_000;
const APP_JWT_MAX_LIFETIME_SEC = 600;
const CLOCK_SKEW_SEC = 60;
const MAX_BODY_BYTES = 1_048_576;
const JSON_TYPE = 'application/json; charset=utf-8';

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function parseJson(text: string): unknown {
  const clean = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (clean.trim() === '') {
    return undefined;
  }
  try {
    return JSON.parse(clean) as unknown;
  } catch {
    throw new HttpError(400, 'The request body is not valid JSON.');
  }
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/**
 * A faithful fake of GitHub's REST API and the Actions scale set service (protocol §11), on one
 * loopback origin (GHES layout), with a control API for scripting jobs and faults and a
 * runner-side API for fake runner processes.
 *
 * Routes: `POST /api/v3/...` (installation token, registration token, runner-registration);
 * `/tenant/123/_apis/...` (Actions service, admin JWT, `api-version=6.0-preview`);
 * `/scalesets/message[/<id>]` (queue token); `/_fake/runner/{online,job,started,finished}`
 * (runner credential from the JIT config); `/_fake/control/...` (JSON: `info`, `jobs`,
 * `jobs/<id>/{assign,start,complete}`, `runners`, `runners/plant`, `runners/<name>/{online,finish}`,
 * `sessions`, `sessions/<id>/expire`, `scale-sets`, `scale-sets/<id>`, `scale-sets/<id>/runners`,
 * `runner-groups`, `requests`, `stats`, `faults`, `behaviour`).
 */
export class FakeGitHub {
  /** A personal access token the fake accepts for registration tokens. */
  readonly pat: string;
  /** GitHub App credentials the fake accepts (installation token endpoint). */
  readonly app: FakeGitHubApp;

  private readonly appPublicKey: KeyObject;
  private readonly adminSecret = randomBytes(32);
  private readonly installationTokens = new Map<string, number>();
  private readonly registrationTokens = new Map<string, number>();
  private readonly settings: ActionsServiceSettings;
  private readonly state: ActionsServiceState;
  private readonly recorder: RequestRecorder;
  private readonly faults = new FaultInjector();
  private readonly org: string;
  private readonly adminTokenTtlSec: number;
  private readonly openResponses = new Set<ServerResponse>();
  private readonly eventListeners = new Set<(event: FakeServiceEvent) => void>();
  private bom: boolean;
  private server: Server | undefined;
  private listeningOrigin: string | undefined;
  private stopped = false;

  constructor(options: FakeGitHubOptions = {}) {
    this.org = options.org ?? 'test-org';
    this.adminTokenTtlSec = options.adminTokenTtlSec ?? 600;
    this.bom = options.bom ?? false;
    this.settings = {
      mode: options.mode ?? 'assign',
      pollTimeoutMs: options.pollTimeoutMs ?? 50_000,
      reassignAfterMs: options.reassignAfterMs ?? null,
      sessionIdleExpiryMs: options.sessionIdleExpiryMs ?? null,
      jobDurationMs: options.jobDurationMs ?? 1000,
      runnerPollTimeoutMs: options.runnerPollTimeoutMs ?? 20_000,
      dropJobCompleted: false,
      duplicateMessages: 0,
      reorderMessages: 0,
    };
    this.recorder = new RequestRecorder(options.maxRecordedRequests ?? 100_000);
    this.pat = `ghp_fake${randomBytes(16).toString('hex')}`;
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.appPublicKey = publicKey;
    this.app = {
      clientId: `Iv23fake${randomBytes(6).toString('hex')}`,
      appId: 424242,
      installationId: 31337,
      privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    };
    this.state = new ActionsServiceState(
      this.settings,
      () => this.origin,
      this.org,
      (event) => {
        for (const listener of this.eventListeners) {
          listener(event);
        }
      },
    );
  }

  /** Listens on 127.0.0.1 (`port` 0 or omitted: a free port). */
  async start(port = 0): Promise<void> {
    if (this.server || this.stopped) {
      throw new Error('FakeGitHub is already started (or stopped); create a new instance');
    }
    const server = createServer((req, res) => {
      void this.handle(req, res);
    });
    // Long polls are held for up to the poll timeout; keep Node's own timeouts out of the way.
    server.requestTimeout = 0;
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    this.server = server;
    this.listeningOrigin = `http://127.0.0.1:${address.port}`;
  }

  /** Answers pending long polls (202 / 204), then closes every connection. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) {
      return;
    }
    this.server = undefined;
    this.stopped = true;
    this.state.stop();
    const closed = new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
    const deadline = Date.now() + 1000;
    while (this.openResponses.size > 0 && Date.now() < deadline) {
      await sleep(5);
    }
    server.closeAllConnections();
    await closed;
  }

  /** `http://127.0.0.1:<port>`; throws before {@link FakeGitHub.start}. */
  get origin(): string {
    if (this.listeningOrigin === undefined) {
      throw new Error('FakeGitHub has not been started');
    }
    return this.listeningOrigin;
  }

  /** Config URL of the fake's organization, repository or enterprise (GHES layout). */
  configUrl(scope: ConfigUrlScope = 'org'): string {
    switch (scope) {
      case 'org':
        return `${this.origin}/${this.org}`;
      case 'repo':
        return `${this.origin}/${this.org}/${REPO}`;
      case 'enterprise':
        return `${this.origin}/enterprises/${ENTERPRISE}`;
    }
  }

  /** Every request seen (bounded by `maxRecordedRequests`). */
  get requests(): RecordedRequest[] {
    return this.recorder.requests;
  }

  /** Recorded requests of one endpoint. */
  requestsFor(endpoint: RecordedEndpoint): RecordedRequest[] {
    return this.recorder.requests.filter((r) => r.endpoint === endpoint);
  }

  /**
   * Calls `listener` for every job message put in a queue and every runner coming online, at
   * the moment it happens (see {@link FakeServiceEvent}). Returns a function that unsubscribes.
   */
  onEvent(listener: (event: FakeServiceEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => {
      this.eventListeners.delete(listener);
    };
  }

  /** Forgets recorded requests and resets the counters. */
  clearRequests(): void {
    this.recorder.clear();
  }

  /** Exact request counters and the peak requests per second. */
  stats(): FakeGitHubStats {
    return this.recorder.stats();
  }

  /** Arms a fault; see {@link FakeFault}. */
  injectFault(fault: FakeFault): void {
    if (fault.endpoint !== '*' && !(ENDPOINT_NAMES as readonly string[]).includes(fault.endpoint)) {
      throw new RangeError(`unknown fault endpoint ${JSON.stringify(fault.endpoint)}`);
    }
    this.faults.add(fault, Date.now());
  }

  /** Disarms every fault. */
  clearFaults(): void {
    this.faults.clear();
  }

  /** Changes behaviour switches at run time; returns the resulting switches. */
  setBehaviour(change: FakeBehaviour): Required<FakeBehaviour> {
    // Values arrive unchecked from the control API's JSON.
    const mode: unknown = change.mode;
    if (mode !== undefined && mode !== 'assign' && mode !== 'acquire') {
      throw new RangeError(`mode must be assign or acquire, got ${JSON.stringify(mode)}`);
    }
    if (change.mode !== undefined) {
      this.settings.mode = change.mode;
    }
    if (change.pollTimeoutMs !== undefined) {
      this.settings.pollTimeoutMs = change.pollTimeoutMs;
    }
    if (change.reassignAfterMs !== undefined) {
      this.settings.reassignAfterMs = change.reassignAfterMs;
    }
    if (change.sessionIdleExpiryMs !== undefined) {
      this.settings.sessionIdleExpiryMs = change.sessionIdleExpiryMs;
    }
    if (change.dropJobCompleted !== undefined) {
      this.settings.dropJobCompleted = change.dropJobCompleted;
    }
    if (change.duplicateMessages !== undefined) {
      this.settings.duplicateMessages = change.duplicateMessages;
    }
    if (change.reorderMessages !== undefined) {
      this.settings.reorderMessages = change.reorderMessages;
    }
    if (change.bom !== undefined) {
      this.bom = change.bom;
    }
    return this.behaviour();
  }

  /** Current behaviour switches. */
  behaviour(): Required<FakeBehaviour> {
    return {
      mode: this.settings.mode,
      pollTimeoutMs: this.settings.pollTimeoutMs,
      reassignAfterMs: this.settings.reassignAfterMs,
      sessionIdleExpiryMs: this.settings.sessionIdleExpiryMs,
      dropJobCompleted: this.settings.dropJobCompleted,
      duplicateMessages: this.settings.duplicateMessages,
      reorderMessages: this.settings.reorderMessages,
      bom: this.bom,
    };
  }

  /** Swallow every `JobCompleted` job message from now on (`false` to stop). */
  dropJobCompleted(on = true): void {
    this.settings.dropJobCompleted = on;
  }

  /** Deliver each of the next `n` envelopes twice. */
  duplicateMessages(n = 1): void {
    this.settings.duplicateMessages = n;
  }

  /** Reverse the job messages inside each of the next `n` envelopes. */
  reorderMessages(n = 1): void {
    this.settings.reorderMessages = n;
  }

  /** Queues `n` jobs; they reach a matching scale set once its listener polls. */
  queueJobs(n: number, opts: QueueJobsOptions = {}): JobHandle[] {
    return this.state.queueJobs(n, opts);
  }

  /** Every job, completed ones first, then open ones in queue order. */
  jobs(): JobView[] {
    return this.state.jobs();
  }

  /** One job, or `undefined` if unknown. */
  job(jobId: string): JobView | undefined {
    return this.state.job(jobId);
  }

  /** Assigns a job to its scale set now, ignoring `X-ScaleSetMaxCapacity`. */
  assignJob(jobId: string): void {
    this.state.assignJob(jobId);
  }

  /** Lets a runner of the job's scale set start it without a runner process (`JobStarted`). */
  startJob(jobId: string, runnerName?: string): void {
    this.state.startJob(jobId, runnerName);
  }

  /** Completes a job with `result` (`JobCompleted`); its runner deregisters. */
  completeJob(jobId: string, result?: string): void {
    this.state.completeJob(jobId, result);
  }

  /** Runner registrations, optionally of one scale set (the fake's side of the three-way view). */
  runners(scaleSetId?: number): RunnerView[] {
    return this.state.runners(scaleSetId);
  }

  /** Marks a registered runner online as if its process connected. */
  setRunnerOnline(runnerName: string): void {
    const runner = this.state.runnerByName(runnerName);
    if (runner.status === 'offline') {
      this.state.runnerOnline(runner);
    }
  }

  /** The runner finishes: its job (if any) completes with `result` and it deregisters. */
  finishRunner(runnerName: string, result?: string): void {
    this.state.runnerFinished(this.state.runnerByName(runnerName), result);
  }

  /** Registers a runner in a scale set with no process behind it (an orphaned registration). */
  plantOfflineRunner(scaleSetId: number, name?: string): RunnerView {
    return this.state.plantOfflineRunner(scaleSetId, name);
  }

  /** Live sessions (idle-expired ones are dropped first). */
  sessions(): SessionView[] {
    return this.state.sessions();
  }

  /** Evicts a session as the service would; its queue token stops working. */
  expireSession(sessionId: string): boolean {
    return this.state.expireSession(sessionId);
  }

  /** Every scale set, as the Actions service would return it. */
  scaleSets(): WireScaleSet[] {
    return this.state.scaleSets();
  }

  /** Deletes a scale set on GitHub's side, as GitHub does with long-inactive ones. */
  deleteScaleSet(scaleSetId: number): void {
    this.state.deleteScaleSet(scaleSetId);
  }

  /** Current statistics of a scale set. */
  statistics(scaleSetId: number): ScaleSetStatistics {
    return this.state.statistics(scaleSetId);
  }

  /** Runner groups (`Default` is id 1). */
  runnerGroups(): WireRunnerGroup[] {
    return this.state.runnerGroups();
  }

  /** Adds a runner group and returns it with its new id. */
  addRunnerGroup(name: string): WireRunnerGroup {
    return this.state.addRunnerGroup(name);
  }

  /** Polls `check` until it holds; rejects after `timeoutMs`. */
  async waitFor(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) {
        throw new Error(`FakeGitHub.waitFor: ${what} not met within ${timeoutMs} ms`);
      }
      await sleep(10);
    }
  }

  // ---- HTTP ----------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    this.recorder.arrived(at);
    this.openResponses.add(res);
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const query: Record<string, string> = {};
    for (const [key, value] of url.searchParams) {
      query[key] = value;
    }
    const ctx: Ctx = {
      req,
      res,
      endpoint: 'unknown',
      path: url.pathname,
      query,
      body: '',
      bom: this.bom,
    };
    res.on('close', () => {
      this.openResponses.delete(res);
      this.recorder.record({
        method: req.method ?? 'GET',
        path: ctx.path,
        query,
        headers: this.lowerCaseHeaders(req),
        body: ctx.body,
        status: res.statusCode,
        endpoint: ctx.endpoint,
        at,
      });
    });
    try {
      ctx.body = await this.readBody(req);
      await this.route(ctx);
    } catch (error) {
      this.sendFailure(ctx, error);
    }
  }

  private async route(ctx: Ctx): Promise<void> {
    const method = ctx.req.method ?? 'GET';
    if (ctx.path.startsWith('/_fake/')) {
      ctx.endpoint = 'fake';
      await this.handleFake(ctx, method);
      return;
    }
    const match = matchRoute(method, ctx.path);
    if (!match) {
      this.sendJson(ctx, 404, { message: `No route for ${method} ${ctx.path}` });
      return;
    }
    ctx.endpoint = match.endpoint;
    const fault = this.faults.take(match.endpoint, Date.now());
    if (fault) {
      if (fault.delayMs !== undefined) {
        await sleep(fault.delayMs);
      }
      if (fault.bom === true) {
        ctx.bom = true;
      }
      if (fault.emptyBody === true || fault.status !== undefined) {
        this.sendFault(ctx, match.endpoint, fault);
        return;
      }
    }
    await this.handleEndpoint(ctx, match.endpoint, match.params);
  }

  private sendFault(ctx: Ctx, endpoint: EndpointName, fault: FakeFault): void {
    const status = fault.status ?? 200;
    // Header names are case-insensitive: a fault's `ActivityId` must replace the generated
    // `activityid`, not be sent next to it (clients would read "generated, custom").
    const headers: Record<string, string> = { ...this.idHeaders(endpoint) };
    for (const [name, value] of Object.entries(fault.headers ?? {})) {
      headers[name.toLowerCase()] = value;
    }
    let body = '';
    if (fault.emptyBody !== true) {
      body =
        fault.body ??
        JSON.stringify(
          isGitHubRestEndpoint(endpoint)
            ? { message: `Injected fault ${status}` }
            : this.exceptionBody(undefined, `Injected fault ${status}`),
        );
      headers['content-type'] = fault.contentType ?? JSON_TYPE;
      if (ctx.bom) {
        body = `\uFEFF${body}`;
      }
    }
    ctx.res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
    ctx.res.end(body);
  }

  private async handleEndpoint(ctx: Ctx, endpoint: EndpointName, params: string[]): Promise<void> {
    const num = (i: number): number => Number(params[i]);
    const str = (i: number): string => params[i] ?? '';
    switch (endpoint) {
      case 'installationToken':
        this.installationToken(ctx, str(0));
        return;
      case 'registrationToken':
        this.registrationToken(ctx, str(0), str(1));
        return;
      case 'runnerRegistration':
        this.runnerRegistration(ctx);
        return;
      case 'getMessage':
        await this.getMessage(ctx);
        return;
      case 'deleteMessage': {
        const session = this.queueSession(ctx);
        if (!/^\d+$/.test(str(0))) {
          throw new HttpError(400, `Invalid message id ${str(0)}.`);
        }
        this.state.deleteMessage(session, num(0));
        this.sendEmpty(ctx, 204);
        return;
      }
      case 'acquireJobs': {
        this.requireApiVersion(ctx);
        const session = this.queueSession(ctx);
        const body = parseJson(ctx.body);
        const ids = body === undefined || body === null ? [] : body;
        if (!Array.isArray(ids) || !ids.every((id) => Number.isSafeInteger(id))) {
          throw new HttpError(400, 'The request body must be a JSON array of job request ids.');
        }
        const acquired = this.state.acquireJobs(session, num(0), ids as number[]);
        this.sendJson(ctx, 200, { count: acquired.length, value: acquired });
        return;
      }
      case 'getRunnerGroup':
      case 'getScaleSetByName':
      case 'getScaleSet':
      case 'createScaleSet':
      case 'updateScaleSet':
      case 'deleteScaleSet':
      case 'generateJitConfig':
      case 'getRunner':
      case 'getRunnerByName':
      case 'removeRunner':
      case 'createSession':
      case 'refreshSession':
      case 'deleteSession':
        this.requireAdmin(ctx);
        this.requireApiVersion(ctx);
        this.management(ctx, endpoint, num, str);
        return;
    }
  }

  private management(
    ctx: Ctx,
    endpoint: EndpointName,
    num: (i: number) => number,
    str: (i: number) => string,
  ): void {
    switch (endpoint) {
      case 'getRunnerGroup': {
        const groups = this.state.runnerGroups(ctx.query.groupName);
        this.sendJson(ctx, 200, { count: groups.length, value: groups });
        return;
      }
      case 'getScaleSetByName': {
        const group = ctx.query.runnerGroupId;
        const sets = this.state.findScaleSets(
          ctx.query.name,
          group === undefined ? undefined : Number(group),
        );
        this.sendJson(ctx, 200, { count: sets.length, value: sets });
        return;
      }
      case 'getScaleSet':
        this.sendJson(ctx, 200, this.state.getScaleSet(num(0)));
        return;
      case 'createScaleSet':
        this.sendJson(ctx, 200, this.state.createScaleSet(parseJson(ctx.body)));
        return;
      case 'updateScaleSet':
        this.sendJson(ctx, 200, this.state.updateScaleSet(num(0), parseJson(ctx.body)));
        return;
      case 'deleteScaleSet':
        this.state.deleteScaleSet(num(0));
        this.sendEmpty(ctx, 204);
        return;
      case 'generateJitConfig':
        this.sendJson(ctx, 200, this.state.generateJitConfig(num(0), parseJson(ctx.body)));
        return;
      case 'getRunner':
        this.sendJson(ctx, 200, this.state.getRunner(num(0)));
        return;
      case 'getRunnerByName': {
        const name = ctx.query.agentName;
        if (name === undefined) {
          // The protocol documents no "list all runners" call; the fake does not invent one.
          throw new HttpError(400, 'The agentName query parameter is required.');
        }
        const runners = this.state.findRunners(name);
        this.sendJson(ctx, 200, { count: runners.length, value: runners });
        return;
      }
      case 'removeRunner':
        this.state.removeRunner(num(0));
        this.sendEmpty(ctx, 204);
        return;
      case 'createSession':
        this.sendJson(ctx, 200, this.state.createSession(num(0), parseJson(ctx.body)));
        return;
      case 'refreshSession':
        this.sendJson(ctx, 200, this.state.refreshSession(num(0), str(1)));
        return;
      case 'deleteSession':
        this.state.deleteSession(num(0), str(1));
        this.sendEmpty(ctx, 204);
        return;
      case 'installationToken':
      case 'registrationToken':
      case 'runnerRegistration':
      case 'getMessage':
      case 'deleteMessage':
      case 'acquireJobs':
        throw new Error(`${endpoint} is not a management endpoint`);
    }
  }

  // ---- GitHub REST -----------------------------------------------------------------------

  private installationToken(ctx: Ctx, installationId: string): void {
    const auth = this.authorization(ctx);
    const claims =
      auth?.scheme === 'bearer' ? verifyJwtRs256(auth.credential, this.appPublicKey) : undefined;
    if (!claims) {
      this.sendJson(ctx, 401, { message: 'A JSON web token could not be decoded' });
      return;
    }
    const now = nowSec();
    const iss = claims.iss;
    const issOk =
      (typeof iss === 'string' || typeof iss === 'number') &&
      (String(iss) === this.app.clientId || String(iss) === String(this.app.appId));
    const exp = claims.exp;
    const iat = claims.iat;
    if (!issOk) {
      this.sendJson(ctx, 401, { message: "'Issuer' claim ('iss') must be the app's client id" });
      return;
    }
    if (typeof exp !== 'number' || exp <= now || exp > now + APP_JWT_MAX_LIFETIME_SEC) {
      this.sendJson(ctx, 401, {
        message: "'Expiration time' claim ('exp') must be a numeric value within 10 minutes",
      });
      return;
    }
    if (iat !== undefined && (typeof iat !== 'number' || iat > now + CLOCK_SKEW_SEC)) {
      this.sendJson(ctx, 401, { message: "'Issued at' claim ('iat') must be in the past" });
      return;
    }
    if (installationId !== String(this.app.installationId)) {
      this.sendJson(ctx, 404, { message: 'Not Found' });
      return;
    }
    const token = `ghs_fake${randomBytes(16).toString('hex')}`;
    const expiresAt = Date.now() + HOUR_MS;
    this.installationTokens.set(token, expiresAt);
    this.sendJson(ctx, 201, {
      token,
      expires_at: isoSeconds(expiresAt),
      permissions: { organization_self_hosted_runners: 'write' },
      repository_selection: 'all',
    });
  }

  private registrationToken(ctx: Ctx, kind: string, target: string): void {
    const auth = this.authorization(ctx);
    const credential = auth && ['bearer', 'token'].includes(auth.scheme) ? auth.credential : '';
    const installationExpiry = this.installationTokens.get(credential);
    const valid =
      credential === this.pat ||
      (installationExpiry !== undefined && installationExpiry > Date.now());
    if (!valid) {
      this.sendJson(ctx, 401, { message: 'Bad credentials' });
      return;
    }
    const expected =
      kind === 'orgs' ? this.org : kind === 'repos' ? `${this.org}/${REPO}` : ENTERPRISE;
    if (target.toLowerCase() !== expected.toLowerCase()) {
      this.sendJson(ctx, 404, { message: 'Not Found' });
      return;
    }
    const token = randomBytes(15).toString('hex').toUpperCase();
    const expiresAt = Date.now() + HOUR_MS;
    this.registrationTokens.set(token, expiresAt);
    this.sendJson(ctx, 201, { token, expires_at: isoSeconds(expiresAt) });
  }

  private runnerRegistration(ctx: Ctx): void {
    const auth = this.authorization(ctx);
    const expiry = auth?.scheme === 'remoteauth' ? this.registrationTokens.get(auth.credential) : 0;
    if (expiry === undefined || expiry <= Date.now()) {
      this.sendJson(ctx, 401, { message: 'Bad credentials' });
      return;
    }
    const body = asRecord(parseJson(ctx.body));
    if (body.runner_event !== 'register' || typeof body.url !== 'string') {
      this.sendJson(ctx, 400, { message: 'Expected {"url":…,"runner_event":"register"}.' });
      return;
    }
    const wanted = body.url.replace(/\/+$/, '');
    const scopes: ConfigUrlScope[] = ['org', 'repo', 'enterprise'];
    if (!scopes.some((s) => this.configUrl(s).toLowerCase() === wanted.toLowerCase())) {
      this.sendJson(ctx, 404, { message: `Not Found: no registration target ${body.url}` });
      return;
    }
    const now = nowSec();
    const token = signJwtHs256(
      {
        iss: '123',
        aud: 'actions-service',
        sub: 'scaleset-admin',
        // Without a unique id, tokens minted within the same second would be identical.
        jti: randomUUID(),
        iat: now - 600,
        nbf: now - 600,
        exp: now + this.adminTokenTtlSec,
      },
      this.adminSecret,
    );
    this.sendJson(ctx, 200, {
      url: `${this.origin}${TENANT_PATH}`,
      token,
      token_schema: 'OAuthAccessToken',
    });
  }

  // ---- Actions service -----------------------------------------------------------------

  private requireApiVersion(ctx: Ctx): void {
    if (ctx.query['api-version'] !== API_VERSION) {
      throw new FakeServiceError(
        400,
        'Microsoft.VisualStudio.Services.WebApi.VssInvalidApiVersionException, Microsoft.VisualStudio.Services.WebApi',
        `The api-version query parameter must be ${API_VERSION}.`,
      );
    }
  }

  private requireAdmin(ctx: Ctx): void {
    const auth = this.authorization(ctx);
    const claims =
      auth?.scheme === 'bearer' ? verifyJwtHs256(auth.credential, this.adminSecret) : undefined;
    if (!claims) {
      throw new FakeServiceError(401, undefined, 'The admin token is missing or not valid.');
    }
    if (typeof claims.exp !== 'number' || claims.exp <= nowSec()) {
      throw new FakeServiceError(401, undefined, 'The admin token has expired.');
    }
  }

  private queueSession(ctx: Ctx): SessionRecord {
    const auth = this.authorization(ctx);
    const session =
      auth?.scheme === 'bearer' ? this.state.sessionByQueueToken(auth.credential) : undefined;
    if (!session) {
      throw new FakeServiceError(401, undefined, 'The message queue token is not valid.');
    }
    return session;
  }

  private async getMessage(ctx: Ctx): Promise<void> {
    const session = this.queueSession(ctx);
    const capacity = ctx.req.headers['x-scalesetmaxcapacity'];
    if (typeof capacity !== 'string' || !/^\d+$/.test(capacity.trim())) {
      throw new HttpError(400, 'X-ScaleSetMaxCapacity must be a non-negative integer.');
    }
    const last = ctx.query.lastMessageId ?? '0';
    if (!/^\d+$/.test(last)) {
      throw new HttpError(400, 'lastMessageId must be a non-negative integer.');
    }
    const poll = this.state.getMessage(session, Number(capacity.trim()), Number(last));
    ctx.res.on('close', poll.cancel);
    const message = await poll.result;
    if (ctx.res.destroyed) {
      return;
    }
    if (message) {
      this.sendJson(ctx, 200, message);
    } else {
      this.sendEmpty(ctx, 202);
    }
  }

  // ---- fake runner and control API -------------------------------------------------------

  private async handleFake(ctx: Ctx, method: string): Promise<void> {
    const parts = ctx.path.split('/').filter((p) => p !== '');
    const area = parts[1];
    const rest = parts.slice(2).map((p) => decodeURIComponent(p));
    if (area === 'runner') {
      await this.handleRunner(ctx, method, rest);
      return;
    }
    if (area === 'control') {
      this.handleControl(ctx, method, rest);
      return;
    }
    throw new HttpError(404, `No route for ${method} ${ctx.path}`);
  }

  private async handleRunner(ctx: Ctx, method: string, rest: string[]): Promise<void> {
    const auth = this.authorization(ctx);
    const runner =
      auth?.scheme === 'bearer' ? this.state.runnerByCredential(auth.credential) : undefined;
    if (!runner) {
      throw new HttpError(401, 'Unknown or used runner credential (JIT configs are single-use).');
    }
    const action = `${method} ${rest.join('/')}`;
    switch (action) {
      case 'POST online':
        this.state.runnerOnline(runner);
        this.sendJson(ctx, 200, {
          runnerId: String(runner.id),
          runnerName: runner.name,
          scaleSetId: String(runner.scaleSetId),
        });
        return;
      case 'GET job': {
        const wait = Number(ctx.query.waitMs ?? this.settings.runnerPollTimeoutMs);
        const poll = this.state.waitForJob(runner, Number.isFinite(wait) ? wait : 0);
        ctx.res.on('close', poll.cancel);
        const job = await poll.result;
        if (ctx.res.destroyed) {
          return;
        }
        if (job) {
          this.sendJson(ctx, 200, job, false);
        } else if (this.state.runnerByCredential(runner.credential)) {
          this.sendEmpty(ctx, 204);
        } else {
          throw new HttpError(410, `Runner ${runner.name} was removed.`);
        }
        return;
      }
      case 'POST started':
        this.sendJson(ctx, 200, { ok: true }, false);
        return;
      case 'POST finished': {
        const body = this.formOrJson(ctx.body);
        const result =
          typeof body.result === 'string' && body.result !== '' ? body.result : undefined;
        this.state.runnerFinished(runner, result);
        this.sendJson(ctx, 200, { ok: true }, false);
        return;
      }
      default:
        throw new HttpError(404, `No runner route ${action}`);
    }
  }

  private handleControl(ctx: Ctx, method: string, rest: string[]): void {
    const body = asRecord(parseJson(ctx.body));
    const [a = '', b, c] = rest;
    const key = `${method} ${a}${b === undefined ? '' : '/:'}${c === undefined ? '' : `/${c}`}`;
    const ok = (value: unknown): void => {
      this.sendJson(ctx, 200, value ?? { ok: true }, false);
    };
    const optionalString = (v: unknown): string | undefined =>
      typeof v === 'string' ? v : undefined;
    switch (key) {
      case 'GET info':
        ok({
          origin: this.origin,
          configUrls: {
            org: this.configUrl('org'),
            repo: this.configUrl('repo'),
            enterprise: this.configUrl('enterprise'),
          },
          pat: this.pat,
          app: {
            clientId: this.app.clientId,
            appId: this.app.appId,
            installationId: this.app.installationId,
          },
        });
        return;
      case 'POST jobs': {
        const n =
          typeof body.count === 'number' ? body.count : typeof body.n === 'number' ? body.n : 1;
        const opts: QueueJobsOptions = {};
        if (Array.isArray(body.labels)) {
          opts.labels = body.labels.filter((l): l is string => typeof l === 'string');
        }
        if (typeof body.durationMs === 'number') {
          opts.durationMs = body.durationMs;
        }
        if (typeof body.result === 'string') {
          opts.result = body.result;
        }
        if (typeof body.scaleSetId === 'number') {
          opts.scaleSetId = body.scaleSetId;
        }
        ok(this.queueJobs(n, opts));
        return;
      }
      case 'GET jobs':
        ok(this.jobs());
        return;
      case 'GET jobs/:': {
        const job = this.job(b ?? '');
        if (!job) {
          throw new HttpError(404, `Unknown job ${b ?? ''}`);
        }
        ok(job);
        return;
      }
      case 'POST jobs/:/assign':
        this.assignJob(b ?? '');
        ok(this.job(b ?? ''));
        return;
      case 'POST jobs/:/start':
        this.startJob(b ?? '', optionalString(body.runnerName));
        ok(this.job(b ?? ''));
        return;
      case 'POST jobs/:/complete':
        this.completeJob(b ?? '', optionalString(body.result));
        ok(this.job(b ?? ''));
        return;
      case 'GET runners': {
        const id = ctx.query.scaleSetId;
        ok(this.runners(id === undefined ? undefined : Number(id)));
        return;
      }
      case 'POST runners/:/online':
        this.setRunnerOnline(b ?? '');
        ok(undefined);
        return;
      case 'POST runners/:/finish':
        this.finishRunner(b ?? '', optionalString(body.result));
        ok(undefined);
        return;
      case 'POST runners/:':
        if (b !== 'plant' || typeof body.scaleSetId !== 'number') {
          throw new HttpError(400, 'Use POST /_fake/control/runners/plant {"scaleSetId":…}.');
        }
        ok(this.plantOfflineRunner(body.scaleSetId, optionalString(body.name)));
        return;
      case 'GET sessions':
        ok(this.sessions());
        return;
      case 'POST sessions/:/expire':
        ok({ expired: this.expireSession(b ?? '') });
        return;
      case 'GET scale-sets':
        ok(this.scaleSets());
        return;
      case 'DELETE scale-sets/:':
        this.deleteScaleSet(Number(b));
        ok(undefined);
        return;
      case 'GET scale-sets/:/runners':
        ok(this.runners(Number(b)));
        return;
      case 'GET runner-groups':
        ok(this.runnerGroups());
        return;
      case 'POST runner-groups':
        ok(this.addRunnerGroup(optionalString(body.name) ?? ''));
        return;
      case 'GET requests': {
        const endpoint = ctx.query.endpoint;
        ok(endpoint === undefined ? this.requests : this.requestsFor(endpoint as RecordedEndpoint));
        return;
      }
      case 'DELETE requests':
        this.clearRequests();
        ok(undefined);
        return;
      case 'GET stats':
        ok(this.stats());
        return;
      case 'POST faults':
        this.injectFault(body as unknown as FakeFault);
        ok(undefined);
        return;
      case 'DELETE faults':
        this.clearFaults();
        ok(undefined);
        return;
      case 'GET behaviour':
        ok(this.behaviour());
        return;
      case 'POST behaviour':
        ok(this.setBehaviour(body));
        return;
      default:
        throw new HttpError(404, `No control route ${method} ${ctx.path}`);
    }
  }

  // ---- helpers ---------------------------------------------------------------------------

  private authorization(ctx: Ctx): { scheme: string; credential: string } | undefined {
    const header = ctx.req.headers.authorization;
    const m = header === undefined ? null : /^\s*(\S+)\s+(\S+)\s*$/.exec(header);
    if (!m) {
      return undefined;
    }
    return { scheme: (m[1] ?? '').toLowerCase(), credential: m[2] ?? '' };
  }

  private async readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      if (size > MAX_BODY_BYTES) {
        throw new HttpError(413, 'Request body too large.');
      }
      chunks.push(buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  private formOrJson(text: string): Record<string, unknown> {
    const trimmed = text.trim();
    if (trimmed.startsWith('{')) {
      return asRecord(parseJson(trimmed));
    }
    return Object.fromEntries(new URLSearchParams(trimmed));
  }

  private lowerCaseHeaders(req: IncomingMessage): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) {
        headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
      }
    }
    return headers;
  }

  private idHeaders(endpoint: RecordedEndpoint): Record<string, string> {
    if (endpoint === 'fake' || endpoint === 'unknown') {
      return {};
    }
    return isGitHubRestEndpoint(endpoint)
      ? { 'x-github-request-id': randomBytes(8).toString('hex').toUpperCase() }
      : { activityid: randomUUID() };
  }

  private exceptionBody(typeName: string | undefined, message: string): Record<string, unknown> {
    const short = typeName?.split(',')[0]?.split('.').pop();
    return {
      $id: '1',
      innerException: null,
      message,
      typeName:
        typeName ??
        'GitHub.Actions.Runtime.WebApi.RunnerScaleSetException, GitHub.Actions.Runtime.WebApi',
      typeKey: short ?? 'RunnerScaleSetException',
      errorCode: 0,
      eventId: 3000,
    };
  }

  private sendJson(ctx: Ctx, status: number, value: unknown, allowBom = true): void {
    let body = JSON.stringify(value);
    if (allowBom && ctx.bom) {
      body = `\uFEFF${body}`;
    }
    ctx.res.writeHead(status, {
      ...this.idHeaders(ctx.endpoint),
      'content-type': JSON_TYPE,
      'content-length': Buffer.byteLength(body),
    });
    ctx.res.end(body);
  }

  private sendEmpty(ctx: Ctx, status: number): void {
    ctx.res.writeHead(status, { ...this.idHeaders(ctx.endpoint), 'content-length': 0 });
    ctx.res.end();
  }

  private sendFailure(ctx: Ctx, error: unknown): void {
    if (ctx.res.headersSent || ctx.res.destroyed) {
      return;
    }
    const rest =
      ctx.endpoint === 'fake' || ctx.endpoint === 'unknown' || isGitHubRestEndpoint(ctx.endpoint);
    if (error instanceof FakeServiceError) {
      const body = rest
        ? { message: error.message }
        : this.exceptionBody(error.typeName, error.message);
      this.sendJson(ctx, error.status, body, !rest);
      return;
    }
    if (error instanceof HttpError || error instanceof RangeError) {
      const status = error instanceof HttpError ? error.status : 400;
      this.sendJson(ctx, status, { message: error.message });
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    this.sendJson(ctx, 500, { message: `fake GitHub internal error: ${message}` });
  }
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ComputeApiError,
  invalidCredentials,
  loginRequired,
  notFound,
  permissionDenied,
} from './fake-compute.errors';
import {
  FaultInjector,
  httpFaultError,
  insertFault,
  type InsertFault,
} from './fake-compute.faults';
import { runGuest } from './fake-compute.guest';
import { API_BASE, normaliseReference } from './fake-compute.resources';
import { deniedResource, matchComputeRoute, type ComputeRoute } from './fake-compute.routes';
import { ComputeState, type InstanceRecord } from './fake-compute.state';
import type {
  FakeComputeEvent,
  FakeComputeFault,
  FakeComputeGuest,
  FakeComputeInstance,
  FakeComputeOptions,
  FakeComputeRequest,
  FakeComputeRequestFilter,
  FakeComputeStatus,
} from './fake-compute.types';

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  status: number;
  auth: FakeComputeRequest['auth'];
  /** Caller identity for `operation.user`. */
  user: string;
  /** A `dropResponse` fault: process, then destroy the socket instead of answering. */
  drop: boolean;
}

const DEFAULT_ZONES = ['us-central1-a', 'us-central1-b', 'us-central1-c'];
/** `zoneOperations.wait` returns after at most two minutes, as documented by Google. */
const OPERATION_WAIT_MS = 120_000;
const MAX_BODY_BYTES = 4 * 1_048_576;
const JSON_TYPE = 'application/json; charset=UTF-8';
const CLOCK_SKEW_SEC = 300;

function parseQuery(url: URL): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    query[key] = value;
  }
  return query;
}

/** Claims of a bearer token if it is a JWT (`header.payload.signature`, JSON header with `alg`). */
function jwtClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) {
    return undefined;
  }
  try {
    const header = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8')) as unknown;
    const claims = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as unknown;
    if (
      typeof header !== 'object' ||
      header === null ||
      !('alg' in header) ||
      typeof claims !== 'object' ||
      claims === null
    ) {
      return undefined;
    }
    return claims as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * A faithful local fake of the Compute Engine REST API (v1) for the instances the GCP engine
 * manages, served over plain HTTP on loopback so the real `@google-cloud/compute` client can be
 * pointed at it (see `fakeComputeClientOptions`).
 *
 * Routes under `/compute/v1/projects/{project}`: `zones/{zone}/instances` (insert, list),
 * `zones/{zone}/instances/{name}` (get, delete, `setMetadata`, `setLabels`,
 * `getGuestAttributes`), `aggregated/instances`, `zones/{zone}/operations/{op}` (get, `wait`),
 * and `global/images[/family]/{name}` for any project. Answers use Google's shapes (self links on
 * `https://www.googleapis.com/compute/v1/`, operations, error bodies, pagination) and every
 * request is recorded. Instances move PROVISIONING → STAGING → RUNNING; a `guest` program then
 * runs "inside" each one.
 */
export class FakeCompute {
  readonly project: string;

  private readonly state: ComputeState;
  private readonly faults = new FaultInjector();
  private readonly recorded: FakeComputeRequest[] = [];
  private readonly host: string;
  private readonly requireAuth: boolean;
  private readonly guest: FakeComputeGuest | null;
  private readonly runningGuests = new Set<Promise<void>>();
  private server: Server | undefined;
  private listeningPort: number | undefined;
  private closed = false;

  constructor(options: FakeComputeOptions = {}) {
    this.project = options.project ?? 'fake-project';
    this.host = options.host ?? '127.0.0.1';
    this.requireAuth = options.requireAuth ?? true;
    this.guest = options.guest ?? null;
    const images =
      options.images === undefined
        ? undefined
        : new Set(options.images.map((i) => normaliseReference(i, this.project)));
    this.state = new ComputeState(
      { project: this.project, zones: [...(options.zones ?? DEFAULT_ZONES)], images },
      { bootDelayMs: options.bootDelayMs ?? 50, operationDelayMs: options.operationDelayMs ?? 20 },
      {
        statusChanged: (record) => {
          this.statusChanged(record);
        },
        removed: (record) => {
          record.guest?.abort();
        },
      },
    );
  }

  /** Listens on the configured host (`port` 0 or omitted: a free port). */
  async start(port = 0): Promise<{ url: string; port: number }> {
    if (this.server || this.closed) {
      throw new Error('FakeCompute is already started (or closed); create a new instance');
    }
    const server = createServer((req, res) => {
      void this.handle(req, res);
    });
    // zoneOperations.wait holds requests for up to two minutes.
    server.requestTimeout = 0;
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.listeningPort = (server.address() as AddressInfo).port;
    return { url: this.url, port: this.port };
  }

  /** Stops timers, aborts guests, releases pending waits and closes every connection. */
  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.state.close();
    for (const record of this.state.records()) {
      record.guest?.abort();
    }
    const server = this.server;
    this.server = undefined;
    if (server) {
      const done = new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
      // Released waits answer first; then whatever is still open is cut.
      await sleep(10);
      server.closeAllConnections();
      await done;
    }
    await Promise.allSettled([...this.runningGuests]);
  }

  /** `http://<host>:<port>`; throws before {@link FakeCompute.start}. */
  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** The listening port; throws before {@link FakeCompute.start}. */
  get port(): number {
    if (this.listeningPort === undefined) {
      throw new Error('FakeCompute has not been started');
    }
    return this.listeningPort;
  }

  /** Every live instance, all zones. */
  instances(): FakeComputeInstance[] {
    return this.state.records().map((r) => this.state.snapshot(r));
  }

  /** One live instance by name (first match across zones). */
  instance(name: string): FakeComputeInstance | undefined {
    const record = this.state.findByName(name);
    return record ? this.state.snapshot(record) : undefined;
  }

  /** Recorded requests, optionally filtered by method and a path substring. */
  requests(filter: FakeComputeRequestFilter = {}): FakeComputeRequest[] {
    return this.recorded
      .map((r) => ({ ...r, query: { ...r.query } }))
      .filter(
        (r) =>
          (filter.method === undefined || r.method === filter.method.toUpperCase()) &&
          (filter.pathIncludes === undefined || r.path.includes(filter.pathIncludes)),
      );
  }

  /** Forgets every recorded request. */
  clearRequests(): void {
    this.recorded.length = 0;
  }

  /** Arms a fault; see {@link FakeComputeFault}. */
  inject(fault: FakeComputeFault): void {
    this.faults.add(fault);
  }

  /** Disarms every fault. */
  clearFaults(): void {
    this.faults.clear();
  }

  /** Forces an instance's status, e.g. `TERMINATED` to simulate a spot preemption. */
  setStatus(name: string, status: FakeComputeStatus): void {
    this.state.setStatus(this.requireRecord(name), status);
  }

  /** The instance disappears at once (deleted by someone else). */
  deleteOutOfBand(name: string): void {
    this.state.deleteOutOfBand(this.requireRecord(name));
  }

  /** Adds a pre-existing instance (default RUNNING; no guest runs in it). */
  addInstance(zone: string, resource: Record<string, unknown>): FakeComputeInstance {
    return this.state.snapshot(this.state.addInstance(zone, resource));
  }

  /** How many instances inserts ever created. */
  insertCount(): number {
    return this.state.insertCount;
  }

  /** Status changes and guest output, oldest first. */
  events(): FakeComputeEvent[] {
    return this.state.events();
  }

  /** Polls `check` until it holds; rejects after `timeoutMs`. */
  async waitFor(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) {
        throw new Error(`FakeCompute.waitFor: ${what} not met within ${timeoutMs} ms`);
      }
      await sleep(5);
    }
  }

  private requireRecord(name: string): InstanceRecord {
    const record = this.state.findByName(name);
    if (!record) {
      throw new Error(`FakeCompute: no instance named ${name}`);
    }
    return record;
  }

  /** The guest lives only while its VM is RUNNING. */
  private statusChanged(record: InstanceRecord): void {
    if (record.status !== 'RUNNING') {
      record.guest?.abort();
      return;
    }
    if (this.guest === null || record.guest !== undefined || this.closed || !this.server) {
      return;
    }
    const running = runGuest(this.guest, record, {
      url: this.url,
      project: this.project,
      state: this.state,
    });
    this.runningGuests.add(running);
    void running.finally(() => this.runningGuests.delete(running));
  }

  // ---- HTTP ----------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const ctx: Ctx = {
      req,
      res,
      url: req.url ?? '/',
      path: url.pathname,
      query: parseQuery(url),
      body: undefined,
      status: 0,
      auth: 'none',
      user: `fake-user@${this.project}.iam.gserviceaccount.com`,
      drop: false,
    };
    res.on('close', () => {
      this.recorded.push({
        method: req.method ?? 'GET',
        path: ctx.path,
        query: ctx.query,
        body: ctx.body,
        status: ctx.status,
        at,
        auth: ctx.auth,
        dropped: ctx.drop,
      });
    });
    try {
      const text = await this.readBody(req);
      if (text.trim() !== '') {
        try {
          ctx.body = JSON.parse(text) as unknown;
        } catch {
          ctx.body = text;
          throw new ComputeApiError(
            400,
            'Invalid JSON payload received. Unexpected token.',
            'parseError',
            { statusName: 'INVALID_ARGUMENT' },
          );
        }
      }
      await this.route(ctx);
    } catch (error) {
      this.sendError(ctx, error);
    }
  }

  private async readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      if (size > MAX_BODY_BYTES) {
        throw new ComputeApiError(413, 'Request payload size exceeds the limit.', 'badRequest');
      }
      chunks.push(buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  private authenticate(ctx: Ctx): void {
    const header = ctx.req.headers.authorization;
    const match = header === undefined ? null : /^Bearer\s+(\S+)$/i.exec(header);
    const token = match?.[1];
    if (token === undefined) {
      if (this.requireAuth) {
        throw header === undefined ? loginRequired() : invalidCredentials();
      }
      return;
    }
    const claims = jwtClaims(token);
    if (!claims) {
      ctx.auth = 'token';
      return;
    }
    ctx.auth = 'jwt';
    const exp = claims.exp;
    if (this.requireAuth && (typeof exp !== 'number' || exp < Date.now() / 1000 - CLOCK_SKEW_SEC)) {
      throw invalidCredentials();
    }
    const email = claims.email ?? claims.iss;
    if (typeof email === 'string' && email !== '') {
      ctx.user = email;
    }
  }

  private async route(ctx: Ctx): Promise<void> {
    const verb = ctx.req.method ?? 'GET';
    const route = matchComputeRoute(verb, ctx.path);
    if (!route) {
      // Google's front end answers unknown paths with an HTML page, not a JSON error.
      this.send(
        ctx,
        404,
        'text/html; charset=UTF-8',
        `<!DOCTYPE html>\n<title>Error 404 (Not Found)!!1</title>\n<p>The requested URL <code>${ctx.path}</code> was not found on this server.</p>\n`,
      );
      return;
    }
    this.authenticate(ctx);
    const isImage = route.method === 'images.get' || route.method === 'images.getFromFamily';
    if (!isImage && route.project !== this.project) {
      throw permissionDenied(route.permission, deniedResource(route));
    }
    const insertZone =
      route.method === 'instances.insert' && !this.state.knowsRequestId(ctx.query.requestId)
        ? route.zone
        : undefined;
    const fault = this.faults.take({ method: verb, url: ctx.url, insertZone });
    let insert: InsertFault | undefined;
    if (fault) {
      switch (fault.kind) {
        case 'delay':
          await sleep(fault.ms);
          break;
        case 'dropResponse':
          ctx.drop = true;
          break;
        case 'http':
          throw httpFaultError(fault, this.project);
        case 'stockout':
        case 'quota':
          insert = insertFault(fault, this.project, route.zone ?? '', ctx.body);
          break;
      }
    }
    if (route.zone !== undefined) {
      this.state.requireZone(route.zone);
    }
    await this.dispatch(ctx, route, insert);
  }

  private async dispatch(
    ctx: Ctx,
    route: ComputeRoute,
    fault: InsertFault | undefined,
  ): Promise<void> {
    const zone = route.zone ?? '';
    const name = route.resource ?? '';
    const requestId = ctx.query.requestId;
    switch (route.method) {
      case 'instances.insert':
        this.sendJson(ctx, 200, this.state.insert(zone, ctx.body, requestId, ctx.user, fault));
        return;
      case 'instances.list':
        this.sendJson(ctx, 200, this.state.list(zone, ctx.query));
        return;
      case 'instances.get':
        this.sendJson(ctx, 200, this.state.getInstance(zone, name));
        return;
      case 'instances.delete':
        this.sendJson(ctx, 200, this.state.delete(zone, name, requestId, ctx.user));
        return;
      case 'instances.setMetadata':
        this.sendJson(ctx, 200, this.state.setMetadata(zone, name, ctx.body, requestId, ctx.user));
        return;
      case 'instances.setLabels':
        this.sendJson(ctx, 200, this.state.setLabels(zone, name, ctx.body, requestId, ctx.user));
        return;
      case 'instances.getGuestAttributes':
        this.sendJson(ctx, 200, this.state.guestAttributes(zone, name, ctx.query));
        return;
      case 'instances.aggregatedList':
        this.sendJson(ctx, 200, this.state.aggregatedList(ctx.query));
        return;
      case 'zoneOperations.get':
        this.sendJson(ctx, 200, this.state.getOperation(zone, name));
        return;
      case 'zoneOperations.wait':
        this.sendJson(ctx, 200, await this.state.waitOperation(zone, name, OPERATION_WAIT_MS));
        return;
      case 'images.get':
      case 'images.getFromFamily':
        this.sendJson(ctx, 200, this.image(route));
        return;
    }
  }

  /** A minimal image resource for known images (any image when no list was configured). */
  private image(route: ComputeRoute): Record<string, unknown> {
    const family = route.method === 'images.getFromFamily';
    const path = `projects/${route.project}/global/images/${family ? 'family/' : ''}${route.resource ?? ''}`;
    const known = this.state.scope.images;
    if (known !== undefined && !known.has(path)) {
      throw notFound(path);
    }
    const name = family ? `${route.resource ?? ''}-v20250101` : (route.resource ?? '');
    const image: Record<string, unknown> = {
      kind: 'compute#image',
      id: '1000000000000000001',
      name,
      status: 'READY',
      architecture: 'X86_64',
      diskSizeGb: '10',
      selfLink: `${API_BASE}projects/${route.project}/global/images/${name}`,
    };
    if (family) {
      image.family = route.resource;
    }
    return image;
  }

  private sendError(ctx: Ctx, error: unknown): void {
    if (error instanceof ComputeApiError) {
      this.sendJson(ctx, error.status, error.toBody());
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    this.sendJson(ctx, 500, {
      error: {
        code: 500,
        message: `Internal error in the fake: ${message}`,
        errors: [{ message, domain: 'global', reason: 'backendError' }],
      },
    });
  }

  private sendJson(ctx: Ctx, status: number, body: unknown): void {
    this.send(ctx, status, JSON_TYPE, JSON.stringify(body));
  }

  private send(ctx: Ctx, status: number, type: string, text: string): void {
    ctx.status = status;
    if (ctx.drop) {
      ctx.req.socket.destroy();
      return;
    }
    if (ctx.res.headersSent || ctx.res.destroyed) {
      return;
    }
    ctx.res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
    ctx.res.end(text);
  }
}

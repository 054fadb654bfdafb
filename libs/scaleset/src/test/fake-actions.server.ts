import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the server saw it. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly rawUrl: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** What a handler answers; `body` objects are sent as JSON. */
export interface Reply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string | object | null;
  readonly delayMs?: number;
}

type Handler = (req: RecordedRequest) => Reply | undefined;

/** Unsigned JWT with the given `exp` (seconds); the client never verifies signatures. */
export function fakeJwt(expSeconds: number, extra: Record<string, unknown> = {}): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc({ exp: expSeconds, iss: '123', ...extra })}.c2ln`;
}

/**
 * Tiny Actions-service stand-in for unit tests on 127.0.0.1 (GHES layout, §11): the
 * token chain is answered by default; tests add handlers (checked newest first).
 */
export class FakeActionsServer {
  readonly requests: RecordedRequest[] = [];
  /** Lifetime of issued admin tokens, in seconds. */
  adminTokenTtlSeconds = 600;
  adminTokensIssued = 0;
  readonly #handlers: Handler[] = [];
  readonly #server: Server;
  #origin = '';

  constructor() {
    this.#server = createServer((req, res) => {
      void this.#handle(req, res);
    });
  }

  get origin(): string {
    return this.#origin;
  }

  get configUrl(): string {
    return `${this.#origin}/test-org`;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.listen(0, '127.0.0.1', resolve);
    });
    const { port } = this.#server.address() as AddressInfo;
    this.#origin = `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
  }

  /** Adds a handler; newer handlers win. */
  on(handler: Handler): void {
    this.#handlers.unshift(handler);
  }

  /** Requests whose method matches and whose path ends with `suffix`. */
  hits(method: string, suffix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path.endsWith(suffix));
  }

  #default(req: RecordedRequest): Reply {
    if (req.method === 'POST' && req.path.endsWith('/actions/runners/registration-token')) {
      return {
        status: 201,
        body: { token: 'registration-token-abc', expires_at: '2030-01-01T00:00:00Z' },
      };
    }
    if (req.method === 'POST' && /\/app\/installations\/\d+\/access_tokens$/.test(req.path)) {
      return {
        status: 201,
        body: { token: 'ghs_installationtoken0123456789', expires_at: '2030-01-01T00:00:00Z' },
      };
    }
    if (req.method === 'POST' && req.path === '/api/v3/actions/runner-registration') {
      this.adminTokensIssued += 1;
      const exp = Math.floor(Date.now() / 1000) + this.adminTokenTtlSeconds;
      return {
        status: 201,
        body: {
          url: `${this.#origin}/tenant/123/`,
          token: fakeJwt(exp, { n: this.adminTokensIssued }),
        },
      };
    }
    return { status: 404, headers: { 'content-type': 'text/plain' }, body: 'no route' };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      chunks.push(chunk as Buffer);
    }
    const rawUrl = req.url ?? '/';
    const url = new URL(rawUrl, 'http://x');
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      rawUrl,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    this.requests.push(recorded);
    let reply: Reply | undefined;
    for (const handler of this.#handlers) {
      reply = handler(recorded);
      if (reply !== undefined) {
        break;
      }
    }
    reply ??= this.#default(recorded);
    if (reply.delayMs !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
    }
    const body =
      reply.body === undefined
        ? ''
        : typeof reply.body === 'string'
          ? reply.body
          : JSON.stringify(reply.body);
    const headers: Record<string, string> = { ...reply.headers };
    if (typeof reply.body === 'object' && !('content-type' in headers)) {
      headers['content-type'] = 'application/json; charset=utf-8';
    }
    if (res.destroyed) {
      return;
    }
    res.writeHead(reply.status, headers);
    res.end(body);
  }
}

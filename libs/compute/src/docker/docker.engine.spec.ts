import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import {
  EngineConfigError,
  EngineImageNotFoundError,
  EnginePermanentError,
  EngineTimeoutError,
  EngineTransientError,
} from '../errors';
import { DockerEngine, dockerState } from './docker.engine';
import type { DockerEngineOptions } from './docker.options';

interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly body: string;
}

type Handler = (req: IncomingMessage, body: string) => { status: number; json?: unknown } | 'hang';

/**
 * A stand-in Docker daemon on a unix socket: enough of the API to drive the engine through
 * the failure modes a real daemon can't be made to produce on demand.
 */
class FakeDaemon {
  readonly requests: Recorded[] = [];
  private readonly server: Server;
  private readonly hanging: ServerResponse[] = [];

  constructor(
    readonly socketPath: string,
    private readonly handler: Handler,
  ) {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      req.on('end', () => {
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', body });
        const answer = this.handler(req, body);
        if (answer === 'hang') {
          this.hanging.push(res);
          return;
        }
        res.writeHead(answer.status, { 'Content-Type': 'application/json' });
        res.end(answer.json === undefined ? '' : JSON.stringify(answer.json));
      });
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socketPath, resolve));
  }

  close(): Promise<void> {
    for (const res of this.hanging) {
      res.destroy();
    }
    return new Promise((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }
}

/** Routes the calls `start` makes; `onCreate` decides the create answer. */
function daemonAnswering(onCreate: Handler): Handler {
  return (req, body) => {
    const url = req.url ?? '';
    if (req.method === 'GET' && /\/containers\/[^/]+\/json/.test(url)) {
      return { status: 404, json: { message: 'No such container: x' } };
    }
    if (req.method === 'GET' && url.startsWith('/images/')) {
      return { status: 200, json: { Id: 'sha256:1' } };
    }
    if (req.method === 'POST' && url.startsWith('/containers/create')) {
      return onCreate(req, body);
    }
    if (req.method === 'POST' && /\/containers\/[^/]+\/start/.test(url)) {
      return { status: 204 };
    }
    if (req.method === 'DELETE') {
      return { status: 204 };
    }
    return { status: 500, json: { message: `unexpected ${req.method ?? ''} ${url}` } };
  };
}

const JIT = `jit-${randomUUID()}`;
const spec = { name: 'runner-1', jitConfig: JIT, scaleSetId: 3, scaleSetName: 'linux' };
let dir = '';
let daemon: FakeDaemon | undefined;

async function startDaemon(handler: Handler): Promise<FakeDaemon> {
  daemon = new FakeDaemon(join(dir, `${randomUUID().slice(0, 8)}.sock`), handler);
  await daemon.listen();
  return daemon;
}

function engineFor(d: FakeDaemon, options: Partial<DockerEngineOptions> = {}): DockerEngine {
  return new DockerEngine({
    ownerId: 'deploy-1',
    dockerHost: `unix://${d.socketPath}`,
    ...options,
  });
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err,
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scaleset-fake-docker-'));
});

afterEach(async () => {
  await daemon?.close();
  daemon = undefined;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('DockerEngine (fake daemon)', () => {
  it('sends the JIT config only in the create body, never in a URL', async () => {
    const d = await startDaemon(daemonAnswering(() => ({ status: 201, json: { Id: 'abc123' } })));

    const ref = await engineFor(d).start(spec);

    expect(ref).toEqual({ name: 'runner-1', engineId: 'abc123', adopted: false, state: 'running' });
    const create = d.requests.find((r) => r.url.startsWith('/containers/create'));
    expect(create?.url).toBe('/containers/create?name=runner-1');
    expect(JSON.parse(create?.body ?? '{}')).toMatchObject({
      Env: [`ACTIONS_RUNNER_INPUT_JITCONFIG=${JIT}`],
      HostConfig: { AutoRemove: false },
    });
    for (const r of d.requests) {
      expect(decodeURIComponent(r.url)).not.toContain(JIT);
    }
  });

  it('makes no daemon call when constructed', async () => {
    const d = await startDaemon(daemonAnswering(() => ({ status: 500 })));

    engineFor(d);

    expect(d.requests).toHaveLength(0);
  });

  it('retries a daemon 5xx and removes nothing it did not create', async () => {
    const d = await startDaemon(
      daemonAnswering(() => ({ status: 500, json: { message: `boom ${JIT}` } })),
    );

    const err = await failure(engineFor(d).start(spec));

    expect(err).toBeInstanceOf(EngineTransientError);
    expect(err).toMatchObject({ code: 'SERVER_ERROR', status: 500, operation: 'create-container' });
    expect(inspect(err, { depth: 10 })).not.toContain(JIT);
    expect(d.requests.some((r) => r.method === 'DELETE')).toBe(false);
  });

  it('fails permanently when the daemon rejects the config (400)', async () => {
    const d = await startDaemon(
      daemonAnswering(() => ({ status: 400, json: { message: 'invalid mount config' } })),
    );

    const err = await failure(engineFor(d).start(spec));

    expect(err).toBeInstanceOf(EnginePermanentError);
    expect(err).toMatchObject({ code: 'REJECTED', retryable: false });
  });

  it('checks the image again when it vanished after the first check', async () => {
    let creates = 0;
    const d = await startDaemon(
      daemonAnswering(() => {
        creates++;
        return creates === 1
          ? { status: 404, json: { message: 'No such image: runner:1' } }
          : { status: 201, json: { Id: 'second' } };
      }),
    );

    const ref = await engineFor(d, { pullPolicy: 'never' }).start(spec);

    expect(ref.engineId).toBe('second');
    expect(d.requests.filter((r) => r.url.startsWith('/images/'))).toHaveLength(2);
  });

  it('reports a missing image permanently when creates keep saying so', async () => {
    const d = await startDaemon(
      daemonAnswering(() => ({ status: 404, json: { message: 'No such image: runner:1' } })),
    );

    const err = await failure(engineFor(d, { pullPolicy: 'never' }).start(spec));

    expect(err).toBeInstanceOf(EngineImageNotFoundError);
  });

  it('times out a hung daemon call as retryable', async () => {
    const d = await startDaemon(daemonAnswering(() => 'hang'));

    const err = await failure(engineFor(d, { apiTimeoutMs: 100 }).start(spec));

    expect(err).toBeInstanceOf(EngineTimeoutError);
    expect(err).toMatchObject({ retryable: true, code: 'TIMEOUT' });
  });

  it("stops when the caller's signal aborts", async () => {
    const d = await startDaemon(daemonAnswering(() => 'hang'));
    const controller = new AbortController();

    const pending = failure(engineFor(d).start(spec, controller.signal));
    await new Promise((r) => setTimeout(r, 50));
    controller.abort();

    expect(await pending).toMatchObject({ code: 'ABORTED', retryable: true });
  });

  it('aborts calls in flight on close()', async () => {
    const d = await startDaemon(daemonAnswering(() => 'hang'));
    const engine = engineFor(d);

    const pending = failure(engine.start(spec));
    await new Promise((r) => setTimeout(r, 50));
    await engine.close();

    expect(await pending).toMatchObject({ code: 'ABORTED' });
  });

  it('refuses names Docker would not accept, before calling the daemon', async () => {
    const d = await startDaemon(daemonAnswering(() => ({ status: 201, json: { Id: 'x' } })));
    const engine = engineFor(d);

    for (const name of ['../etc', 'a/b', '', '-leading-dash', 'x'.repeat(129)]) {
      await expect(engine.start({ ...spec, name })).rejects.toBeInstanceOf(EngineConfigError);
      await expect(engine.destroy({ name })).rejects.toBeInstanceOf(EngineConfigError);
      await expect(engine.inspect(name)).rejects.toBeInstanceOf(EngineConfigError);
    }
    await expect(engine.start({ ...spec, jitConfig: '' })).rejects.toBeInstanceOf(
      EngineConfigError,
    );
    await expect(
      engine.start({ ...spec, labels: { 'io.scaleset.owner': 'forged' } }),
    ).rejects.toBeInstanceOf(EngineConfigError);
    expect(d.requests).toHaveLength(0);
  });
});

describe('dockerState', () => {
  it.each([
    ['created', 'starting'],
    ['restarting', 'starting'],
    ['running', 'running'],
    ['paused', 'running'],
    ['removing', 'stopping'],
    ['exited', 'exited'],
    ['dead', 'exited'],
  ] as const)('maps %s to %s', (status, state) => {
    expect(dockerState(status)).toBe(state);
  });
});

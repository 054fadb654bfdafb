import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export { scanRedisForSecret, type SecretFinding, type SecretScanReport } from './redis-scan';

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** Turn on the append-only file, so data survives {@link RedisServer.restart} (chaos tests). */
  readonly appendonly?: boolean;
  /** `appendfsync` policy when `appendonly` is on (default `everysec`). */
  readonly appendfsync?: 'always' | 'everysec' | 'no';
  /** Port to listen on (default: a free one). */
  readonly port?: number;
  /** Data directory (default: a new temporary directory, removed by `stop()`). */
  readonly dir?: string;
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '64mb']`. */
  readonly args?: readonly string[];
  /** How long to wait for `PING` to answer (default 10 s). */
  readonly startTimeoutMs?: number;
  /** The binary (default `redis-server` from `PATH`). */
  readonly binary?: string;
}

/** How to stop the server: SIGTERM (clean shutdown, AOF flushed) or SIGKILL (crash). */
export interface RedisStopOptions {
  readonly signal?: 'SIGTERM' | 'SIGKILL';
}

/** A `redis-server` this process started on 127.0.0.1. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Pid of the current process (changes on restart). */
  readonly pid: number;
  /** Data directory. */
  readonly dir: string;
  /** Stops the server (by pid) and removes the data directory if it was created here. */
  stop(options?: RedisStopOptions): Promise<void>;
  /** Stops and starts the server again on the same port and directory. */
  restart(options?: RedisStopOptions): Promise<void>;
}

const OUTPUT_TAIL = 4096;

/**
 * Starts a real `redis-server` on a free 127.0.0.1 port in a temporary directory, and resolves
 * once it answers `PING`. Persistence is off unless `appendonly` is set. Always `stop()` it.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'scaleset-redis-'));
  let port = options.port ?? 0;
  let proc: ChildProcess | undefined;
  for (let attempt = 1; proc === undefined; attempt++) {
    const candidate = port === 0 ? await freePort() : port;
    try {
      proc = await launch(candidate, dir, options);
      port = candidate;
    } catch (error) {
      // Another process may take the free port between probing and binding; try another one.
      if (options.port !== undefined || attempt >= 3) {
        if (ownDir) {
          rmSync(dir, { recursive: true, force: true });
        }
        throw error;
      }
    }
  }
  let current: ChildProcess = proc;
  const pidOf = (p: ChildProcess): number => p.pid ?? -1;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return pidOf(current);
    },
    async stop(stopOptions = {}) {
      await terminate(current, stopOptions.signal ?? 'SIGTERM');
      if (ownDir) {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    async restart(stopOptions = {}) {
      await terminate(current, stopOptions.signal ?? 'SIGTERM');
      current = await launch(port, dir, options);
    },
  };
}

/**
 * The Redis URL integration tests use: `REDIS_URL`, which `npm test` sets after starting its
 * own redis-server. Throws with instructions when it is not set.
 */
export function redisUrlForTests(): string {
  const url = process.env['REDIS_URL'];
  if (url === undefined || url === '') {
    throw new Error(
      'REDIS_URL is not set. Run integration tests through `npm test` (it starts redis-server), ' +
        'or set REDIS_URL=redis://127.0.0.1:<port> to a Redis you may write to.',
    );
  }
  return url;
}

/** A random key prefix (or queue/BullMQ prefix part) that isolates one test's keys. */
export function randomTestPrefix(label = 'test'): string {
  return `${label}-${randomUUID()}`;
}

async function launch(
  port: number,
  dir: string,
  options: RedisServerOptions,
): Promise<ChildProcess> {
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--daemonize',
    'no',
    '--save',
    '',
    '--appendonly',
    options.appendonly === true ? 'yes' : 'no',
    '--appendfsync',
    options.appendfsync ?? 'everysec',
    ...(options.args ?? []),
  ];
  const proc = spawn(options.binary ?? 'redis-server', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
  };
  proc.stdout.on('data', collect);
  proc.stderr.on('data', collect);
  const exited = new Promise<string>((resolve) => {
    proc.once('error', (error) => {
      resolve(`could not start: ${error.message}`);
    });
    proc.once('exit', (code, signal) => {
      resolve(`exited with ${signal ?? `code ${String(code)}`}`);
    });
  });
  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  for (;;) {
    const early = await Promise.race([exited, sleep(50).then(() => undefined)]);
    if (early !== undefined) {
      throw new Error(`redis-server on port ${port} ${early}:\n${output}`);
    }
    if (await answersPing(port)) {
      return proc;
    }
    if (Date.now() > deadline) {
      await terminate(proc, 'SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING in time:\n${output}`);
    }
  }
}

async function terminate(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return;
  }
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', () => {
      resolve();
    });
  });
  proc.kill(signal);
  const timedOut = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)]);
  if (timedOut) {
    proc.kill('SIGKILL');
    await exited;
  }
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => {
      done(false);
    });
    socket.once('error', () => {
      done(false);
    });
    socket.once('connect', () => {
      socket.write('PING\r\n');
    });
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      // `-LOADING` while the AOF is replayed: keep waiting.
      if (reply.includes('\r\n')) {
        done(reply.startsWith('+PONG'));
      }
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });
}

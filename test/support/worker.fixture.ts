import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import type { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { RUNNER_LABELS } from '@app/compute';
import { loadConfig, type ScalesetConfig } from '@app/config';
import { ScaleSetClient } from '@app/scaleset';
import { REDACTED_LOG_PATHS } from '@app/telemetry';
import type { FakeGitHub } from '@app/testing';

// Shared helpers of the worker's integration and end-to-end tests.

/** A short random id (lower-case hex), for names with length limits (Redis prefix ≤ 32). */
export function shortId(bytes = 5): string {
  return randomBytes(bytes).toString('hex');
}

/** Polls `check` every 100 ms until it returns a value other than `undefined`/`false`. */
export async function waitUntil<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) {
        return value;
      }
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? ` (last error: ${last.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A pino logger writing JSON lines into `lines`, with the production redaction paths. */
export function memoryLogger(lines: string[] = []): { logger: Logger; lines: string[] } {
  const logger = pino(
    { level: 'debug', redact: { paths: [...REDACTED_LOG_PATHS], censor: '[REDACTED]' } },
    {
      write(line: string) {
        lines.push(line);
      },
    },
  );
  return { logger, lines };
}

/** What {@link workerConfigYaml} puts into a config file. */
export interface WorkerConfigSpec {
  readonly fake: FakeGitHub;
  readonly scaleSetName: string;
  /** Docker runner image; ignored when `engine` is given. */
  readonly image?: string;
  /** The `engine:` section's lines (indented), replacing the Docker engine of `image`. */
  readonly engine?: readonly string[];
  readonly redisUrl: string;
  /** `redis.prefix` (1–32 characters); BullMQ uses `{<prefix>}`. */
  readonly redisPrefix: string;
  /** Owner label of every container (`deployment.id`). */
  readonly deploymentId: string;
  readonly dockerHost?: string;
  readonly pullPolicy?: 'never' | 'if-not-present' | 'always';
  /** Extra YAML lines of the `worker:` section, e.g. `job_lock: 2s`. */
  readonly worker?: readonly string[];
}

/** A complete scaleset config file for a worker against the fake GitHub and a test image. */
export function workerConfigYaml(spec: WorkerConfigSpec): string {
  const dockerHost = spec.dockerHost ?? process.env['DOCKER_HOST'];
  return [
    'github:',
    `  url: '${spec.fake.configUrl('org')}'`,
    `  token: '${spec.fake.pat}'`,
    'scaleset:',
    `  name: '${spec.scaleSetName}'`,
    '  max_runners: 5',
    'engine:',
    ...(spec.engine ?? [
      '  docker:',
      '    enable: true',
      `    image: '${spec.image ?? 'scaleset-test-image-not-given'}'`,
      `    pull_policy: ${spec.pullPolicy ?? 'never'}`,
      '    network: host',
      ...(dockerHost === undefined ? [] : [`    docker_host: '${dockerHost}'`]),
    ]),
    'redis:',
    `  url: '${spec.redisUrl}'`,
    `  prefix: '${spec.redisPrefix}'`,
    'deployment:',
    `  id: '${spec.deploymentId}'`,
    'logging:',
    '  level: debug',
    '  format: json',
    'worker:',
    ...(spec.worker ?? []).map((line) => `  ${line}`),
  ].join('\n');
}

/** Loads {@link workerConfigYaml} through the real config loader (no environment). */
export function loadWorkerConfig(spec: WorkerConfigSpec): ScalesetConfig {
  const dir = mkdtempSync(join(tmpdir(), 'scaleset-worker-config-'));
  try {
    const path = join(dir, 'config.yaml');
    writeFileSync(path, workerConfigYaml(spec));
    return loadConfig({ configPath: path, env: {}, cwd: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Creates a scale set on the fake (as the listener would) and returns its id. */
export async function createFakeScaleSet(fake: FakeGitHub, name: string): Promise<number> {
  const client = new ScaleSetClient({
    configUrl: fake.configUrl('org'),
    auth: { kind: 'pat', token: fake.pat },
    proxy: 'none',
  });
  try {
    const created = await client.createRunnerScaleSet({
      name,
      runnerGroupId: 1,
      labels: [{ type: 'System', name }],
      runnerSetting: { disableUpdate: true },
    });
    return created.id;
  } finally {
    await client.close();
  }
}

/** Deletes every key matching the patterns (SCAN + UNLINK); never FLUSHALL on the shared Redis. */
export async function deleteKeys(redis: Redis, patterns: readonly string[]): Promise<void> {
  for (const pattern of patterns) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) {
        await redis.unlink(...keys);
      }
    } while (cursor !== '0');
  }
}

/** Containers carrying this owner label, running or not. */
export async function ownedContainers(
  docker: Dockerode,
  owner: string,
): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({
    all: true,
    filters: { label: [`${RUNNER_LABELS.owner}=${owner}`] },
  });
}

/** Force-removes every container carrying this owner label. */
export async function removeOwnedContainers(docker: Dockerode, owner: string): Promise<void> {
  for (const c of await ownedContainers(docker, owner)) {
    await docker
      .getContainer(c.Id)
      .remove({ force: true, v: true })
      .catch(() => undefined);
  }
}

/** The JIT config in a container's environment (what the runner reads). */
export async function containerJitConfig(
  docker: Dockerode,
  name: string,
): Promise<string | undefined> {
  const info = await docker.getContainer(name).inspect();
  const entry = info.Config.Env.find((e) => e.startsWith('ACTIONS_RUNNER_INPUT_JITCONFIG='));
  return entry?.slice('ACTIONS_RUNNER_INPUT_JITCONFIG='.length);
}

/**
 * A Docker daemon of the test's own (testing.md): its data survives {@link stop} and
 * {@link start}, so an image built once is there after a restart. The exec root and socket live
 * under a short /tmp path (unix socket paths are limited to ~108 bytes).
 */
export class TestDockerd {
  readonly dir: string;
  readonly socket: string;
  private proc: ChildProcess | undefined;

  constructor() {
    this.dir = mkdtempSync('/tmp/sdk-');
    this.socket = join(this.dir, 'd.sock');
  }

  /** `unix://<socket>`, for DOCKER_HOST and `engine.docker.docker_host`. */
  get host(): string {
    return `unix://${this.socket}`;
  }

  /** A dockerode client of this daemon. */
  client(): Dockerode {
    return new Dockerode({ socketPath: this.socket });
  }

  /** Starts the daemon and waits until it answers. */
  async start(timeoutMs = 30_000): Promise<void> {
    mkdirSync(join(this.dir, 'data'), { recursive: true });
    this.proc = spawn(
      'dockerd',
      [
        '--data-root',
        join(this.dir, 'data'),
        '--exec-root',
        join(this.dir, 'x'),
        '-H',
        this.host,
        '--pidfile',
        join(this.dir, 'd.pid'),
        '--bridge=none',
        '--iptables=false',
        '--ip-masq=false',
      ],
      { stdio: 'ignore' },
    );
    const ping = new Dockerode({ socketPath: this.socket, timeout: 2_000 });
    await waitUntil(
      async () => {
        await ping.ping();
        return true;
      },
      'the test dockerd to answer',
      timeoutMs,
    );
  }

  /** Stops the daemon (SIGTERM to its pid, SIGKILL after 15 s) and waits for it to exit. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) {
      return;
    }
    const exited = new Promise<void>((resolve) => {
      proc.once('exit', () => {
        resolve();
      });
    });
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the daemon, unmounts what it left mounted (its netns) and removes its folder. */
  async destroy(): Promise<void> {
    await this.stop();
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[1] ?? '')
      .filter((path) => path.startsWith(`${this.dir}/`))
      .reverse();
    for (const path of mounts) {
      spawnSync('umount', [path], { stdio: 'ignore', timeout: 10_000 });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

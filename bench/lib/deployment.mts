// A deployment as users run it, private to one benchmark scenario: a redis-server without
// persistence, the fake GitHub service in this process, one config file, and N `scaleset
// listener` plus M `scaleset worker` processes of the built binary. Every process and the Redis
// server are registered with the cleanup below, so they are stopped (by pid) however the
// bench ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FakeGitHub, FakeGitHubOptions, RedisServer } from '@app/testing';
import type { Redis } from 'ioredis';
import { procMemoryKb } from './measure.mts';
import { SCALESET_BIN, loadIoredis, loadTesting } from './runtime.mts';
import { log } from './report.mts';

// ---- cleanup of everything started -----------------------------------------------------------

const emergency = new Map<number, () => void>();
let nextCleanupId = 1;

/** Registers a synchronous last-resort stop (SIGKILL by pid); returns its id for removal. */
export function onEmergency(stop: () => void): number {
  const id = nextCleanupId++;
  emergency.set(id, stop);
  return id;
}

export function offEmergency(id: number): void {
  emergency.delete(id);
}

/** Kills every child process and Redis server still registered (exit, signal, crash). */
export function killEverything(): void {
  for (const stop of [...emergency.values()].reverse()) {
    try {
      stop();
    } catch {
      // Already gone.
    }
  }
  emergency.clear();
}

// ---- one scaleset process --------------------------------------------------------------------

export type Role = 'listener' | 'worker';

/** One `node bin/scaleset.js <role> --config <file>` process, restartable; logs go to files. */
export class ScalesetProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private cleanupId = 0;
  private run = 0;
  /** Log file of the current run. */
  logFile = '';
  /** Engine event file of the current run (workers). */
  eventsFile = '';
  /** Every engine event file of every run. */
  readonly eventsFiles: string[] = [];
  /** Pids of every run, for the peak-memory figures of runs that already ended. */
  readonly pids: number[] = [];

  readonly name: string;
  readonly role: Role;
  private readonly configPath: string;
  private readonly dir: string;

  constructor(name: string, role: Role, configPath: string, dir: string) {
    this.name = name;
    this.role = role;
    this.configPath = configPath;
    this.dir = dir;
  }

  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined || !this.running) {
      throw new Error(`${this.name} is not running`);
    }
    return pid;
  }

  start(): void {
    if (this.running) {
      throw new Error(`${this.name} is already running`);
    }
    this.run += 1;
    this.logFile = join(this.dir, `${this.name}.${this.run}.log`);
    this.eventsFile = join(this.dir, `${this.name}.${this.run}.events.jsonl`);
    const fd = openSync(this.logFile, 'a');
    const env: Record<string, string> = { PATH: process.env['PATH'] ?? '' };
    // Diagnostics, e.g. BENCH_CHILD_NODE_OPTIONS=--max-old-space-size=192 to tell a leak
    // from a heap that is merely allowed to grow.
    const nodeOptions = process.env['BENCH_CHILD_NODE_OPTIONS'];
    if (nodeOptions !== undefined && nodeOptions !== '') {
      env['NODE_OPTIONS'] = nodeOptions;
    }
    if (this.role === 'worker') {
      env['SCALESET_SIMULATED_EVENTS'] = this.eventsFile;
      this.eventsFiles.push(this.eventsFile);
    }
    const child = spawn(process.execPath, [SCALESET_BIN, this.role, '--config', this.configPath], {
      env,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.child = child;
    const pid = child.pid;
    if (pid !== undefined) {
      this.pids.push(pid);
      this.cleanupId = onEmergency(() => process.kill(pid, 'SIGKILL'));
    }
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        offEmergency(this.cleanupId);
        resolve();
      });
    });
  }

  /** Sends `signal` and waits for the exit; SIGTERM escalates to SIGKILL after `graceMs`. */
  async kill(signal: 'SIGTERM' | 'SIGKILL', graceMs = 15_000): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) {
      return;
    }
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** The current run's log. */
  output(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  hasLogged(text: string): boolean {
    return this.output().includes(text);
  }

  /** Peak resident memory (VmHWM) of the current run, in MiB. */
  peakRssMiB(): number | undefined {
    if (!this.running) {
      return undefined;
    }
    const mem = procMemoryKb(this.pid);
    return mem === undefined ? undefined : mem.hwmKb / 1024;
  }
}

// ---- the deployment ----------------------------------------------------------------------------

/** One scale set of the config file. */
export interface ScaleSetSpec {
  readonly name: string;
  readonly maxRunners: number;
  readonly minRunners?: number;
}

/** `engine.simulated` of the config file (durations as the YAML takes them: `2s`, `0`). */
export interface SimulatedSpec {
  readonly startLatency: string;
  readonly destroyLatency?: string;
  readonly runner: 'fake' | 'none';
}

export interface DeploymentOptions {
  /** Short kebab-case id of the scenario (names the folder and the deployment id). */
  readonly scenario: string;
  readonly scaleSets: readonly ScaleSetSpec[];
  readonly engine: SimulatedSpec;
  readonly listeners: number;
  readonly workers: number;
  /** `worker.concurrency`. */
  readonly concurrency: number;
  readonly leaseTtl?: string;
  readonly reevaluateInterval?: string;
  readonly scaleDownGrace?: string;
  readonly reconcileInterval?: string;
  readonly startupTimeout?: string;
  readonly logLevel?: 'info' | 'warn';
  readonly fake?: FakeGitHubOptions;
  /** Where the folder of this deployment goes (config, logs, event files). */
  readonly workRoot: string;
}

/** The running deployment; {@link Deployment.stop} stops everything it started. */
export class Deployment {
  readonly listeners: ScalesetProcess[] = [];
  readonly workers: ScalesetProcess[] = [];
  /** Scale set ids by name, as the listeners created them on the fake. */
  readonly scaleSetIds = new Map<string, number>();

  readonly options: DeploymentOptions;
  readonly fake: FakeGitHub;
  readonly redisServer: RedisServer;
  readonly redis: Redis;
  readonly dir: string;
  readonly configPath: string;
  private readonly redisCleanup: number;

  private constructor(
    options: DeploymentOptions,
    fake: FakeGitHub,
    redisServer: RedisServer,
    redis: Redis,
    dir: string,
    configPath: string,
    redisCleanup: number,
  ) {
    this.options = options;
    this.fake = fake;
    this.redisServer = redisServer;
    this.redis = redis;
    this.dir = dir;
    this.configPath = configPath;
    this.redisCleanup = redisCleanup;
  }

  static async start(options: DeploymentOptions): Promise<Deployment> {
    const testing = loadTesting();
    const { Redis: RedisClient } = loadIoredis();
    const dir = join(options.workRoot, options.scenario);
    mkdirSync(dir, { recursive: true });
    const fake = new testing.FakeGitHub({
      pollTimeoutMs: 5_000,
      maxRecordedRequests: 20_000,
      ...options.fake,
    });
    await fake.start();
    let redisServer: RedisServer;
    try {
      redisServer = await testing.startRedisServer({ args: ['--save', ''] });
    } catch (err) {
      await fake.stop();
      throw err;
    }
    const redisPid = redisServer.pid;
    const redisCleanup = onEmergency(() => process.kill(redisPid, 'SIGKILL'));
    const redis = new RedisClient(redisServer.url, { maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    const configPath = join(dir, 'config.yaml');
    writeFileSync(configPath, configYaml(options, fake, redisServer.url));
    const d = new Deployment(options, fake, redisServer, redis, dir, configPath, redisCleanup);
    try {
      for (let i = 1; i <= options.listeners; i++) {
        d.listeners.push(new ScalesetProcess(`listener-${i}`, 'listener', configPath, dir));
      }
      for (let i = 1; i <= options.workers; i++) {
        d.workers.push(new ScalesetProcess(`worker-${i}`, 'worker', configPath, dir));
      }
      for (const p of d.processes) {
        p.start();
      }
      await d.waitStarted(d.processes);
      const want = options.scaleSets.length;
      const deadline = Date.now() + 120_000;
      while (fake.sessions().length < want || fake.scaleSets().length < want) {
        if (Date.now() > deadline) {
          throw new Error(
            `only ${fake.sessions().length} of ${want} message sessions after 120 s; logs in ${dir}`,
          );
        }
        d.checkAlive();
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const s of fake.scaleSets()) {
        d.scaleSetIds.set(s.name, s.id);
      }
      return d;
    } catch (err) {
      await d.stop();
      throw err;
    }
  }

  get processes(): ScalesetProcess[] {
    return [...this.listeners, ...this.workers];
  }

  /** The id of a scale set of this deployment. */
  scaleSetId(name: string): number {
    const id = this.scaleSetIds.get(name);
    if (id === undefined) {
      throw new Error(`no scale set ${name}`);
    }
    return id;
  }

  /** Engine event files of every worker run. */
  get eventFiles(): string[] {
    return this.workers.flatMap((w) => w.eventsFiles);
  }

  /** Waits until each process logged its start line. */
  async waitStarted(processes: readonly ScalesetProcess[], timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const p of processes) {
      const line = p.role === 'listener' ? 'listener started' : 'worker started';
      while (!p.hasLogged(line)) {
        if (!p.running) {
          throw new Error(`${p.name} exited during start-up; see ${p.logFile}`);
        }
        if (Date.now() > deadline) {
          throw new Error(`${p.name} did not start within ${timeoutMs} ms; see ${p.logFile}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Throws when a process exited by itself (a crash would make every figure meaningless). */
  checkAlive(): void {
    for (const p of this.processes) {
      if (!p.running) {
        throw new Error(`${p.name} is not running; see ${p.logFile}`);
      }
    }
  }

  /** Registry counts of one scale set (live = reserved + provisioning + idle + busy). */
  async registryCounts(scaleSetId: number): Promise<Record<string, number>> {
    const prefix = `bench:{ss-${scaleSetId}}:state:`;
    const states = ['reserved', 'provisioning', 'idle', 'busy', 'failed', 'destroying'];
    const multi = this.redis.multi();
    for (const s of states) {
      multi.zcard(`${prefix}${s}`);
    }
    const replies = (await multi.exec()) ?? [];
    const counts: Record<string, number> = {};
    states.forEach((s, i) => {
      counts[s] = Number(replies[i]?.[1] ?? 0);
    });
    counts['live'] =
      (counts['reserved'] ?? 0) +
      (counts['provisioning'] ?? 0) +
      (counts['idle'] ?? 0) +
      (counts['busy'] ?? 0);
    return counts;
  }

  /** Stops the processes (SIGTERM, then SIGKILL), Redis and the fake. Logs stay in `dir`. */
  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private stopping: Promise<void> | undefined;

  private async stopAll(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.kill('SIGTERM', 10_000)));
    this.redis.disconnect();
    await this.redisServer.stop({ signal: 'SIGKILL' }).catch(() => undefined);
    offEmergency(this.redisCleanup);
    await this.fake.stop().catch(() => undefined);
    log(`${this.options.scenario}: stopped (logs in ${this.dir})`);
  }
}

/** One config file for every process of the deployment, as a deployment ships it. */
function configYaml(o: DeploymentOptions, fake: FakeGitHub, redisUrl: string): string {
  const owner = `bench-${o.scenario.slice(0, 16)}-${randomBytes(3).toString('hex')}`;
  const scaleSets = o.scaleSets.flatMap((s) => [
    `  - name: '${s.name}'`,
    `    min_runners: ${s.minRunners ?? 0}`,
    `    max_runners: ${s.maxRunners}`,
  ]);
  return [
    'github:',
    `  url: '${fake.configUrl('org')}'`,
    `  token: '${fake.pat}'`,
    'scalesets:',
    ...scaleSets,
    'engine:',
    '  simulated:',
    '    enable: true',
    `    start_latency: '${o.engine.startLatency}'`,
    `    destroy_latency: '${o.engine.destroyLatency ?? '0'}'`,
    `    runner: ${o.engine.runner}`,
    'redis:',
    `  url: '${redisUrl}'`,
    '  prefix: bench',
    'deployment:',
    `  id: '${owner}'`,
    'logging:',
    `  level: ${o.logLevel ?? 'info'}`,
    '  format: json',
    'listener:',
    `  lease_ttl: '${o.leaseTtl ?? '15s'}'`,
    `  reevaluate_interval: '${o.reevaluateInterval ?? '15s'}'`,
    `  scale_down_grace: '${o.scaleDownGrace ?? '60s'}'`,
    '  health_port: 0',
    'worker:',
    `  concurrency: ${o.concurrency}`,
    '  health_port: 0',
    'reconcile:',
    `  interval: '${o.reconcileInterval ?? '60s'}'`,
    `  startup_timeout: '${o.startupTimeout ?? '10m'}'`,
    '',
  ].join('\n');
}

import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import Dockerode from 'dockerode';
import { Redis } from 'ioredis';
import { RUNNER_LABELS } from '@app/compute';
import { LIVE_STATES, RunnerRegistry, type RunnerState } from '@app/registry';
import {
  buildRunnerTestImage,
  decodeFakeJitConfig,
  FakeGitHub,
  fakeRunnerScript,
  scanRedisForSecret,
  startRedisServer,
  type FakeJobMode,
  type JobView,
  type RedisServer,
} from '@app/testing';
import { SYSTEM_TMP } from './figures';
import { InvariantSampler, type SamplerSummary } from './invariant-sampler';
import { ScalesetProcess } from './scaleset-process';
import { waitUntil as pollUntil } from '../../support/worker.fixture';

/** Settings of one assembled system; everything else is the tier's short defaults. */
export interface SystemOptions {
  /** Short kebab-case id: names the scale set, the log folder and the figures entry. */
  readonly scenario: string;
  readonly maxRunners?: number;
  readonly minRunners?: number;
  /** How long each job runs on its runner (the fake runner sleeps). Default 3000. */
  readonly jobDurationMs?: number;
  /** `acquire`: GHES flavour (JobAvailable + acquire-jobs). Default `assign`. */
  readonly mode?: FakeJobMode;
  readonly listeners?: number;
  readonly workers?: number;
  /** Called after the fake started and before any process starts (e.g. to arm faults). */
  readonly beforeProcesses?: (fake: FakeGitHub) => void;
}

/** The tier's short settings (docs/reliability.md lists them). */
export const SYSTEM_SETTINGS = {
  leaseTtlMs: 3_000,
  reevaluateIntervalMs: 2_000,
  scaleDownGraceMs: 2_000,
  reconcileIntervalMs: 5_000,
  orphanGraceMs: 5_000,
  startupTimeoutMs: 30_000,
  jobLockMs: 2_000,
  workerShutdownTimeoutMs: 10_000,
  fakePollTimeoutMs: 2_000,
} as const;

const LIVE = new Set<string>(LIVE_STATES);

/** The shared poller of test/support with the scenarios' argument order (what first). */
export function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
): Promise<T> {
  return pollUntil(check, what, timeoutMs);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The three views the reconciler compares (I1, I3), by runner name. */
export interface ThreeViews {
  /** Registry entries and their states. */
  readonly registry: Readonly<Record<string, RunnerState>>;
  /** GitHub registrations of the scale set and their status. */
  readonly github: Readonly<Record<string, string>>;
  /** Containers of our owner label and their Docker state. */
  readonly engine: Readonly<Record<string, string>>;
}

/** The result of the I5 scan. */
export interface SecretScan {
  readonly secrets: number;
  readonly jitConfigs: number;
  readonly redisKeysScanned: number;
  readonly logLinesScanned: number;
  /** Where a secret was found (never the secret itself). */
  readonly leaks: readonly string[];
}

/**
 * The system as deployed: a FakeGitHub in this process, a redis-server of its own (AOF on,
 * restartable), the shared dockerd running the fake runner image, and N `scaleset listener`
 * plus M `scaleset worker` processes of the built binary sharing one config file. Logs of every
 * process go to memory and to `<tmp>/scaleset-system/<scenario>/`.
 */
export class SystemHarness {
  readonly listeners: ScalesetProcess[] = [];
  readonly workers: ScalesetProcess[] = [];
  readonly registry: RunnerRegistry;
  readonly sampler: InvariantSampler;
  /** When {@link SystemHarness.start} returned (everything up, a session open). */
  readonly readyAt: number;
  /** The deployment's `reconcile` queue, to see which passes ran and what they repaired. */
  readonly reconcileQueue: Queue;
  /** The deployment's `runners` queue (start and destroy jobs). */
  readonly runnersQueue: Queue;

  private constructor(
    readonly options: Required<Omit<SystemOptions, 'beforeProcesses'>>,
    readonly fake: FakeGitHub,
    readonly redisServer: { current: RedisServer },
    private readonly redisDir: string,
    readonly redis: Redis,
    readonly docker: Dockerode,
    readonly owner: string,
    readonly scaleSetName: string,
    readonly scaleSetId: number,
    readonly logDir: string,
    private readonly workDir: string,
    processes: { listeners: ScalesetProcess[]; workers: ScalesetProcess[] },
  ) {
    this.listeners.push(...processes.listeners);
    this.workers.push(...processes.workers);
    this.registry = new RunnerRegistry(redis, { prefix: 'sys' });
    this.sampler = new InvariantSampler({
      fake,
      registry: this.registry,
      docker,
      owner,
      scaleSetId,
      maxRunners: options.maxRunners,
    });
    this.readyAt = Date.now();
    this.reconcileQueue = new Queue('reconcile', {
      connection: { url: redisServer.current.url, maxRetriesPerRequest: 1 },
      prefix: '{sys}',
    });
    this.reconcileQueue.on('error', () => undefined);
    this.runnersQueue = new Queue('runners', {
      connection: { url: redisServer.current.url, maxRetriesPerRequest: 1 },
      prefix: '{sys}',
    });
    this.runnersQueue.on('error', () => undefined);
  }

  /** Every scaleset process, listeners first. */
  get processes(): ScalesetProcess[] {
    return [...this.listeners, ...this.workers];
  }

  /**
   * Starts the fake, Redis, the processes; waits until the scale set exists, every process
   * logged its start and one listener holds a message session; then starts the sampler.
   */
  static async start(opts: SystemOptions): Promise<SystemHarness> {
    const options = {
      scenario: opts.scenario,
      maxRunners: opts.maxRunners ?? 8,
      minRunners: opts.minRunners ?? 0,
      jobDurationMs: opts.jobDurationMs ?? 3_000,
      mode: opts.mode ?? 'assign',
      listeners: opts.listeners ?? 2,
      workers: opts.workers ?? 2,
    };
    const dockerHost = process.env['DOCKER_HOST'];
    if (dockerHost === undefined || dockerHost === '') {
      throw new Error('DOCKER_HOST is not set: run the system tier through `npm test` or set it');
    }
    const docker = new Dockerode();
    const script = fakeRunnerScript().content;
    const tag = `scaleset-system-test:${createHash('sha256').update(script).digest('hex').slice(0, 12)}`;
    const image = (await buildRunnerTestImage(docker, { tag, runScript: script })).ref;

    mkdirSync(SYSTEM_TMP, { recursive: true });
    const workDir = mkdtempSync(join(SYSTEM_TMP, `${options.scenario}-work-`));
    const redisDir = join(workDir, 'redis');
    mkdirSync(redisDir);
    const suffix = randomBytes(3).toString('hex');
    const owner = `sys-${options.scenario.slice(0, 16)}-${suffix}`;
    const scaleSetName = `sys-${options.scenario}-${suffix}`;
    const logDir = join(SYSTEM_TMP, options.scenario);
    rmSync(logDir, { recursive: true, force: true });
    mkdirSync(logDir, { recursive: true });

    // Everything started so far, undone in reverse order if the start fails half-way.
    const undo: (() => Promise<void>)[] = [
      () => {
        rmSync(workDir, { recursive: true, force: true });
        return Promise.resolve();
      },
    ];
    const cleanupOnFailure = async (): Promise<void> => {
      for (const step of undo.reverse()) {
        await step().catch(() => undefined);
      }
    };
    try {
      const fake = new FakeGitHub({
        pollTimeoutMs: SYSTEM_SETTINGS.fakePollTimeoutMs,
        jobDurationMs: options.jobDurationMs,
        mode: options.mode,
      });
      await fake.start();
      undo.push(() => fake.stop());
      opts.beforeProcesses?.(fake);

      const redisServer = await startRedisServer({ appendonly: true, dir: redisDir });
      undo.push(() => redisServer.stop({ signal: 'SIGKILL' }));
      const redis = new Redis(redisServer.url, {
        maxRetriesPerRequest: 1,
        commandTimeout: 2_000,
        retryStrategy: () => 200,
      });
      redis.on('error', () => undefined);
      undo.push(() => {
        redis.disconnect();
        return Promise.resolve();
      });
      undo.push(() => removeOwnedContainers(docker, owner));

      const configPath = join(workDir, 'config.yaml');
      writeFileSync(
        configPath,
        configYaml({
          fake,
          scaleSetName,
          image,
          dockerHost,
          redisUrl: redisServer.url,
          owner,
          minRunners: options.minRunners,
          maxRunners: options.maxRunners,
        }),
      );
      const listeners = Array.from(
        { length: options.listeners },
        (_, i) => new ScalesetProcess(`listener-${i + 1}`, 'listener', configPath, logDir),
      );
      const workers = Array.from(
        { length: options.workers },
        (_, i) => new ScalesetProcess(`worker-${i + 1}`, 'worker', configPath, logDir),
      );
      const all = [...listeners, ...workers];
      undo.push(async () => {
        for (const p of all) {
          if (p.running) {
            await p.kill('SIGKILL');
          }
        }
      });
      for (const p of all) {
        p.start();
      }
      for (const p of all) {
        const started = p.role === 'listener' ? 'listener started' : 'worker started';
        await waitUntil(`${p.name} to start`, () => p.hasLogged(started), 60_000);
      }
      const scaleSetId = await waitUntil(
        'the listeners to create the scale set',
        () => fake.scaleSets().find((s) => s.name === scaleSetName)?.id,
        60_000,
      );
      // Scenarios that hold sessions back (409) wait for the session themselves.
      if (opts.beforeProcesses === undefined) {
        await waitUntil('a message session', () => fake.sessions().length === 1, 60_000);
      }
      const harness = new SystemHarness(
        options,
        fake,
        { current: redisServer },
        redisDir,
        redis,
        docker,
        owner,
        scaleSetName,
        scaleSetId,
        logDir,
        workDir,
        { listeners, workers },
      );
      harness.sampler.start();
      return harness;
    } catch (err) {
      await cleanupOnFailure();
      throw err;
    }
  }

  /** The listener process whose current run holds the message session, once one does. */
  async leader(timeoutMs = 30_000): Promise<ScalesetProcess> {
    return waitUntil(
      'a listener holding the session',
      () =>
        this.listeners.find((p) => {
          if (!p.running) {
            return false;
          }
          const lines = p.currentRunLines();
          const created = lines.findLastIndex((l) => l.includes('message session created'));
          const lost = lines.findLastIndex(
            (l) =>
              l.includes('lease lost') ||
              l.includes('stepping down') ||
              l.includes('lease released'),
          );
          return created >= 0 && created > lost;
        }),
      timeoutMs,
    );
  }

  /**
   * Stops Redis (SIGTERM: the AOF is flushed), keeps it down for `downMs`, and starts it again
   * on the same port and data folder.
   */
  async restartRedis(downMs: number): Promise<void> {
    const { port } = this.redisServer.current;
    await this.redisServer.current.stop({ signal: 'SIGTERM' });
    await sleep(downMs);
    this.redisServer.current = await startRedisServer({
      appendonly: true,
      dir: this.redisDir,
      port,
    });
  }

  /** Queues `n` jobs on the fake (bound to this scale set). */
  queueJobs(n: number, durationMs = this.options.jobDurationMs): void {
    this.fake.queueJobs(n, { durationMs, scaleSetId: this.scaleSetId });
  }

  /** Jobs of this scale set. */
  jobs(): JobView[] {
    return this.fake.jobs().filter((j) => j.scaleSetId === this.scaleSetId);
  }

  /** Waits until all `n` jobs completed; returns when. */
  async allJobsCompleted(n: number, timeoutMs: number): Promise<number> {
    await waitUntil(
      `all ${n} jobs to complete`,
      () => {
        const jobs = this.jobs();
        return jobs.length === n && jobs.every((j) => j.state === 'completed');
      },
      timeoutMs,
    ).catch((err: unknown) => {
      const states = countBy(this.jobs().map((j) => j.state));
      throw new Error(`${err instanceof Error ? err.message : String(err)}; jobs: ${states}`, {
        cause: err,
      });
    });
    return Date.now();
  }

  /** The registry, GitHub and the engine, by runner name. */
  async views(): Promise<ThreeViews> {
    const registry: Record<string, RunnerState> = {};
    for (const r of await this.registry.list(this.scaleSetId)) {
      registry[r.name] = r.state;
    }
    const github: Record<string, string> = {};
    for (const r of this.fake.runners(this.scaleSetId)) {
      github[r.name] = r.status;
    }
    const engine: Record<string, string> = {};
    for (const c of await ownedContainers(this.docker, this.owner)) {
      engine[c.Labels[RUNNER_LABELS.runnerName] ?? c.Id] = c.State;
    }
    return { registry, github, engine };
  }

  /**
   * I1: waits until the three views agree — the same runner names everywhere, every entry
   * live, every registration known, every container running — and returns how long it took.
   */
  async viewsAgree(timeoutMs: number): Promise<{ afterMs: number; views: ThreeViews }> {
    const since = Date.now();
    let last: ThreeViews | undefined;
    try {
      const views = await waitUntil(
        'registry, GitHub and engine to agree',
        async () => {
          last = await this.views();
          return disagreement(last) === undefined ? last : undefined;
        },
        timeoutMs,
      );
      return { afterMs: Date.now() - since, views };
    } catch (err) {
      const why = last === undefined ? 'no views read' : disagreement(last);
      throw new Error(
        `${err instanceof Error ? err.message : String(err)}: ${why ?? ''} ${JSON.stringify(last)}`,
        { cause: err },
      );
    }
  }

  /** I3: containers and registrations that have no live registry entry. */
  async leaks(): Promise<string[]> {
    const v = await this.views();
    const live = (name: string): boolean => LIVE.has(v.registry[name] ?? '');
    return [
      ...Object.keys(v.engine)
        .filter((n) => !live(n) || v.engine[n] !== 'running')
        .map((n) => `container ${n} (${v.engine[n] ?? '?'}, registry ${v.registry[n] ?? 'none'})`),
      ...Object.keys(v.github)
        .filter((n) => !live(n))
        .map(
          (n) => `registration ${n} (${v.github[n] ?? '?'}, registry ${v.registry[n] ?? 'none'})`,
        ),
    ];
  }

  /**
   * I4: every job completed with `succeeded`, each on its own runner. Returns what is wrong.
   */
  jobProblems(expected: number): string[] {
    const jobs = this.jobs();
    const problems: string[] = [];
    if (jobs.length !== expected) {
      problems.push(`${jobs.length} jobs, expected ${expected}`);
    }
    for (const j of jobs) {
      if (j.state !== 'completed' || j.result !== 'succeeded') {
        problems.push(`job ${j.jobId}: ${j.state}/${j.result}`);
      }
      if (j.runnerName === null) {
        problems.push(`job ${j.jobId}: no runner`);
      }
    }
    const names = jobs.map((j) => j.runnerName).filter((n) => n !== null);
    if (new Set(names).size !== names.length) {
      problems.push(`a runner ran more than one job: ${countBy(names)}`);
    }
    return problems;
  }

  /**
   * Every secret the system handled: the PAT, each JIT config seen in a container's
   * environment (and the credential inside it), and every credential a client presented to
   * the fake (admin tokens, message queue tokens, registration tokens, runner credentials).
   */
  secrets(): { all: string[]; jitConfigs: number } {
    const set = new Set<string>([this.fake.pat]);
    for (const jit of this.sampler.jitConfigs.values()) {
      set.add(jit);
      set.add(decodeFakeJitConfig(jit).credential);
    }
    for (const r of this.fake.requests) {
      const m = /^\s*\S+\s+(\S+)\s*$/.exec(r.headers['authorization'] ?? '');
      const credential = m?.[1];
      if (credential !== undefined && credential.length >= 16) {
        set.add(credential);
      }
    }
    return { all: [...set], jitConfigs: this.sampler.jitConfigs.size };
  }

  /** I5: scans every process log and every Redis key (jobs, registry, leases) for secrets. */
  async scanForSecrets(): Promise<SecretScan> {
    const { all, jitConfigs } = this.secrets();
    const leaks: string[] = [];
    let logLinesScanned = 0;
    for (const p of this.processes) {
      for (const [i, line] of p.lines.entries()) {
        logLinesScanned++;
        if (all.some((s) => line.includes(s))) {
          leaks.push(`${p.name} log line ${i}`);
        }
      }
    }
    const report = await scanRedisForSecret(this.redis, '*', all);
    leaks.push(...report.findings.map((f) => `redis ${f.key} (${f.type}, ${f.where})`));
    return {
      secrets: all.length,
      jitConfigs,
      redisKeysScanned: report.keysScanned,
      logLinesScanned,
      leaks,
    };
  }

  /**
   * Reconcile passes that started at or after `since` (epoch ms) and completed, oldest first,
   * with what each repaired (`counts` per rule of the pass's report).
   */
  async reconcilePasses(
    since: number,
  ): Promise<{ startedAt: number; finishedAt: number; counts: Record<string, number> }[]> {
    const jobs = await this.reconcileQueue.getJobs(['completed'], 0, 200);
    return jobs
      .filter((j) => (j.processedOn ?? 0) >= since && j.finishedOn !== undefined)
      .map((j) => {
        const value = j.returnvalue as { counts?: Record<string, number> } | null;
        return {
          startedAt: j.processedOn ?? 0,
          finishedAt: j.finishedOn ?? 0,
          counts: value?.counts ?? {},
        };
      })
      .sort((a, b) => a.startedAt - b.startedAt);
  }

  /** Repairs of every reconcile pass since `since`, summed per rule (only rules that acted). */
  async reconcileRepairs(since: number): Promise<Record<string, number>> {
    const sum: Record<string, number> = {};
    for (const pass of await this.reconcilePasses(since)) {
      for (const [rule, n] of Object.entries(pass.counts)) {
        if (n > 0) {
          sum[rule] = (sum[rule] ?? 0) + n;
        }
      }
    }
    return sum;
  }

  /** Exits no test step caused, with the process name. */
  unexpectedExits(): string[] {
    return this.processes.flatMap((p) =>
      p.unexpectedExits.map(
        (e) => `${p.name} pid ${e.pid}: ${e.signal ?? `code ${String(e.code)}`}`,
      ),
    );
  }

  /** Stops the sampler and returns what it saw (I2). */
  async stopSampler(): Promise<SamplerSummary> {
    return this.sampler.stop();
  }

  /**
   * Stops everything this harness started, by pid: the processes (SIGTERM, so sessions are
   * closed), the sampler, Redis, the fake; then removes our containers and the work folder.
   * Logs stay in {@link SystemHarness.logDir}.
   */
  async close(): Promise<void> {
    await this.sampler.stop();
    await this.reconcileQueue.close().catch(() => undefined);
    await this.runnersQueue.close().catch(() => undefined);
    await Promise.all(
      this.processes.filter((p) => p.running).map((p) => p.kill('SIGTERM', 15_000)),
    );
    this.redis.disconnect();
    await this.redisServer.current.stop({ signal: 'SIGKILL' });
    await this.fake.stop();
    await removeOwnedContainers(this.docker, this.owner);
    rmSync(this.workDir, { recursive: true, force: true });
  }
}

/** Why three views do not agree, or `undefined` when they do. */
export function disagreement(v: ThreeViews): string | undefined {
  const names = (o: Readonly<Record<string, unknown>>): string => Object.keys(o).sort().join(',');
  if (names(v.registry) !== names(v.github) || names(v.registry) !== names(v.engine)) {
    return 'different runner names';
  }
  const notLive = Object.entries(v.registry).filter(([, s]) => !LIVE.has(s));
  if (notLive.length > 0) {
    return `entries not live: ${notLive.map(([n, s]) => `${n}=${s}`).join(',')}`;
  }
  const notRunning = Object.entries(v.engine).filter(([, s]) => s !== 'running');
  if (notRunning.length > 0) {
    return `containers not running: ${notRunning.map(([n, s]) => `${n}=${s}`).join(',')}`;
  }
  return undefined;
}

function countBy(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) {
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return [...counts]
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}=${n}`)
    .join(' ');
}

async function ownedContainers(
  docker: Dockerode,
  owner: string,
): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({
    all: true,
    filters: { label: [`${RUNNER_LABELS.owner}=${owner}`] },
  });
}

async function removeOwnedContainers(docker: Dockerode, owner: string): Promise<void> {
  for (const c of await ownedContainers(docker, owner)) {
    await docker
      .getContainer(c.Id)
      .remove({ force: true, v: true })
      .catch(() => undefined);
  }
}

interface ConfigSpec {
  readonly fake: FakeGitHub;
  readonly scaleSetName: string;
  readonly image: string;
  readonly dockerHost: string;
  readonly redisUrl: string;
  readonly owner: string;
  readonly minRunners: number;
  readonly maxRunners: number;
}

/** One config file for every process, as a deployment would ship it. */
function configYaml(c: ConfigSpec): string {
  const s = SYSTEM_SETTINGS;
  const sec = (ms: number): string => `${ms / 1000}s`;
  return [
    'github:',
    `  url: '${c.fake.configUrl('org')}'`,
    `  token: '${c.fake.pat}'`,
    'scaleset:',
    `  name: '${c.scaleSetName}'`,
    `  min_runners: ${c.minRunners}`,
    `  max_runners: ${c.maxRunners}`,
    'engine:',
    '  docker:',
    '    enable: true',
    `    image: '${c.image}'`,
    '    pull_policy: never',
    '    network: host',
    `    docker_host: '${c.dockerHost}'`,
    'redis:',
    `  url: '${c.redisUrl}'`,
    '  prefix: sys',
    'deployment:',
    `  id: '${c.owner}'`,
    'logging:',
    '  level: info',
    '  format: json',
    'listener:',
    `  lease_ttl: ${sec(s.leaseTtlMs)}`,
    `  reevaluate_interval: ${sec(s.reevaluateIntervalMs)}`,
    `  scale_down_grace: ${sec(s.scaleDownGraceMs)}`,
    '  health_port: 0',
    'worker:',
    `  job_lock: ${sec(s.jobLockMs)}`,
    `  shutdown_timeout: ${sec(s.workerShutdownTimeoutMs)}`,
    'reconcile:',
    `  interval: ${sec(s.reconcileIntervalMs)}`,
    `  orphan_grace: ${sec(s.orphanGraceMs)}`,
    `  startup_timeout: ${sec(s.startupTimeoutMs)}`,
    '',
  ].join('\n');
}

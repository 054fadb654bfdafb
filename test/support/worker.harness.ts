import type { INestApplicationContext } from '@nestjs/common';
import { Queue, type Job } from 'bullmq';
import Dockerode from 'dockerode';
import { Redis } from 'ioredis';
import { ComputeEngines } from '@app/compute';
import type { ScalesetConfig } from '@app/config';
import { JobProducer, QUEUES, producerConnectionOptions, type DestroyReason } from '@app/queue';
import { RunnerRegistry } from '@app/registry';
import { ScaleSetClient } from '@app/scaleset';
import {
  decodeFakeJitConfig,
  redisUrlForTests,
  scanRedisForSecret,
  type FakeGitHub,
} from '@app/testing';
import { bootstrapWorker } from '@apps/worker';
import { DockerBackend, type ComputeBackend } from './compute-backend';
import {
  deleteKeys,
  loadWorkerConfig,
  memoryLogger,
  shortId,
  waitUntil,
  type WorkerConfigSpec,
} from './worker.fixture';

/** Where leftovers of the JIT secrecy scan were found. */
export interface SecretLeak {
  readonly where: string;
}

/**
 * One worker app (bootstrapWorker, as `scaleset worker` runs it) on its own Redis prefix and
 * owner label, plus the producer side and registry a test needs to drive it.
 */
export class WorkerHarness {
  /** JIT configs seen during the test, for {@link WorkerHarness.secretLeaks}. */
  readonly jitConfigs: string[] = [];
  readonly registry: RunnerRegistry;
  readonly producer: JobProducer;

  private constructor(
    readonly config: ScalesetConfig,
    readonly prefix: string,
    readonly owner: string,
    readonly app: INestApplicationContext,
    readonly lines: string[],
    readonly redis: Redis,
    readonly runners: Queue,
    private readonly reconcile: Queue,
    readonly compute: ComputeBackend,
  ) {
    this.registry = new RunnerRegistry(redis, { prefix });
    this.producer = new JobProducer({ runners, reconcile });
  }

  /**
   * Starts a worker; `spec` needs at least the fake, the scale set and an image or engine
   * section (a function of the owner id, which the harness picks). `compute` is the dockerd
   * (for the default Docker engine) or the backend of the engine under test.
   */
  static async start(
    spec: Omit<WorkerConfigSpec, 'redisUrl' | 'redisPrefix' | 'deploymentId' | 'engine'> & {
      readonly engine?: readonly string[] | ((owner: string) => readonly string[]);
    },
    compute: Dockerode | ComputeBackend,
  ): Promise<WorkerHarness> {
    const prefix = `wk${shortId()}`;
    const owner = `wk-${shortId()}`;
    const { engine, ...rest } = spec;
    const config = loadWorkerConfig({
      worker: ['job_lock: 5s', 'shutdown_timeout: 5s'],
      ...rest,
      ...(engine !== undefined && {
        engine: typeof engine === 'function' ? engine(owner) : engine,
      }),
      redisUrl: redisUrlForTests(),
      redisPrefix: prefix,
      deploymentId: owner,
    });
    const backend = compute instanceof Dockerode ? new DockerBackend(compute) : compute;
    const { logger, lines } = memoryLogger();
    const app = await bootstrapWorker(config, logger, undefined, {
      createEngine: backend.createEngine,
    });
    const connection = producerConnectionOptions(redisUrlForTests());
    return new WorkerHarness(
      config,
      prefix,
      owner,
      app,
      lines,
      new Redis(redisUrlForTests()),
      new Queue(QUEUES.runners, { connection, prefix: `{${prefix}}` }),
      new Queue(QUEUES.reconcile, { connection, prefix: `{${prefix}}` }),
      backend,
    );
  }

  get scaleSet(): { readonly id: number; readonly name: string } {
    const s = this.config.scaleSets[0];
    if (s === undefined) {
      throw new Error('no scale set configured');
    }
    return { id: this.scaleSetId, name: s.name };
  }

  /** Set by the test once the scale set exists on the fake. */
  scaleSetId = 0;

  /**
   * Waits for the reconcile pass a worker runs when it starts (its job scheduler fires at
   * once), so that pass cannot act on a test's runners while the test looks at them.
   */
  async firstReconcileDone(timeoutMs = 20_000): Promise<void> {
    await waitUntil(
      async () => {
        const counts = await this.reconcile.getJobCounts('completed', 'failed');
        return (counts['completed'] ?? 0) + (counts['failed'] ?? 0) > 0;
      },
      'the first reconcile pass',
      timeoutMs,
    );
  }

  /** Waits until the job is completed or failed and returns it. */
  async finished(jobId: string, timeoutMs = 30_000): Promise<Job> {
    await waitUntil(
      async () => {
        const state = await this.runners.getJobState(jobId);
        return state === 'completed' || state === 'failed';
      },
      `job ${jobId} to finish`,
      timeoutMs,
    );
    // Read after the state is final, so the fields (attempts, reason, result) are too.
    const job = await this.runners.getJob(jobId);
    if (job === undefined) {
      throw new Error(`job ${jobId} vanished`);
    }
    return job;
  }

  /** Reserves one runner slot and enqueues its start job (as the listener does). */
  async reserveAndEnqueue(): Promise<{ name: string; jobId: string }> {
    const [name] = await this.registry.reserve(this.scaleSet, 1, 5);
    if (name === undefined) {
      throw new Error('no runner reserved');
    }
    const { jobId } = await this.producer.enqueueStart({
      scaleSetId: this.scaleSet.id,
      scaleSetName: this.scaleSet.name,
      runnerName: name,
    });
    return { name, jobId };
  }

  /** Reserves, starts and waits for the start job. */
  async reserveAndStart(timeoutMs?: number): Promise<{ name: string; job: Job }> {
    const { name, jobId } = await this.reserveAndEnqueue();
    return { name, job: await this.finished(jobId, timeoutMs) };
  }

  /**
   * What a worker killed right after its engine call leaves behind: a runner reserved, in
   * `provisioning`, registered on `fake` (runner id recorded) and its compute started with
   * that JIT config, but never marked idle and no start job.
   */
  async startedThenCrashed(
    fake: FakeGitHub,
  ): Promise<{ name: string; runnerId: number; engineId: string }> {
    const { id: scaleSetId, name: scaleSetName } = this.scaleSet;
    const [name] = await this.registry.reserve(this.scaleSet, 1, 5);
    if (name === undefined) {
      throw new Error('no runner reserved');
    }
    await this.registry.transition(scaleSetId, name, 'provisioning');
    const client = new ScaleSetClient({
      configUrl: fake.configUrl('org'),
      auth: { kind: 'pat', token: fake.pat },
      proxy: 'none',
    });
    const jit = await client.generateJitRunnerConfig(scaleSetId, { name });
    await client.close();
    this.jitConfigs.push(jit.encodedJITConfig);
    await this.registry.annotate(scaleSetId, name, { runnerId: jit.runner.id });
    const engines = new ComputeEngines(
      this.config.scaleSets,
      this.config.deployment.id,
      this.compute.createEngine,
    );
    try {
      const ref = await engines
        .for(scaleSetName)
        .start({ name, jitConfig: jit.encodedJITConfig, scaleSetId, scaleSetName });
      return { name, runnerId: jit.runner.id, engineId: ref.engineId };
    } finally {
      await engines.close();
    }
  }

  /** Enqueues a destroy job and waits for it. */
  async destroy(name: string, reason: DestroyReason): Promise<Job> {
    const { jobId } = await this.producer.enqueueDestroy({
      scaleSetId: this.scaleSet.id,
      scaleSetName: this.scaleSet.name,
      runnerName: name,
      reason,
    });
    return this.finished(jobId);
  }

  /** Remembers the JIT config a runner's compute was given, for the secrecy scan. */
  async rememberJitConfig(name: string): Promise<string> {
    const jit = await this.compute.jitConfig(name);
    if (jit === undefined) {
      throw new Error(`the compute of ${name} has no JIT config`);
    }
    this.jitConfigs.push(jit);
    return jit;
  }

  /**
   * Guarantee 6: where any remembered JIT config (or the credential inside it) occurs in this
   * worker's Redis keys (registry, jobs, payloads, return values, failure reasons) or log lines.
   */
  async secretLeaks(): Promise<{ keysScanned: number; leaks: string[] }> {
    const leaks: string[] = [];
    let keysScanned = 0;
    for (const jit of this.jitConfigs) {
      const secrets = [jit, decodeFakeJitConfig(jit).credential];
      for (const pattern of [`${this.prefix}:*`, `{${this.prefix}}:*`]) {
        const report = await scanRedisForSecret(this.redis, pattern, secrets);
        keysScanned += report.keysScanned;
        leaks.push(...report.findings.map((f) => `${f.key} (${f.type}, ${f.where})`));
      }
      for (const [i, line] of this.lines.entries()) {
        if (secrets.some((s) => line.includes(s))) {
          leaks.push(`log line ${i}`);
        }
      }
    }
    return { keysScanned, leaks };
  }

  private readonly closed = new Set<INestApplicationContext>();
  private readonly others: INestApplicationContext[] = [];

  /** Starts one more worker app on the same configuration (another replica). */
  async startReplica(): Promise<INestApplicationContext> {
    const { logger } = memoryLogger(this.lines);
    const app = await bootstrapWorker(this.config, logger, undefined, {
      createEngine: this.compute.createEngine,
    });
    this.others.push(app);
    return app;
  }

  /** Closes every worker app of this harness that is still open. */
  async stop(): Promise<void> {
    for (const app of [this.app, ...this.others]) {
      if (!this.closed.has(app)) {
        this.closed.add(app);
        await app.close();
      }
    }
  }

  /** Stops the worker, then removes every key, queue and container of this harness. */
  async close(): Promise<void> {
    try {
      await this.stop();
    } finally {
      for (const queue of [this.runners, this.reconcile]) {
        await queue.obliterate({ force: true });
        await queue.close();
      }
      await deleteKeys(this.redis, [`${this.prefix}:*`, `{${this.prefix}}:*`]);
      await this.redis.quit();
      await this.compute.removeOwned(this.owner);
    }
  }
}

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import {
  ComputeEngines,
  SIMULATED_EVENTS_ENV,
  type ComputeEngine,
  type SimulatedEvent,
} from '@app/compute';
import { loadConfig, type ScalesetConfig } from '@app/config';
import { JobProducer, QUEUES, producerConnectionOptions, type DestroyReason } from '@app/queue';
import { RunnerRegistry } from '@app/registry';
import { FakeGitHub, redisUrlForTests } from '@app/testing';
import { bootstrapWorker } from '@apps/worker';
import {
  createFakeScaleSet,
  deleteKeys,
  memoryLogger,
  shortId,
  waitUntil,
} from '../support/worker.fixture';

// The worker app as `scaleset worker` runs it (bootstrapWorker: Nest, BullMQ, the Redis
// registry, the scale set client), with `engine.simulated` instead of Docker: each runner is
// an in-process fake runner against the fake GitHub service, so the worker's start, destroy
// and retry paths run for real without containers. The engine's events file is written by the
// worker process, as the benchmark reads it.

jest.setTimeout(60_000);

interface SimulatedWorker {
  readonly config: ScalesetConfig;
  readonly app: INestApplicationContext;
  readonly prefix: string;
  readonly owner: string;
  readonly redis: Redis;
  readonly runners: Queue;
  readonly reconcile: Queue;
  readonly registry: RunnerRegistry;
  readonly producer: JobProducer;
  readonly engine: ComputeEngine;
}

describe('worker with the simulated engine: start, job, exit and destroy without containers', () => {
  const scaleSetName = `sim-${shortId(3)}`;
  let fake: FakeGitHub;
  let scaleSetId: number;
  let dir: string;
  let w: SimulatedWorker | undefined;
  let closed = false;

  beforeAll(async () => {
    fake = new FakeGitHub({ jobDurationMs: 100, runnerPollTimeoutMs: 1_000 });
    await fake.start();
    scaleSetId = await createFakeScaleSet(fake, scaleSetName);
  });

  afterAll(async () => {
    await fake.stop();
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'scaleset-worker-sim-'));
    closed = false;
  });

  afterEach(async () => {
    const worker = w;
    w = undefined;
    try {
      if (worker !== undefined) {
        if (!closed) {
          await worker.app.close();
        }
        for (const queue of [worker.runners, worker.reconcile]) {
          await queue.obliterate({ force: true });
          await queue.close();
        }
        await deleteKeys(worker.redis, [`${worker.prefix}:*`, `{${worker.prefix}}:*`]);
        await worker.redis.quit();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Boots a worker whose scale set runs on `engine.simulated` with these extra YAML lines. */
  async function startWorker(simulated: readonly string[] = []): Promise<SimulatedWorker> {
    const prefix = `ws${shortId()}`;
    const owner = `ws-${shortId()}`;
    const path = join(dir, 'config.yaml');
    writeFileSync(
      path,
      [
        'github:',
        `  url: '${fake.configUrl('org')}'`,
        `  token: '${fake.pat}'`,
        'scaleset:',
        `  name: '${scaleSetName}'`,
        '  max_runners: 5',
        'engine:',
        '  simulated:',
        '    enable: true',
        '    start_latency: 30ms',
        '    destroy_latency: 10ms',
        '    jitter: 0.5',
        '    runner: fake',
        ...simulated.map((line) => `    ${line}`),
        'redis:',
        `  url: '${redisUrlForTests()}'`,
        `  prefix: '${prefix}'`,
        'deployment:',
        `  id: '${owner}'`,
        'logging:',
        '  level: debug',
        '  format: json',
        'worker:',
        '  job_lock: 5s',
        '  shutdown_timeout: 5s',
      ].join('\n'),
    );
    const config = loadConfig({ configPath: path, env: {}, cwd: dir });
    const { logger } = memoryLogger();
    // The engine reads the events path when the worker builds it.
    const previous = process.env[SIMULATED_EVENTS_ENV];
    process.env[SIMULATED_EVENTS_ENV] = join(dir, 'events.jsonl');
    let app: INestApplicationContext;
    try {
      app = await bootstrapWorker(config, logger);
    } finally {
      if (previous === undefined) {
        Reflect.deleteProperty(process.env, SIMULATED_EVENTS_ENV);
      } else {
        process.env[SIMULATED_EVENTS_ENV] = previous;
      }
    }
    const redis = new Redis(redisUrlForTests());
    const connection = producerConnectionOptions(redisUrlForTests());
    const runners = new Queue(QUEUES.runners, { connection, prefix: `{${prefix}}` });
    const reconcile = new Queue(QUEUES.reconcile, { connection, prefix: `{${prefix}}` });
    w = {
      config,
      app,
      prefix,
      owner,
      redis,
      runners,
      reconcile,
      registry: new RunnerRegistry(redis, { prefix }),
      producer: new JobProducer({ runners, reconcile }),
      engine: app.get(ComputeEngines).for(scaleSetName),
    };
    return w;
  }

  async function finished(worker: SimulatedWorker, jobId: string): Promise<Job> {
    await waitUntil(
      async () => {
        const state = await worker.runners.getJobState(jobId);
        return state === 'completed' || state === 'failed';
      },
      `job ${jobId} to finish`,
      30_000,
    );
    const job = await worker.runners.getJob(jobId);
    if (job === undefined) {
      throw new Error(`job ${jobId} vanished`);
    }
    return job;
  }

  async function reserveAndEnqueue(
    worker: SimulatedWorker,
  ): Promise<{ name: string; jobId: string }> {
    const [name] = await worker.registry.reserve({ id: scaleSetId, name: scaleSetName }, 1, 5);
    if (name === undefined) {
      throw new Error('no runner reserved');
    }
    const { jobId } = await worker.producer.enqueueStart({
      scaleSetId,
      scaleSetName,
      runnerName: name,
    });
    return { name, jobId };
  }

  async function destroy(
    worker: SimulatedWorker,
    name: string,
    reason: DestroyReason,
  ): Promise<Job> {
    const { jobId } = await worker.producer.enqueueDestroy({
      scaleSetId,
      scaleSetName,
      runnerName: name,
      reason,
    });
    return finished(worker, jobId);
  }

  const online = (name: string) =>
    waitUntil(
      () => fake.runners(scaleSetId).find((r) => r.name === name && r.status === 'online'),
      `runner ${name} to report online`,
    );

  it('starts a runner that comes online, takes a job, exits 0 and is destroyed', async () => {
    const worker = await startWorker();
    const { name, jobId } = await reserveAndEnqueue(worker);

    const start = await finished(worker, jobId);
    expect(await start.getState()).toBe('completed');
    expect(start.returnvalue).toMatchObject({ outcome: 'started' });
    const registration = await online(name);
    const instance = await worker.engine.inspect(name);
    expect(instance).toMatchObject({
      name,
      state: 'running',
      owner: worker.owner,
      scaleSetId,
      scaleSetName,
      engineId: expect.stringMatching(new RegExp(`^sim-${process.pid}-`)) as string,
    });
    expect(await worker.registry.get(scaleSetId, name)).toMatchObject({
      state: 'idle',
      engineId: instance?.engineId,
      runnerId: registration.id,
    });

    const [queued] = fake.queueJobs(1, { scaleSetId, durationMs: 100 });
    if (queued === undefined) {
      throw new Error('no job queued');
    }
    fake.assignJob(queued.jobId);
    await waitUntil(() => fake.job(queued.jobId)?.state === 'completed', 'the job to complete');
    expect(fake.job(queued.jobId)).toMatchObject({ runnerName: name, result: 'succeeded' });
    await waitUntil(
      async () => (await worker.engine.inspect(name))?.state === 'exited',
      'the ephemeral runner to exit after its job',
    );
    expect(await worker.engine.inspect(name)).toMatchObject({ exitCode: 0 });

    // What the listener enqueues on JobCompleted.
    const gone = await destroy(worker, name, 'job-completed');
    expect(gone.returnvalue).toEqual({ outcome: 'destroyed' });
    expect(await worker.engine.inspect(name)).toBeNull();
    expect(await worker.engine.list({ owner: worker.owner })).toEqual([]);
    expect(await worker.registry.isTombstoned(scaleSetId, name)).toBe(true);
    expect(fake.runners(scaleSetId).find((r) => r.name === name)).toBeUndefined();

    // Closing the worker closes the engine, which writes the rest of its events.
    await worker.app.close();
    closed = true;
    const events = readFileSync(join(dir, 'events.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as SimulatedEvent)
      .filter((e) => e.name === name);
    expect(events.map((e) => e.e)).toEqual([
      'start-call',
      'started',
      'runner-online',
      'runner-exit',
      'destroy-call',
      'destroyed',
    ]);
    expect(new Set(events.map((e) => e.pid))).toEqual(new Set([process.pid]));
    // Nothing but time, event, name and pid: the JIT config never reaches the file.
    for (const event of events) {
      expect(Object.keys(event)).toEqual(['t', 'e', 'name', 'pid']);
    }
  });

  it('scale-down removes an idle runner and its registration', async () => {
    const worker = await startWorker();
    const { name, jobId } = await reserveAndEnqueue(worker);
    await finished(worker, jobId);
    await online(name);

    const job = await destroy(worker, name, 'scale-down');

    expect(job.returnvalue).toEqual({ outcome: 'destroyed' });
    expect(await worker.engine.inspect(name)).toBeNull();
    expect(fake.runners(scaleSetId).find((r) => r.name === name)).toBeUndefined();
    expect(await worker.registry.isTombstoned(scaleSetId, name)).toBe(true);
  });

  it('retries a start refused for capacity until a runner is destroyed', async () => {
    const worker = await startWorker(['capacity: 1']);
    const first = await reserveAndEnqueue(worker);
    await finished(worker, first.jobId);
    await online(first.name);

    const second = await reserveAndEnqueue(worker);
    const refused = await waitUntil(async () => {
      const job = await worker.runners.getJob(second.jobId);
      return job !== undefined && job.attemptsMade >= 1 ? job : undefined;
    }, 'the second start to be refused once');
    expect(refused.failedReason).toMatch(/^No simulated capacity for /);
    expect(await worker.runners.getJobState(second.jobId)).not.toBe('failed');
    expect(await worker.engine.inspect(second.name)).toBeNull();

    await destroy(worker, first.name, 'scale-down');
    const started = await finished(worker, second.jobId);

    expect(await started.getState()).toBe('completed');
    expect(started.returnvalue).toMatchObject({ outcome: 'started' });
    await online(second.name);
    expect(await worker.engine.inspect(second.name)).toMatchObject({ state: 'running' });
  });
});

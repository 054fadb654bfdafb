import { randomUUID } from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { bullPrefix, loadConfig, type ScalesetConfig } from '@app/config';
import { RunnerRegistry } from '@app/registry';
import { ScaleSetClient, scaleSetClientOptionsFromConfig } from '@app/scaleset';
import { FakeGitHub, redisUrlForTests } from '@app/testing';
import { bootstrapListener } from '@apps/listener';
import { TestWorker } from './test-worker';

jest.setTimeout(60_000);

const REDIS_URL = redisUrlForTests();
const logger = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });

interface Harness {
  fake: FakeGitHub;
  config: ScalesetConfig;
  redis: Redis;
  registry: RunnerRegistry;
  client: ScaleSetClient;
  worker: TestWorker;
  apps: INestApplicationContext[];
  scaleSetId: () => number;
}

async function setUp(
  options: {
    maxRunners?: number;
    minRunners?: number;
    takeJobs?: boolean;
    fake?: ConstructorParameters<typeof FakeGitHub>[0];
    extraYaml?: string;
  } = {},
): Promise<Harness> {
  const fake = new FakeGitHub({ pollTimeoutMs: 400, jobDurationMs: 1500, ...options.fake });
  await fake.start();
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const yaml = [
    `github:\n  url: ${fake.configUrl('org')}\n  token: ${fake.pat}`,
    `scaleset:\n  name: lst-${prefix}\n  max_runners: ${options.maxRunners ?? 5}\n  min_runners: ${options.minRunners ?? 0}`,
    'engine:\n  docker:\n    enable: true',
    `redis:\n  url: ${REDIS_URL}\n  prefix: ${prefix}`,
    'listener:\n  lease_ttl: 3s\n  scale_down_grace: 300ms\n  reevaluate_interval: 1s\n  health_port: 0',
    options.extraYaml ?? '',
  ].join('\n');
  const config = loadConfig({ env: {}, configPath: 'test.yaml', readFile: () => yaml });
  const redis = new Redis(REDIS_URL);
  const registry = new RunnerRegistry(redis, { prefix });
  const client = new ScaleSetClient({
    ...scaleSetClientOptionsFromConfig(config, { subsystem: 'test' }),
    retry: { max: 2, waitMinMs: 10, waitMaxMs: 50 },
  });
  const worker = new TestWorker({
    redisUrl: REDIS_URL,
    bullPrefix: bullPrefix(config.redis),
    registry,
    client,
    fake,
    takeJobs: options.takeJobs ?? true,
  });
  worker.start();
  return {
    fake,
    config,
    redis,
    registry,
    client,
    worker,
    apps: [],
    scaleSetId: () => fake.scaleSets()[0]?.id ?? 0,
  };
}

async function tearDown(h: Harness): Promise<void> {
  for (const app of h.apps) {
    await app.close().catch(() => undefined);
  }
  await h.worker.stop();
  await h.client.close();
  const queue = new Queue('runners', {
    connection: { url: REDIS_URL },
    prefix: bullPrefix(h.config.redis),
  });
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  const keys = await h.redis.keys(`*${h.config.redis.prefix}*`);
  if (keys.length > 0) {
    await h.redis.del(...keys);
  }
  await h.redis.quit();
  await h.fake.stop();
}

async function startListener(h: Harness): Promise<INestApplicationContext> {
  const app = await bootstrapListener(h.config, logger);
  h.apps.push(app);
  return app;
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('listener against the fake GitHub and real Redis', () => {
  let h: Harness;

  afterEach(async () => {
    await tearDown(h);
  });

  it('creates the scale set with its labels and holds one message session', async () => {
    h = await setUp({ extraYaml: '' });
    await startListener(h);
    await until('a session', () => h.fake.sessions().length === 1);
    const [scaleSet] = h.fake.scaleSets();
    expect(scaleSet?.name).toBe(h.config.scaleSets[0]?.name);
    expect(scaleSet?.labels.map((l) => l.name)).toEqual([h.config.scaleSets[0]?.name]);
  });

  it('serves /healthz and /readyz', async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    h = await setUp({ extraYaml: '' });
    const config = { ...h.config, listener: { ...h.config.listener, healthPort: port } };
    const app = await bootstrapListener(config, logger);
    h.apps.push(app);
    await until('a session', () => h.fake.sessions().length === 1);
    await until(
      'ready',
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
    );
    const ready = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as {
      scaleSets: { role: string; hasSession: boolean }[];
    };
    expect(ready.scaleSets[0]).toMatchObject({ role: 'leader', hasSession: true });
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it('10 jobs with max_runners 5: 5 start jobs first, more as jobs complete, never more than 5 live', async () => {
    h = await setUp({ maxRunners: 5 });
    await startListener(h);
    await until('a session', () => h.fake.sessions().length === 1);
    const id = h.scaleSetId();
    let maxLive = 0;
    let startsBeforeFirstCompletion = 0;
    const sampling = { on: true };
    const sampler = (async () => {
      while (sampling.on) {
        const { live } = await h.registry.counts(id);
        maxLive = Math.max(maxLive, live);
        if (!h.fake.jobs().some((j) => j.state === 'completed')) {
          startsBeforeFirstCompletion = h.worker.starts.length;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    h.fake.queueJobs(10, { durationMs: 1500 });
    await until(
      'all jobs completed',
      () => h.fake.jobs().every((j) => j.state === 'completed'),
      45_000,
    );
    await until('every runner destroyed', async () => (await h.registry.counts(id)).live === 0);
    sampling.on = false;
    await sampler;
    expect(startsBeforeFirstCompletion).toBe(5);
    expect(maxLive).toBeLessThanOrEqual(5);
    expect(maxLive).toBe(5);
    expect(h.worker.starts).toHaveLength(10);
    expect(new Set(h.worker.starts).size).toBe(10);
    expect(h.worker.destroys.filter((d) => d.reason === 'job-completed')).toHaveLength(10);
  });

  it('waits out a stale session (409 on create) without a crash loop', async () => {
    h = await setUp();
    h.fake.injectFault({
      endpoint: 'createSession',
      status: 409,
      body: JSON.stringify({
        typeName:
          'GitHub.Actions.Runtime.WebApi.RunnerScaleSetSessionConflictException, GitHub.Actions.Runtime.WebApi',
        message: 'The actions runner scaleset already has an active session.',
      }),
      times: 3,
    });
    await startListener(h);
    await until('a session', () => h.fake.sessions().length === 1, 30_000);
    expect(h.fake.requestsFor('createSession').map((r) => r.status)).toEqual([409, 409, 409, 200]);
    h.fake.queueJobs(1, { durationMs: 200 });
    await until('the job completed', () => h.fake.jobs().every((j) => j.state === 'completed'));
  });

  it('refreshes the session token on 401, and replaces the session on a 404 refresh keeping the cursor', async () => {
    h = await setUp();
    await startListener(h);
    await until('a session', () => h.fake.sessions().length === 1);
    h.fake.queueJobs(1, { durationMs: 200 });
    await until('the job completed', () => h.fake.jobs().every((j) => j.state === 'completed'));
    const cursorBefore = Math.max(
      ...h.fake.requestsFor('getMessage').map((r) => Number(r.query['lastMessageId'] ?? 0)),
    );
    expect(cursorBefore).toBeGreaterThan(0);

    h.fake.injectFault({ endpoint: 'getMessage', status: 401 });
    await until('a refresh', () => h.fake.requestsFor('refreshSession').length === 1);
    expect(h.fake.requestsFor('createSession')).toHaveLength(1);

    h.fake.injectFault({ endpoint: 'getMessage', status: 401 });
    h.fake.injectFault({
      endpoint: 'refreshSession',
      status: 404,
      body: JSON.stringify({
        typeName: 'GitHub.Actions.Runtime.WebApi.RunnerAdminException',
        message: "runner referenced a session ID that doesn't exist in redis",
      }),
    });
    await until('a new session', () => h.fake.requestsFor('createSession').length === 2);
    const recreatedAt = h.fake.requestsFor('createSession')[1]?.at ?? 0;
    await until('a poll on the new session', () =>
      h.fake.requestsFor('getMessage').some((r) => r.at > recreatedAt),
    );
    const firstPoll = h.fake.requestsFor('getMessage').find((r) => r.at > recreatedAt);
    expect(Number(firstPoll?.query['lastMessageId'] ?? 0)).toBeGreaterThanOrEqual(cursorBefore);
    h.fake.queueJobs(1, { durationMs: 200 });
    await until('the second job completed', () =>
      h.fake.jobs().every((j) => j.state === 'completed'),
    );
  });

  it('duplicate deliveries and reassignments leave the fleet matching totalAssignedJobs', async () => {
    h = await setUp({ takeJobs: false, fake: { reassignAfterMs: 700 } });
    h.fake.duplicateMessages(2);
    await startListener(h);
    await until('a session', () => h.fake.sessions().length === 1);
    const id = h.scaleSetId();
    h.fake.queueJobs(3);
    // Runners never take jobs here: each job is cancelled and reassigned three times.
    await until(
      'three reassignments',
      () => h.fake.jobs().every((j) => j.reassignments >= 3),
      30_000,
    );
    await until(
      'the fleet matches the assigned jobs',
      async () => {
        const assigned = h.fake.statistics(id).totalAssignedJobs;
        const { live } = await h.registry.counts(id);
        return live === Math.min(5, assigned);
      },
      20_000,
    );
    const assigned = h.fake.statistics(id).totalAssignedJobs;
    const { live } = await h.registry.counts(id);
    expect(live).toBe(Math.min(5, assigned));
    expect(new Set(h.worker.starts).size).toBe(h.worker.starts.length);
  });

  it('scales down idle runners only; busy runners are kept', async () => {
    h = await setUp({ takeJobs: false });
    await startListener(h);
    await until('a session', () => h.fake.sessions().length === 1);
    const id = h.scaleSetId();
    const jobs = h.fake.queueJobs(3);
    await until('three idle runners', async () => (await h.registry.counts(id)).idle === 3);
    const idle = await h.registry.list(id, 'idle');
    const busyName = idle[0]?.name ?? '';
    h.fake.startJob(jobs[0]?.jobId ?? '', busyName);
    await until(
      'the runner is busy',
      async () => (await h.registry.get(id, busyName))?.state === 'busy',
    );
    // Two jobs go away: demand drops to the busy runner's job.
    h.fake.completeJob(jobs[1]?.jobId ?? '', 'canceled');
    h.fake.completeJob(jobs[2]?.jobId ?? '', 'canceled');
    await until('scale-down', async () => (await h.registry.counts(id)).live === 1);
    expect((await h.registry.get(id, busyName))?.state).toBe('busy');
    expect(
      h.worker.destroys.filter((d) => d.reason === 'scale-down').map((d) => d.name),
    ).not.toContain(busyName);
  });
});

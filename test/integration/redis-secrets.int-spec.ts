import { randomInt, randomUUID } from 'node:crypto';

import {
  JOB_NAMES,
  JobProducer,
  QUEUES,
  producerConnectionOptions,
  workerConnectionOptions,
  toAnyJob,
} from '@app/queue';
import { LeaseManager, MessageCursor, RunnerRegistry } from '@app/registry';
import { redisUrlForTests, scanRedisForSecret } from '@app/testing';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';

// Guarantee 6 (secrets stay secret), at the Redis layer: run a runner's whole lifecycle through
// the registry, the lease/cursor/session slots and real BullMQ jobs while a JIT config exists in
// the test, then read every key back and look for it.
describe('Redis state never holds the JIT config', () => {
  const scaleSet = { id: randomInt(1, 1_000_000), name: 'Linux X64' };
  const JIT_CONFIG = Buffer.from(
    JSON.stringify({ '.runner': randomUUID(), '.credentials_rsaparams': randomUUID() }),
  ).toString('base64');
  let keyPrefix: string;
  let bullPrefix: string;
  let redis: Redis;
  let runners: Queue;
  let reconcile: Queue;
  let worker: Worker | undefined;

  beforeEach(() => {
    const id = randomUUID();
    keyPrefix = `secrets-${id}`;
    bullPrefix = `{secrets-${id}}`;
    redis = new Redis(redisUrlForTests());
    const connection = producerConnectionOptions(redisUrlForTests());
    runners = new Queue(QUEUES.runners, { connection, prefix: bullPrefix });
    reconcile = new Queue(QUEUES.reconcile, { connection, prefix: bullPrefix });
  });

  afterEach(async () => {
    await worker?.close();
    for (const queue of [runners, reconcile]) {
      await queue.obliterate({ force: true });
      await queue.close();
    }
    for (const pattern of [`${keyPrefix}:*`, `${bullPrefix}:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) {
          await redis.unlink(...keys);
        }
      } while (cursor !== '0');
    }
    await redis.quit();
  });

  it('after a full lifecycle, no key under either prefix contains it', async () => {
    const registry = new RunnerRegistry(redis, { prefix: keyPrefix });
    const leases = new LeaseManager(redis, { prefix: keyPrefix });
    const cursor = new MessageCursor(redis, { prefix: keyPrefix });
    const producer = new JobProducer({ runners, reconcile });
    // Stands in for the compute engine: it receives the JIT config, Redis never does.
    const engine = new Map<string, string>();

    // Listener: lead, resume, scale up.
    const lease = await leases.acquire(scaleSet.id, 30_000);
    if (lease === undefined) {
      throw new Error('no lease');
    }
    const epoch = lease.epoch;
    await leases.setSessionId(scaleSet.id, randomUUID(), epoch);
    const [name] = await registry.reserve(scaleSet, 1, 5, { epoch });
    if (name === undefined) {
      throw new Error('no runner reserved');
    }
    const payload = {
      scaleSetId: scaleSet.id,
      scaleSetName: scaleSet.name,
      runnerName: name,
      epoch,
    };
    expect(await producer.enqueueStart(payload)).toMatchObject({ created: true });
    await producer.scheduleReconcile(
      { scaleSetId: scaleSet.id, scaleSetName: scaleSet.name },
      60_000,
    );
    await cursor.setCursor(scaleSet.id, 100_000_001, epoch);

    // Worker: start (failing once, as a transient engine error would), then destroy.
    let startAttempts = 0;
    const destroyed = new Promise<void>((resolve, reject) => {
      const w = new Worker(
        QUEUES.runners,
        async (raw: Job) => {
          const job = toAnyJob(raw);
          switch (job.name) {
            case 'start-runner': {
              const { runnerName } = job.data;
              await registry.transition(scaleSet.id, runnerName, 'provisioning');
              const jitConfig = JIT_CONFIG; // generated right before the engine call
              await registry.annotate(scaleSet.id, runnerName, { runnerId: 4242 });
              startAttempts++;
              if (startAttempts === 1) {
                throw new Error('engine unavailable (503)');
              }
              engine.set(runnerName, jitConfig);
              await registry.transition(scaleSet.id, runnerName, 'idle', {
                engineId: `container-${runnerName}`,
              });
              return { engineId: `container-${runnerName}` };
            }
            case 'destroy-runner': {
              engine.delete(job.data.runnerName);
              await registry.transition(scaleSet.id, job.data.runnerName, 'deleted');
              return { removed: true };
            }
            case 'reconcile':
              return {};
          }
        },
        {
          connection: workerConnectionOptions(redisUrlForTests()),
          prefix: bullPrefix,
        },
      );
      worker = w;
      w.on('completed', (job: Job) => {
        if (job.name === JOB_NAMES.destroyRunner) {
          resolve();
        }
      });
      w.on('failed', (job: Job | undefined, error) => {
        if (job?.name === JOB_NAMES.destroyRunner) {
          reject(error);
        }
      });
    });
    const idle = async (): Promise<boolean> =>
      (await registry.get(scaleSet.id, name))?.state === 'idle';
    // The retry waits for the default exponential backoff (1-2 s with jitter).
    for (let i = 0; i < 1_000 && !(await idle()); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await idle()).toBe(true);
    expect(engine.get(name)).toBe(JIT_CONFIG);

    // Listener: JobStarted, JobCompleted (twice: a duplicate message), then destroy.
    await registry.transition(scaleSet.id, name, 'busy', {
      epoch,
      jobId: randomUUID(),
      jobDisplayName: 'build (ubuntu-latest)',
    });
    await registry.transition(scaleSet.id, name, 'destroying', { epoch, reason: 'job-completed' });
    await producer.enqueueDestroy({ ...payload, reason: 'job-completed' });
    await cursor.setCursor(scaleSet.id, 100_000_002, epoch);
    await destroyed;
    expect(await registry.isTombstoned(scaleSet.id, name)).toBe(true);
    expect(await producer.enqueueDestroy({ ...payload, reason: 'job-completed' })).toMatchObject({
      created: false,
    });
    expect(startAttempts).toBe(2);

    const registryScan = await scanRedisForSecret(redis, `${keyPrefix}:*`, JIT_CONFIG);
    const queueScan = await scanRedisForSecret(redis, `${bullPrefix}:*`, JIT_CONFIG);
    expect(registryScan.findings).toEqual([]);
    expect(queueScan.findings).toEqual([]);
    // The scans really read the state: tombstone, lease, epoch, cursor, session; job hashes,
    // the event stream and the finished sets.
    expect(registryScan.keysScanned).toBeGreaterThanOrEqual(5);
    for (const type of ['hash', 'stream', 'zset']) {
      expect(queueScan.types[type]).toBeGreaterThan(0);
    }

    // Positive control: the same scan finds the config once it is planted in job data.
    await runners.add('planted', { jitConfig: JIT_CONFIG }, { jobId: 'planted', delay: 3_600_000 });
    const planted = await scanRedisForSecret(redis, `${bullPrefix}:*`, JIT_CONFIG);
    expect(planted.findings).toContainEqual({
      key: `${bullPrefix}:${QUEUES.runners}:planted`,
      type: 'hash',
      where: 'hash value',
    });
  }, 30_000);
});

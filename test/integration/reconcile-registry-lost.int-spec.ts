import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { ComputeEngine } from '@app/compute';
import { JobProducer, QUEUES, producerConnectionOptions } from '@app/queue';
import { RunnerRegistry } from '@app/registry';
import { ScaleSetClient } from '@app/scaleset';
import { FakeGitHub, startRedisServer, type RedisServer } from '@app/testing';
import {
  BullReconcileJobs,
  Reconciler,
  RedisReconcileState,
  reconcileKeys,
  redisClock,
} from '@apps/worker';
import { computeBackends, type ComputeBackend } from '../support/compute-backend';
import { createFakeScaleSet, memoryLogger, shortId, waitUntil } from '../support/worker.fixture';

// Guarantee 5 must not turn into "destroy everything" when Redis loses its data: after a
// FLUSHALL (on a redis-server of this test's own), a runner in the middle of a long job is
// re-entered as busy from its compute's labels and GitHub, and its compute survives; on every
// engine (Docker on a real dockerd, GCP with the real client against the fake Compute API).

jest.setTimeout(60_000);

const SEC = 1000;
const PREFIX = 'rl';

describe.each(computeBackends().map((b) => [b.kind, b] as const))(
  'reconciler on %s: registry lost (FLUSHALL)',
  (_kind: string, backend: ComputeBackend) => {
    const scaleSetName = `rl-${shortId(3)}`;
    const owner = `rl-${shortId()}`;
    let server: RedisServer;
    let redis: Redis;
    let fake: FakeGitHub;
    let client: ScaleSetClient;
    let engine: ComputeEngine;
    let runners: Queue;
    let reconcileQueue: Queue;
    let name: string | undefined;

    beforeAll(async () => {
      server = await startRedisServer();
      redis = new Redis(server.url);
      fake = new FakeGitHub({ runnerPollTimeoutMs: 2_000 });
      await fake.start();
      client = new ScaleSetClient({
        configUrl: fake.configUrl('org'),
        auth: { kind: 'pat', token: fake.pat },
        proxy: 'none',
      });
      await backend.setup();
      engine = backend.engine(owner, 'fake-runner');
      const connection = producerConnectionOptions(server.url);
      runners = new Queue(QUEUES.runners, { connection, prefix: `{${PREFIX}}` });
      reconcileQueue = new Queue(QUEUES.reconcile, { connection, prefix: `{${PREFIX}}` });
    });

    afterAll(async () => {
      if (name !== undefined) {
        await engine.destroy({ name }).catch(() => undefined);
      }
      await engine.close?.();
      await backend.removeOwned(owner);
      await backend.teardown();
      await client.close();
      await runners.close();
      await reconcileQueue.close();
      redis.disconnect();
      await fake.stop();
      await server.stop();
    });

    it('rebuilds the registry from the engine and GitHub and keeps the busy runner', async () => {
      const scaleSetId = await createFakeScaleSet(fake, scaleSetName);
      const registry = new RunnerRegistry(redis, { prefix: PREFIX });
      const state = new RedisReconcileState(redis, PREFIX);
      const now = redisClock(redis);
      let offsetMs = 0;
      const reconciler = new Reconciler({
        registry,
        github: client,
        engines: { for: () => engine },
        jobs: new BullReconcileJobs(
          new JobProducer({ runners, reconcile: reconcileQueue }),
          runners,
        ),
        state,
        clock: async () => (await now()) + offsetMs,
        logger: memoryLogger().logger,
        settings: {
          owner,
          orphanGraceMs: 120 * SEC,
          startupTimeoutMs: 600 * SEC,
          maxLifetimeMs: 0,
          stuckDestroyingMs: 120 * SEC,
        },
      });
      const scaleSet = { id: scaleSetId, name: scaleSetName };
      expect((await reconciler.reconcile(scaleSet)).actions).toEqual([]);

      // A runner started as the worker does, taking a long job (JobStarted → busy).
      const [reserved] = await registry.reserve(scaleSet, 1, 5);
      if (reserved === undefined) {
        throw new Error('no runner reserved');
      }
      name = reserved;
      await registry.transition(scaleSetId, name, 'provisioning');
      const jit = await client.generateJitRunnerConfig(scaleSetId, { name });
      await registry.annotate(scaleSetId, name, { runnerId: jit.runner.id });
      const ref = await engine.start({
        name,
        jitConfig: jit.encodedJITConfig,
        scaleSetId,
        scaleSetName,
      });
      await registry.transition(scaleSetId, name, 'idle', { engineId: ref.engineId });
      const [job] = fake.queueJobs(1, { scaleSetId, durationMs: 600_000 });
      if (job === undefined) {
        throw new Error('no job queued');
      }
      fake.assignJob(job.jobId);
      const runner = name;
      await waitUntil(
        () => fake.runners(scaleSetId).find((r) => r.name === runner)?.status === 'busy',
        'the runner to be busy',
      );
      await registry.transition(scaleSetId, name, 'busy');
      expect((await reconciler.reconcile(scaleSet)).actions).toEqual([]);

      await redis.flushall();
      expect(await state.hasMarker(scaleSetId)).toBe(false);

      const rebuilt = await reconciler.reconcile(scaleSet);

      expect(rebuilt.rebuilt).toBe(true);
      expect(rebuilt.actions).toEqual([
        { rule: 'registry-rebuilt', runner: name, action: 'restored', detail: 'busy' },
      ]);
      expect(await registry.get(scaleSetId, name)).toMatchObject({
        state: 'busy',
        engineId: ref.engineId,
        runnerId: jit.runner.id,
      });
      expect((await registry.counts(scaleSetId)).live).toBe(1);
      expect(await redis.exists(reconcileKeys(PREFIX, scaleSetId).marker)).toBe(1);

      // Two more periods, well past every grace and timeout: the busy runner is left alone.
      for (const later of [60 * SEC, 3_600 * SEC]) {
        offsetMs = later;
        const report = await reconciler.reconcile(scaleSet);
        expect(report.actions).toEqual([]);
      }
      expect(await backend.resource(name)).toMatchObject({ exited: false });
      expect(await registry.get(scaleSetId, name)).toMatchObject({ state: 'busy' });
      expect(fake.job(job.jobId)?.state).toBe('running');
      expect(await runners.getJobCounts()).toMatchObject({ waiting: 0, delayed: 0 });
    });
  },
);

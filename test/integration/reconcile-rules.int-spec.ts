import type { ComputeEngine } from '@app/compute';
import { destroyRunnerJobId } from '@app/queue';
import { runnerName } from '@app/registry';
import { ScaleSetClient } from '@app/scaleset';
import { FakeGitHub } from '@app/testing';
import {
  BullReconcileJobs,
  Reconciler,
  RedisReconcileState,
  redisClock,
  type ReconcileReport,
} from '@apps/worker';
import {
  computeBackends,
  type ComputeBackend,
  type RunnerBehaviour,
} from '../support/compute-backend';
import { createFakeScaleSet, memoryLogger, shortId, waitUntil } from '../support/worker.fixture';
import { WorkerHarness } from '../support/worker.harness';

// The reconciler against real Redis, the fake GitHub and each engine (Docker on a real dockerd,
// GCP with the real client against the fake Compute API), with the real worker app processing
// the destroy jobs it enqueues. Passes are called directly (no timers); "after the grace" is a
// clock offset on top of Redis TIME, the reconciler's production clock.

jest.setTimeout(60_000);

const SEC = 1000;
const GRACE_MS = 120 * SEC;
const STARTUP_TIMEOUT_MS = 600 * SEC;

interface Rig {
  readonly h: WorkerHarness;
  readonly reconciler: Reconciler;
  readonly client: ScaleSetClient;
  readonly engines: Map<RunnerBehaviour, ComputeEngine>;
  /** The reconciler's log lines. */
  readonly lines: string[];
  /** Milliseconds added to Redis TIME: how far "later" the next pass runs. */
  offsetMs: number;
}

describe.each(computeBackends().map((b) => [b.kind, b] as const))(
  'reconciler: registry ↔ GitHub ↔ %s',
  (_kind: string, backend: ComputeBackend) => {
    const scaleSetName = `rc-${shortId(3)}`;
    let fake: FakeGitHub;
    let scaleSetId: number;
    let rig: Rig | undefined;
    const foreign: string[] = [];

    beforeAll(async () => {
      fake = new FakeGitHub({ jobDurationMs: 300, runnerPollTimeoutMs: 2_000 });
      await fake.start();
      await backend.setup();
      scaleSetId = await createFakeScaleSet(fake, scaleSetName);
    });

    afterAll(async () => {
      await backend.teardown();
      await fake.stop();
    });

    afterEach(async () => {
      fake.dropJobCompleted(false);
      for (const name of foreign.splice(0)) {
        await backend.removeForeign(name);
      }
      const r = rig;
      rig = undefined;
      if (r === undefined) {
        return;
      }
      try {
        // Guarantee 6: no JIT config in Redis, the worker's logs or the reconciler's.
        const { leaks } = await r.h.secretLeaks();
        expect(leaks).toEqual([]);
        for (const jit of r.h.jitConfigs) {
          expect(r.lines.filter((l) => l.includes(jit))).toEqual([]);
        }
      } finally {
        await r.client.close();
        for (const engine of r.engines.values()) {
          await engine.close?.();
        }
        await r.h.close();
      }
    });

    async function start(): Promise<Rig> {
      const h = await WorkerHarness.start(
        { fake, scaleSetName, engine: backend.engineYaml('fake-runner') },
        backend,
      );
      h.scaleSetId = scaleSetId;
      // The worker's own pass at startup, done before the test's passes begin.
      await h.firstReconcileDone();
      const client = new ScaleSetClient({
        configUrl: fake.configUrl('org'),
        auth: { kind: 'pat', token: fake.pat },
        proxy: 'none',
      });
      const engines = new Map<RunnerBehaviour, ComputeEngine>();
      const redisNow = redisClock(h.redis);
      const { logger, lines } = memoryLogger();
      const created: Rig = {
        h,
        client,
        engines,
        lines,
        offsetMs: 0,
        reconciler: new Reconciler({
          registry: h.registry,
          github: client,
          engines: { for: () => engineFor(created, 'sleep') },
          jobs: new BullReconcileJobs(h.producer, h.runners),
          state: new RedisReconcileState(h.redis, h.prefix),
          clock: async () => (await redisNow()) + created.offsetMs,
          logger,
          settings: {
            owner: h.owner,
            orphanGraceMs: GRACE_MS,
            startupTimeoutMs: STARTUP_TIMEOUT_MS,
            maxLifetimeMs: 0,
            stuckDestroyingMs: GRACE_MS,
          },
        }),
      };
      rig = created;
      return created;
    }

    function engineFor(r: Rig, behaviour: RunnerBehaviour): ComputeEngine {
      let engine = r.engines.get(behaviour);
      if (engine === undefined) {
        engine = backend.engine(r.h.owner, behaviour);
        r.engines.set(behaviour, engine);
      }
      return engine;
    }

    /** One pass, then waits for every destroy job it enqueued. */
    async function pass(r: Rig): Promise<ReconcileReport> {
      const report = await r.reconciler.reconcile({ id: scaleSetId, name: scaleSetName });
      for (const a of report.actions) {
        if (a.action === 'destroy-enqueued') {
          const job = await r.h.finished(destroyRunnerJobId(a.runner));
          expect(await job.getState()).toBe('completed');
        }
      }
      return report;
    }

    /**
     * What the worker's start job does, step by step, stopping where a crash would:
     * reserve → provisioning → JIT config (runnerId recorded) → container → idle.
     */
    async function runnerByHand(
      r: Rig,
      until: 'jit' | 'container' | 'idle',
      behaviour: RunnerBehaviour,
    ): Promise<{ name: string; runnerId: number }> {
      const [name] = await r.h.registry.reserve({ id: scaleSetId, name: scaleSetName }, 1, 5);
      if (name === undefined) {
        throw new Error('no runner reserved');
      }
      await r.h.registry.transition(scaleSetId, name, 'provisioning');
      const jit = await r.client.generateJitRunnerConfig(scaleSetId, { name });
      r.h.jitConfigs.push(jit.encodedJITConfig);
      await r.h.registry.annotate(scaleSetId, name, { runnerId: jit.runner.id });
      if (until !== 'jit') {
        const ref = await engineFor(r, behaviour).start({
          name,
          jitConfig: jit.encodedJITConfig,
          scaleSetId,
          scaleSetName,
        });
        if (until === 'idle') {
          await r.h.registry.transition(scaleSetId, name, 'idle', { engineId: ref.engineId });
        }
      }
      return { name, runnerId: jit.runner.id };
    }

    const registered = (name: string) => fake.runners(scaleSetId).find((r) => r.name === name);
    const containerExists = async (name: string) => (await backend.resource(name)) !== undefined;
    const exited = async (name: string) => (await backend.resource(name))?.exited === true;

    async function expectGone(r: Rig, name: string): Promise<void> {
      expect(await containerExists(name)).toBe(false);
      expect(registered(name)).toBeUndefined();
      expect(await r.h.registry.get(scaleSetId, name)).toBeUndefined();
      expect(await r.h.registry.isTombstoned(scaleSetId, name)).toBe(true);
      expect((await r.h.registry.counts(scaleSetId)).live).toBe(0);
    }

    it('a: cleans up a runner whose compute exited by itself', async () => {
      const r = await start();
      const { name } = await runnerByHand(r, 'idle', 'exit0');
      await waitUntil(() => exited(name), 'the compute to exit');

      const report = await pass(r);

      expect(report.counts['compute-gone']).toBe(1);
      await expectGone(r, name);
    });

    it('b: destroys a runner that never comes online, after the startup timeout', async () => {
      const r = await start();
      const { name } = await runnerByHand(r, 'idle', 'sleep');

      expect((await pass(r)).actions).toEqual([]);
      expect(await containerExists(name)).toBe(true);

      r.offsetMs = STARTUP_TIMEOUT_MS + SEC;
      const report = await pass(r);

      expect(report.counts['startup-timeout']).toBe(1);
      await expectGone(r, name);
    });

    it('c: destroys our entry-less compute after the grace, never one without our label', async () => {
      const r = await start();
      // A first pass over an empty registry marks it as reconciled; without that mark, our
      // entry-less compute would mean "registry lost" and be adopted instead (file h).
      expect((await pass(r)).actions).toEqual([]);
      const ours = runnerName(scaleSetName);
      await engineFor(r, 'sleep').start({
        name: ours,
        jitConfig: 'not-a-real-jit-config',
        scaleSetId,
        scaleSetName,
      });
      const theirs = runnerName(scaleSetName);
      foreign.push(theirs);
      await backend.createForeign(theirs, { id: scaleSetId, name: scaleSetName });

      expect((await pass(r)).actions).toEqual([]);
      expect(await containerExists(ours)).toBe(true);

      r.offsetMs = GRACE_MS + SEC;
      const report = await pass(r);

      expect(report.actions).toEqual([
        expect.objectContaining({ rule: 'orphaned-compute', runner: ours, action: 'destroyed' }),
      ]);
      expect(await containerExists(ours)).toBe(false);
      expect(await backend.resource(theirs)).toMatchObject({ exited: false });
    });

    it('d: removes an offline registration of a runner we no longer have', async () => {
      const r = await start();
      const [name] = await r.h.registry.reserve({ id: scaleSetId, name: scaleSetName }, 1, 5);
      if (name === undefined) {
        throw new Error('no runner reserved');
      }
      await pass(r); // sees, and remembers, the name
      await r.h.registry.transition(scaleSetId, name, 'destroying');
      await r.h.registry.transition(scaleSetId, name, 'deleted');
      fake.plantOfflineRunner(scaleSetId, name);
      const unrelated = fake.plantOfflineRunner(scaleSetId);

      r.offsetMs = GRACE_MS + SEC;
      const report = await pass(r);

      expect(report.counts['ghost-registration']).toBe(1);
      expect(registered(name)).toBeUndefined();
      // A name we never had is beyond what the protocol lets us discover (docs/reconciler.md).
      expect(registered(unrelated.name)).toBeDefined();
    });

    it('e: frees the slot and removes the registration of a runner killed right after its JIT config', async () => {
      const r = await start();
      const { name } = await runnerByHand(r, 'jit', 'sleep');
      expect(registered(name)).toBeDefined();
      expect((await r.h.registry.counts(scaleSetId)).live).toBe(1);

      r.offsetMs = STARTUP_TIMEOUT_MS + SEC;
      const report = await pass(r);

      expect(report.counts['startup-timeout']).toBe(1);
      await expectGone(r, name);
    });

    it('f: adopts running compute whose registry write was lost if GitHub sees it, else destroys it', async () => {
      const r = await start();
      const online = await runnerByHand(r, 'container', 'fake-runner');
      const silent = await runnerByHand(r, 'container', 'sleep');
      await waitUntil(() => registered(online.name)?.status === 'online', 'the runner online');

      r.offsetMs = STARTUP_TIMEOUT_MS + SEC;
      const report = await pass(r);

      expect(report.counts['adopted-compute']).toBe(1);
      expect(report.counts['startup-timeout']).toBe(1);
      const info = await backend.resource(online.name);
      expect(await r.h.registry.get(scaleSetId, online.name)).toMatchObject({
        state: 'idle',
        engineId: info?.engineId,
        runnerId: online.runnerId,
      });
      await expect(containerExists(silent.name)).resolves.toBe(false);
      expect(registered(silent.name)).toBeUndefined();
      expect(await r.h.registry.isTombstoned(scaleSetId, silent.name)).toBe(true);
      expect((await r.h.registry.counts(scaleSetId)).live).toBe(1);
    });

    it('g: removes a finished runner whose JobCompleted never arrived', async () => {
      const r = await start();
      fake.dropJobCompleted(true);
      const { name } = await runnerByHand(r, 'idle', 'fake-runner');
      await waitUntil(() => registered(name)?.status === 'online', 'the runner online');
      const [queued] = fake.queueJobs(1, { scaleSetId, durationMs: 200 });
      if (queued === undefined) {
        throw new Error('no job queued');
      }
      fake.assignJob(queued.jobId);
      await waitUntil(() => fake.job(queued.jobId)?.runnerName === name, 'the runner to take it');
      // What the listener does on JobStarted; its JobCompleted is the message that is lost.
      await r.h.registry.transition(scaleSetId, name, 'busy');
      await waitUntil(() => fake.job(queued.jobId)?.state === 'completed', 'the job to complete');
      await waitUntil(() => exited(name), 'the ephemeral runner to exit');

      const report = await pass(r);

      expect(report.counts['compute-gone']).toBe(1);
      await expectGone(r, name);
    });
  },
);

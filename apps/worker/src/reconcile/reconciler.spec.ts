import type { EngineInstance, EngineTarget, OwnerLabels } from '@app/compute';
import {
  destroyRunnerJobId,
  type DestroyReason,
  type DestroyRunnerPayload,
  type EnqueueResult,
} from '@app/queue';
import {
  IllegalTransitionError,
  LEGAL_TRANSITIONS,
  RunnerNotFoundError as RegistryRunnerNotFoundError,
  type RunnerRecord,
  type RunnerState,
  type RunnerTransitionTarget,
  type TransitionOptions,
  type TransitionResult,
} from '@app/registry';
import {
  JobStillRunningError,
  RunnerNotFoundError as GitHubRunnerNotFoundError,
  ScaleSetApiError,
  type RunnerReference,
} from '@app/scaleset';
import { formatReconcileReport } from './reconcile.once';
import type {
  KnownRunnerName,
  ReconcileEngine,
  ReconcileGitHub,
  ReconcileJobs,
  ReconcileRegistry,
  ReconcileState,
} from './reconcile.ports';
import { Reconciler, destroyReasonOf, type ReconcileSettings } from './reconciler';

// Every rule against hand-written fakes of the ports (style.md 21). The fakes keep the real
// registry's lifecycle table, GitHub's refusal to remove a busy runner and the engine's
// owner labels, so the outcomes asserted here are the ones production would see.

const OWNER = 'dep-1';
const SS = { id: 7, name: 'linux' };
const T0 = 10_000_000;
const SEC = 1000;
const SETTINGS: ReconcileSettings = {
  owner: OWNER,
  orphanGraceMs: 120 * SEC,
  startupTimeoutMs: 600 * SEC,
  maxLifetimeMs: 0,
  stuckDestroyingMs: 120 * SEC,
};

const apiCtx = (status: number) => ({
  method: 'DELETE',
  url: 'https://fake.test/x',
  path: '/x',
  status,
  reason: 'r',
});

class FakeRegistry implements ReconcileRegistry {
  readonly entries = new Map<string, RunnerRecord>();
  readonly tombstones = new Set<string>();
  constructor(private readonly clock: { now: number }) {}

  restore(_scaleSet: { id: number }, name: string): Promise<boolean> {
    if (this.entries.has(name) || this.tombstones.has(name)) {
      return Promise.resolve(false);
    }
    this.put(name, 'reserved', { attempts: 0 });
    return Promise.resolve(true);
  }

  put(name: string, state: RunnerState, extra: Partial<RunnerRecord> = {}): RunnerRecord {
    const record: RunnerRecord = {
      name,
      scaleSetId: SS.id,
      state,
      createdAt: this.clock.now,
      updatedAt: this.clock.now,
      stateChangedAt: this.clock.now,
      attempts: 1,
      ...extra,
    };
    this.entries.set(name, record);
    return record;
  }

  state(name: string): RunnerState | 'deleted' | undefined {
    return this.entries.get(name)?.state ?? (this.tombstones.has(name) ? 'deleted' : undefined);
  }

  list(_scaleSetId: number, state?: RunnerState): Promise<RunnerRecord[]> {
    return Promise.resolve(
      [...this.entries.values()].filter((r) => state === undefined || r.state === state),
    );
  }

  get(_scaleSetId: number, name: string): Promise<RunnerRecord | undefined> {
    return Promise.resolve(this.entries.get(name));
  }

  transition(
    scaleSetId: number,
    name: string,
    to: RunnerTransitionTarget,
    options: TransitionOptions = {},
  ): Promise<TransitionResult> {
    const r = this.entries.get(name);
    if (r === undefined) {
      throw new RegistryRunnerNotFoundError(scaleSetId, name);
    }
    if (r.state === to) {
      return Promise.resolve({ outcome: 'unchanged', from: r.state, to });
    }
    if (options.from !== undefined && !options.from.includes(r.state)) {
      throw new IllegalTransitionError(scaleSetId, name, r.state, to, options.from);
    }
    if (!LEGAL_TRANSITIONS[r.state].includes(to)) {
      throw new IllegalTransitionError(scaleSetId, name, r.state, to);
    }
    if (to === 'deleted') {
      this.entries.delete(name);
      this.tombstones.add(name);
    } else {
      this.entries.set(name, {
        ...r,
        state: to,
        stateChangedAt: this.clock.now,
        updatedAt: this.clock.now,
        ...(options.engineId === undefined ? {} : { engineId: options.engineId }),
        ...(options.runnerId === undefined ? {} : { runnerId: options.runnerId }),
        ...(options.reason === undefined ? {} : { reason: options.reason }),
      });
    }
    return Promise.resolve({ outcome: 'applied', from: r.state, to });
  }

  annotate(
    scaleSetId: number,
    name: string,
    fields: { engineId?: string; runnerId?: number },
  ): Promise<RunnerState> {
    const r = this.entries.get(name);
    if (r === undefined) {
      throw new RegistryRunnerNotFoundError(scaleSetId, name);
    }
    this.entries.set(name, { ...r, ...fields });
    return Promise.resolve(r.state);
  }
}

class FakeGitHubPort implements ReconcileGitHub {
  readonly runners = new Map<string, RunnerReference>();
  private nextId = 100;
  failLookups = false;

  register(name: string, status: 'online' | 'offline' = 'online', busy = false): RunnerReference {
    const ref = { id: this.nextId++, name, runnerScaleSetId: SS.id, status, busy };
    this.runners.set(name, ref);
    return ref;
  }

  getRunnerByName(name: string): Promise<RunnerReference | null> {
    if (this.failLookups) {
      return Promise.reject(new ScaleSetApiError({ ...apiCtx(503), method: 'GET' }));
    }
    return Promise.resolve(this.runners.get(name) ?? null);
  }

  removeRunner(runnerId: number): Promise<void> {
    const found = [...this.runners.values()].find((r) => r.id === runnerId);
    if (found === undefined) {
      return Promise.reject(new GitHubRunnerNotFoundError(apiCtx(404)));
    }
    if (found.busy === true) {
      return Promise.reject(new JobStillRunningError(apiCtx(400)));
    }
    this.runners.delete(found.name);
    return Promise.resolve();
  }
}

class FakeEngine implements ReconcileEngine {
  readonly instances = new Map<string, EngineInstance>();
  failList = false;
  seesAllInstances = true;
  private nextId = 1;
  constructor(private readonly clock: { now: number }) {}

  add(
    name: string,
    state: EngineInstance['state'] = 'running',
    options: { owner?: string; scaleSetId?: number; ageMs?: number } = {},
  ): EngineInstance {
    const instance: EngineInstance = {
      name,
      engineId: `c${this.nextId++}`,
      state,
      owner: options.owner ?? OWNER,
      scaleSetId: options.scaleSetId ?? SS.id,
      scaleSetName: SS.name,
      runnerName: name,
      createdAt: new Date(this.clock.now - (options.ageMs ?? 0)),
      labels: {},
    };
    this.instances.set(name, instance);
    return instance;
  }

  // Deliberately sloppy: returns every resource, so the reconciler's own owner check is tested.
  list(_owner: OwnerLabels): Promise<EngineInstance[]> {
    if (this.failList) {
      return Promise.reject(new Error('daemon down'));
    }
    return Promise.resolve([...this.instances.values()]);
  }

  inspect(name: string): Promise<EngineInstance | null> {
    return Promise.resolve(this.instances.get(name) ?? null);
  }

  destroy(target: EngineTarget): Promise<void> {
    const found = this.instances.get(target.name);
    if (found?.owner === OWNER) {
      this.instances.delete(target.name);
    }
    return Promise.resolve();
  }
}

class FakeJobs implements ReconcileJobs {
  /** Job id → state and payload (what the runners queue holds). */
  readonly jobs = new Map<string, { state: string; payload: DestroyRunnerPayload }>();

  enqueueDestroy(payload: DestroyRunnerPayload): Promise<EnqueueResult> {
    const jobId = destroyRunnerJobId(payload.runnerName, payload.reason);
    const created = !this.jobs.has(jobId);
    if (created) {
      this.jobs.set(jobId, { state: 'waiting', payload });
    }
    return Promise.resolve({ jobId, created });
  }

  destroyPending(runnerName: string): Promise<boolean> {
    const ids = [destroyRunnerJobId(runnerName), destroyRunnerJobId(runnerName, 'scale-down')];
    return Promise.resolve(
      ids.some((id) => ['waiting', 'active', 'delayed'].includes(this.jobs.get(id)?.state ?? '')),
    );
  }

  discardFinishedDestroy(runnerName: string, reason: DestroyReason): Promise<void> {
    const id = destroyRunnerJobId(runnerName, reason);
    const state = this.jobs.get(id)?.state;
    if (state === 'completed' || state === 'failed') {
      this.jobs.delete(id);
    }
    return Promise.resolve();
  }

  waiting(): { runner: string; reason: DestroyReason }[] {
    return [...this.jobs.values()]
      .filter((j) => j.state === 'waiting')
      .map((j) => ({ runner: j.payload.runnerName, reason: j.payload.reason }));
  }
}

class FakeState implements ReconcileState {
  marker = true;
  readonly names = new Map<string, number>();

  hasMarker(): Promise<boolean> {
    return Promise.resolve(this.marker);
  }
  setMarker(): Promise<void> {
    this.marker = true;
    return Promise.resolve();
  }
  rememberNames(_id: number, names: readonly string[], now: number): Promise<void> {
    for (const n of names) {
      if (!this.names.has(n)) {
        this.names.set(n, now);
      }
    }
    return Promise.resolve();
  }
  knownNames(): Promise<KnownRunnerName[]> {
    return Promise.resolve([...this.names].map(([name, firstSeenAt]) => ({ name, firstSeenAt })));
  }
  forgetNames(_id: number, names: readonly string[]): Promise<void> {
    for (const n of names) {
      this.names.delete(n);
    }
    return Promise.resolve();
  }
}

function setup(settings: Partial<ReconcileSettings> = {}) {
  const clock = { now: T0 };
  const registry = new FakeRegistry(clock);
  const github = new FakeGitHubPort();
  const engine = new FakeEngine(clock);
  const jobs = new FakeJobs();
  const state = new FakeState();
  const logged: string[] = [];
  const log = (_obj: object, msg: string) => {
    logged.push(msg);
  };
  const reconciler = new Reconciler({
    registry,
    github,
    engines: {
      for: (name) => {
        if (name !== SS.name) {
          throw new Error(`no engine for ${name}`);
        }
        return engine;
      },
    },
    jobs,
    state,
    clock: () => Promise.resolve(clock.now),
    logger: { debug: log, info: log, warn: log, error: log },
    settings: { ...SETTINGS, ...settings },
  });
  const advance = (ms: number) => {
    clock.now += ms;
  };
  const pass = () => reconciler.reconcile(SS);
  return { clock, registry, github, engine, jobs, state, reconciler, advance, pass };
}

describe('Reconciler', () => {
  describe('orphaned-compute', () => {
    it('destroys our labelled compute without an entry once older than the grace', async () => {
      const t = setup();
      t.engine.add('linux-orphan0001', 'running', { ageMs: 60 * SEC });

      const first = await t.pass();
      expect(first.counts['orphaned-compute']).toBe(0);
      expect(t.engine.instances.has('linux-orphan0001')).toBe(true);

      t.advance(61 * SEC);
      const second = await t.pass();
      expect(second.counts['orphaned-compute']).toBe(1);
      expect(t.engine.instances.has('linux-orphan0001')).toBe(false);
    });

    it('also removes the orphan registration, but keeps an orphan GitHub says is busy', async () => {
      const t = setup();
      t.engine.add('linux-orphan0002', 'exited', { ageMs: 300 * SEC });
      t.github.register('linux-orphan0002', 'offline');
      t.engine.add('linux-orphan0003', 'running', { ageMs: 300 * SEC });
      t.github.register('linux-orphan0003', 'online', true);

      const report = await t.pass();

      expect(t.engine.instances.has('linux-orphan0002')).toBe(false);
      expect(t.github.runners.has('linux-orphan0002')).toBe(false);
      expect(t.engine.instances.has('linux-orphan0003')).toBe(true);
      expect(report.actions).toContainEqual(
        expect.objectContaining({ runner: 'linux-orphan0003', action: 'kept' }),
      );
    });

    it('never touches resources without our owner label or of another scale set', async () => {
      const t = setup();
      t.engine.add('linux-foreign001', 'exited', { owner: 'someone-else', ageMs: 3_600 * SEC });
      t.engine.add('linux-other0001', 'exited', { scaleSetId: 99, ageMs: 3_600 * SEC });

      const report = await t.pass();

      expect(report.actions).toEqual([]);
      expect([...t.engine.instances.keys()].sort()).toEqual([
        'linux-foreign001',
        'linux-other0001',
      ]);
    });

    it('leaves compute alone whose entry exists, whatever its state', async () => {
      const t = setup();
      t.registry.put('linux-provis0001', 'provisioning');
      t.engine.add('linux-provis0001', 'running', { ageMs: 300 * SEC });

      await t.pass();

      expect(t.engine.instances.has('linux-provis0001')).toBe(true);
    });
  });

  describe('compute-gone', () => {
    it.each<[RunnerState, EngineInstance['state'] | 'missing']>([
      ['idle', 'exited'],
      ['idle', 'missing'],
      ['busy', 'exited'],
      ['busy', 'missing'],
    ])('destroys a %s runner whose compute is %s', async (state, compute) => {
      const t = setup();
      t.registry.put('linux-gone00001', state, { engineId: 'c1', runnerId: 5 });
      if (compute !== 'missing') {
        t.engine.add('linux-gone00001', compute);
      }

      const report = await t.pass();

      expect(report.counts['compute-gone']).toBe(1);
      expect(t.registry.state('linux-gone00001')).toBe('destroying');
      expect(t.registry.entries.get('linux-gone00001')?.reason).toBe('compute-gone');
      expect(t.jobs.waiting()).toEqual([{ runner: 'linux-gone00001', reason: 'compute-gone' }]);
    });

    it('does not take "not found" for gone on an engine with per-process state', async () => {
      const t = setup();
      t.engine.seesAllInstances = false;
      t.registry.put('linux-else00001', 'idle', { engineId: 'c1', runnerId: 5 });
      t.github.register('linux-else00001');
      t.registry.put('linux-else00002', 'busy', { engineId: 'c2', runnerId: 6 });
      t.registry.put('linux-gone00003', 'idle', { engineId: 'c3', runnerId: 7 });
      t.engine.add('linux-gone00003', 'exited');

      const report = await t.pass();

      // Exited compute it can see is still gone; compute it cannot see may be another's.
      expect(report.counts['compute-gone']).toBe(1);
      expect(t.jobs.waiting()).toEqual([{ runner: 'linux-gone00003', reason: 'compute-gone' }]);
      expect(t.registry.state('linux-else00001')).toBe('idle');
      expect(t.registry.state('linux-else00002')).toBe('busy');
    });

    it('leaves running runners alone', async () => {
      const t = setup();
      t.registry.put('linux-alive0001', 'idle');
      t.engine.add('linux-alive0001');
      t.github.register('linux-alive0001');
      t.registry.put('linux-alive0002', 'busy');
      t.engine.add('linux-alive0002');

      t.advance(3_600 * SEC);
      const report = await t.pass();

      expect(report.actions).toEqual([]);
      expect(t.jobs.waiting()).toEqual([]);
    });

    it('re-enqueues under the same id when a finished destroy job would swallow it', async () => {
      const t = setup();
      t.registry.put('linux-gone00002', 'idle');
      t.jobs.jobs.set(destroyRunnerJobId('linux-gone00002'), {
        state: 'completed',
        payload: {
          ...SS,
          scaleSetId: SS.id,
          scaleSetName: SS.name,
          runnerName: 'x',
          reason: 'operator',
        },
      });

      await t.pass();

      expect(t.jobs.waiting()).toEqual([{ runner: 'linux-gone00002', reason: 'compute-gone' }]);
    });
  });

  describe('startup-timeout', () => {
    it('destroys a runner still reserved past the timeout', async () => {
      const t = setup();
      t.registry.put('linux-resv00001', 'reserved');

      t.advance(599 * SEC);
      expect((await t.pass()).actions).toEqual([]);
      t.advance(2 * SEC);
      const report = await t.pass();

      expect(report.counts['startup-timeout']).toBe(1);
      expect(t.registry.state('linux-resv00001')).toBe('destroying');
      expect(t.jobs.waiting()).toEqual([{ runner: 'linux-resv00001', reason: 'startup-timeout' }]);
    });

    it('removes the registration of a runner killed after its JIT config (provisioning, no compute)', async () => {
      const t = setup();
      const ref = t.github.register('linux-jit000001', 'offline');
      t.registry.put('linux-jit000001', 'provisioning', { runnerId: ref.id });

      t.advance(601 * SEC);
      const report = await t.pass();

      expect(report.counts['startup-timeout']).toBe(1);
      expect(t.github.runners.has('linux-jit000001')).toBe(false);
      expect(t.registry.state('linux-jit000001')).toBe('destroying');
    });

    it('destroys an idle runner that never came online, registration first', async () => {
      const t = setup();
      t.registry.put('linux-never0001', 'idle', { engineId: 'c1' });
      t.engine.add('linux-never0001');
      t.github.register('linux-never0001', 'offline');
      t.registry.put('linux-never0002', 'idle', { engineId: 'c2' });
      t.engine.add('linux-never0002');

      t.advance(601 * SEC);
      const report = await t.pass();

      expect(report.counts['startup-timeout']).toBe(2);
      expect(t.github.runners.size).toBe(0);
      expect(t.registry.state('linux-never0001')).toBe('destroying');
      expect(t.registry.state('linux-never0002')).toBe('destroying');
    });

    it('keeps an idle runner online on GitHub, and one that took a job meanwhile', async () => {
      const t = setup();
      t.registry.put('linux-online001', 'idle');
      t.engine.add('linux-online001');
      t.github.register('linux-online001', 'online');
      t.registry.put('linux-justbusy1', 'idle');
      t.engine.add('linux-justbusy1');
      t.github.register('linux-justbusy1', 'online', true);

      t.advance(601 * SEC);
      const report = await t.pass();

      expect(report.actions).toEqual([]);
      expect(t.registry.state('linux-online001')).toBe('idle');
      expect(t.registry.state('linux-justbusy1')).toBe('idle');
    });
  });

  describe('adopted-compute', () => {
    it('adopts running compute of a provisioning entry when GitHub sees it, else destroys it', async () => {
      const t = setup();
      t.registry.put('linux-adopt0001', 'provisioning');
      const running = t.engine.add('linux-adopt0001');
      const ref = t.github.register('linux-adopt0001', 'online');
      t.registry.put('linux-adopt0002', 'provisioning');
      t.engine.add('linux-adopt0002');
      t.github.register('linux-adopt0002', 'offline');

      t.advance(601 * SEC);
      const report = await t.pass();

      expect(report.counts['adopted-compute']).toBe(1);
      expect(t.registry.entries.get('linux-adopt0001')).toMatchObject({
        state: 'idle',
        engineId: running.engineId,
        runnerId: ref.id,
      });
      expect(t.registry.state('linux-adopt0002')).toBe('destroying');
      expect(t.github.runners.has('linux-adopt0002')).toBe(false);
    });
  });

  describe('max-lifetime', () => {
    it('destroys old idle runners but never busy ones; 0 turns it off', async () => {
      const t = setup({ maxLifetimeMs: 3_600 * SEC });
      t.registry.put('linux-oldidle01', 'idle');
      t.engine.add('linux-oldidle01');
      t.github.register('linux-oldidle01', 'online');
      t.registry.put('linux-oldbusy01', 'busy');
      t.engine.add('linux-oldbusy01');
      t.github.register('linux-oldbusy01', 'online', true);

      t.advance(3_601 * SEC);
      const report = await t.pass();

      expect(report.counts['max-lifetime']).toBe(1);
      expect(t.registry.state('linux-oldidle01')).toBe('destroying');
      expect(t.jobs.waiting()).toEqual([{ runner: 'linux-oldidle01', reason: 'max-lifetime' }]);
      expect(t.registry.state('linux-oldbusy01')).toBe('busy');
      expect(t.engine.instances.has('linux-oldbusy01')).toBe(true);

      const off = setup({ maxLifetimeMs: 0 });
      off.registry.put('linux-oldidle02', 'idle');
      off.engine.add('linux-oldidle02');
      off.github.register('linux-oldidle02', 'online');
      off.advance(100 * 3_600 * SEC);
      expect((await off.pass()).actions).toEqual([]);
    });

    it('keeps an idle runner GitHub refuses to remove (its JobStarted is late)', async () => {
      const t = setup({ maxLifetimeMs: 3_600 * SEC });
      t.registry.put('linux-lagging01', 'idle');
      t.engine.add('linux-lagging01');
      t.github.register('linux-lagging01', 'online', true);

      t.advance(3_601 * SEC);
      const report = await t.pass();

      expect(report.counts['max-lifetime']).toBe(0);
      expect(report.actions).toEqual([
        expect.objectContaining({
          rule: 'max-lifetime',
          runner: 'linux-lagging01',
          action: 'kept',
        }),
      ]);
      expect(t.registry.state('linux-lagging01')).toBe('idle');
      expect(t.github.runners.has('linux-lagging01')).toBe(true);
    });
  });

  describe('stuck-destroying', () => {
    it('re-enqueues a destroy whose job is gone or failed, not one still pending', async () => {
      const t = setup();
      t.registry.put('linux-stuck0001', 'destroying', { reason: 'job-completed' });
      t.registry.put('linux-stuck0002', 'destroying', { reason: 'compute-gone' });
      t.jobs.jobs.set(destroyRunnerJobId('linux-stuck0002'), {
        state: 'failed',
        payload: {
          scaleSetId: SS.id,
          scaleSetName: SS.name,
          runnerName: 'linux-stuck0002',
          reason: 'compute-gone',
        },
      });
      t.registry.put('linux-stuck0003', 'destroying', { reason: 'job-completed' });
      t.jobs.jobs.set(destroyRunnerJobId('linux-stuck0003'), {
        state: 'delayed',
        payload: {
          scaleSetId: SS.id,
          scaleSetName: SS.name,
          runnerName: 'linux-stuck0003',
          reason: 'job-completed',
        },
      });

      expect((await t.pass()).actions).toEqual([]);
      t.advance(121 * SEC);
      const report = await t.pass();

      expect(report.counts['stuck-destroying']).toBe(2);
      expect(t.jobs.waiting().sort((a, b) => a.runner.localeCompare(b.runner))).toEqual([
        { runner: 'linux-stuck0001', reason: 'job-completed' },
        { runner: 'linux-stuck0002', reason: 'compute-gone' },
      ]);
      expect(t.jobs.jobs.get(destroyRunnerJobId('linux-stuck0003'))?.state).toBe('delayed');
    });

    it('maps recorded reasons to destroy reasons', () => {
      expect(destroyReasonOf('start-failed:IMAGE_NOT_FOUND')).toBe('start-failed');
      expect(destroyReasonOf('scale-down')).toBe('scale-down');
      expect(destroyReasonOf(undefined)).toBe('orphaned');
      expect(destroyReasonOf('something-else')).toBe('orphaned');
    });
  });

  describe('ghost-registration', () => {
    it('removes a registration of a name we knew once it has no entry and no compute', async () => {
      const t = setup();
      t.registry.put('linux-ghost0001', 'reserved');
      await t.pass(); // remembers the name
      t.registry.entries.delete('linux-ghost0001');
      t.registry.tombstones.add('linux-ghost0001');
      t.github.register('linux-ghost0001', 'offline');

      t.advance(121 * SEC);
      const report = await t.pass();

      expect(report.counts['ghost-registration']).toBe(1);
      expect(t.github.runners.has('linux-ghost0001')).toBe(false);
      expect(t.state.names.has('linux-ghost0001')).toBe(false);
    });

    it('waits for the grace, forgets names GitHub does not know, and keeps busy ones', async () => {
      const t = setup();
      await t.state.rememberNames(SS.id, ['linux-young0001'], T0);
      await t.state.rememberNames(SS.id, ['linux-gone00009', 'linux-busy00009'], T0 - 200 * SEC);
      t.github.register('linux-young0001', 'offline');
      t.github.register('linux-busy00009', 'online', true);

      const report = await t.pass();

      expect(report.counts['ghost-registration']).toBe(0);
      expect(t.github.runners.has('linux-young0001')).toBe(true);
      expect(t.github.runners.has('linux-busy00009')).toBe(true);
      expect([...t.state.names.keys()].sort()).toEqual(['linux-busy00009', 'linux-young0001']);
    });
  });

  describe('failed-cleanup', () => {
    it('moves failed entries to destroying and enqueues their destroy', async () => {
      const t = setup();
      t.registry.put('linux-failed001', 'failed', { reason: 'start-failed:IMAGE_NOT_FOUND' });

      const report = await t.pass();

      expect(report.counts['failed-cleanup']).toBe(1);
      expect(t.registry.entries.get('linux-failed001')).toMatchObject({
        state: 'destroying',
        reason: 'start-failed:IMAGE_NOT_FOUND',
      });
      expect(t.jobs.waiting()).toEqual([{ runner: 'linux-failed001', reason: 'start-failed' }]);
    });
  });

  describe('registry lost', () => {
    it('rebuilds entries from the engine and GitHub instead of destroying busy runners', async () => {
      const t = setup();
      t.state.marker = false;
      const busy = t.engine.add('linux-busy00001', 'running', { ageMs: 3_600 * SEC });
      const busyRef = t.github.register('linux-busy00001', 'online', true);
      t.engine.add('linux-idle00001', 'running', { ageMs: 3_600 * SEC });
      t.github.register('linux-idle00001', 'online');
      t.engine.add('linux-done00001', 'exited', { ageMs: 3_600 * SEC });

      const report = await t.pass();

      expect(report.rebuilt).toBe(true);
      expect(report.counts['registry-rebuilt']).toBe(2);
      expect(t.registry.entries.get('linux-busy00001')).toMatchObject({
        state: 'busy',
        engineId: busy.engineId,
        runnerId: busyRef.id,
      });
      expect(t.registry.state('linux-idle00001')).toBe('idle');
      expect(t.engine.instances.size).toBe(3);
      expect(t.state.marker).toBe(true);

      // Next period: the normal rules; the used runner goes, the busy one stays.
      t.advance(60 * SEC);
      const next = await t.pass();
      expect(next.rebuilt).toBe(false);
      expect(t.engine.instances.has('linux-done00001')).toBe(false);
      expect(t.engine.instances.has('linux-busy00001')).toBe(true);
      expect(t.registry.state('linux-busy00001')).toBe('busy');
    });

    it('treats entry-less compute as orphans when the registry was reconciled before', async () => {
      const t = setup();
      t.engine.add('linux-orphan0009', 'running', { ageMs: 3_600 * SEC });
      t.github.register('linux-orphan0009', 'online');

      const report = await t.pass();

      expect(report.rebuilt).toBe(false);
      expect(t.engine.instances.size).toBe(0);
    });
  });

  describe('failures', () => {
    it('reports a failed step and carries on with the other runners', async () => {
      const t = setup();
      t.registry.put('linux-never0009', 'idle');
      t.engine.add('linux-never0009');
      t.registry.put('linux-resv00009', 'reserved');
      t.github.failLookups = true;

      t.advance(601 * SEC);
      const report = await t.pass();

      expect(report.actions).toContainEqual(
        expect.objectContaining({ runner: 'linux-never0009', action: 'error' }),
      );
      expect(t.registry.state('linux-never0009')).toBe('idle');
      expect(t.registry.state('linux-resv00009')).toBe('destroying');
    });

    it('fails the pass without touching anything when the engine cannot be listed', async () => {
      const t = setup();
      t.registry.put('linux-idle00009', 'idle');
      t.engine.failList = true;

      await expect(t.pass()).rejects.toThrow('daemon down');
      expect(t.registry.state('linux-idle00009')).toBe('idle');
      expect(t.jobs.waiting()).toEqual([]);
    });
  });

  it('formats reports for `scaleset reconcile --once`', async () => {
    const t = setup();
    t.registry.put('linux-failed009', 'failed');
    const text = formatReconcileReport([await t.pass()]);
    expect(text).toBe(
      'linux (scale set 7): failed-cleanup=1\n  failed-cleanup linux-failed009: destroy-enqueued\n',
    );
    expect(formatReconcileReport([])).toBe('no scale set reconciled\n');
  });
});

import {
  EngineImageNotFoundError,
  EngineUnavailableError,
  type EngineInstance,
  type EngineRef,
  type EngineTarget,
  type RunnerSpec,
} from '@app/compute';
import type { DestroyReason } from '@app/queue';
import {
  IllegalTransitionError,
  RunnerNotFoundError as RegistryRunnerNotFoundError,
  isLegalTransition,
  type RunnerRecord,
  type RunnerState,
  type RunnerTransitionTarget,
  type TransitionOptions,
  type TransitionResult,
} from '@app/registry';
import {
  JobStillRunningError,
  RunnerExistsError,
  RunnerNotFoundError,
  ScaleSetApiError,
  type RunnerReference,
  type RunnerScaleSetJitRunnerConfig,
} from '@app/scaleset';
import { RunnerComputeExitedError, RunnerNameTakenError, RunnerStillBusyError } from './errors';
import { RunnerLifecycle } from './runner.lifecycle';
import type {
  RunnerCompute,
  RunnerComputeByScaleSet,
  RunnerRegistrations,
  RunnerStore,
  WorkerLogger,
} from './worker.ports';

// Hand-written fakes of the worker's ports (style.md 21): an in-memory registry that
// enforces the real lifecycle table, a GitHub that keeps registrations, and an engine that
// keeps containers. Tests assert on their state, never on calls.

const SCALE_SET = { scaleSetId: 7, scaleSetName: 'linux' };
const OTHER_SCALE_SET_ID = 8;

class FakeRegistry implements RunnerStore {
  readonly runners = new Map<string, RunnerRecord>();
  readonly tombstones = new Set<string>();

  reserve(name: string, state: RunnerState = 'reserved', extra: Partial<RunnerRecord> = {}): void {
    this.runners.set(name, {
      name,
      scaleSetId: SCALE_SET.scaleSetId,
      state,
      createdAt: 1,
      updatedAt: 1,
      stateChangedAt: 1,
      attempts: 0,
      ...extra,
    });
  }

  get(_scaleSetId: number, name: string): Promise<RunnerRecord | undefined> {
    return Promise.resolve(this.runners.get(name));
  }

  isTombstoned(_scaleSetId: number, name: string): Promise<boolean> {
    return Promise.resolve(this.tombstones.has(name));
  }

  transition(
    scaleSetId: number,
    name: string,
    to: RunnerTransitionTarget,
    options: TransitionOptions = {},
  ): Promise<TransitionResult> {
    const record = this.runners.get(name);
    if (record === undefined) {
      if (to === 'deleted' && this.tombstones.has(name)) {
        return Promise.resolve({ outcome: 'unchanged', from: 'deleted', to });
      }
      return Promise.reject(new RegistryRunnerNotFoundError(scaleSetId, name));
    }
    const from = record.state;
    const createdAt = record.createdAt;
    if (from === to) {
      return Promise.resolve({ outcome: 'unchanged', from, to, createdAt });
    }
    if (options.from !== undefined && !options.from.includes(from)) {
      return Promise.reject(new IllegalTransitionError(scaleSetId, name, from, to, options.from));
    }
    if (!isLegalTransition(from, to)) {
      return Promise.reject(new IllegalTransitionError(scaleSetId, name, from, to));
    }
    if (to === 'deleted') {
      this.runners.delete(name);
      this.tombstones.add(name);
    } else {
      this.runners.set(name, {
        ...record,
        state: to,
        attempts: record.attempts + (to === 'provisioning' ? 1 : 0),
        ...(options.engineId === undefined ? {} : { engineId: options.engineId }),
        ...(options.reason === undefined ? {} : { reason: options.reason }),
      });
    }
    return Promise.resolve({ outcome: 'applied', from, to, createdAt });
  }

  annotate(
    scaleSetId: number,
    name: string,
    fields: { engineId?: string; runnerId?: number },
  ): Promise<RunnerState> {
    const record = this.runners.get(name);
    if (record === undefined) {
      return Promise.reject(new RegistryRunnerNotFoundError(scaleSetId, name));
    }
    this.runners.set(name, { ...record, ...fields });
    return Promise.resolve(record.state);
  }

  state(name: string): RunnerState | 'deleted' | undefined {
    return this.runners.get(name)?.state ?? (this.tombstones.has(name) ? 'deleted' : undefined);
  }
}

function apiError<T extends ScaleSetApiError>(
  Ctor: new (ctx: ConstructorParameters<typeof ScaleSetApiError>[0]) => T,
  status: number,
  reason: string,
): T {
  return new Ctor({ method: 'POST', url: 'https://fake.test/x', path: '/x', status, reason });
}

interface Registration {
  id: number;
  name: string;
  scaleSetId: number;
  busy: boolean;
}

class FakeGitHub implements RunnerRegistrations {
  readonly registrations = new Map<string, Registration>();
  /** Every JIT config handed out, newest last. */
  readonly jitConfigs: string[] = [];
  readonly failNext: { generate: Error[]; remove: Error[] } = { generate: [], remove: [] };
  private nextId = 100;

  register(name: string, scaleSetId = SCALE_SET.scaleSetId, busy = false): Registration {
    const reg = { id: this.nextId++, name, scaleSetId, busy };
    this.registrations.set(name, reg);
    return reg;
  }

  generateJitRunnerConfig(
    scaleSetId: number,
    setting: { name: string },
  ): Promise<RunnerScaleSetJitRunnerConfig> {
    const injected = this.failNext.generate.shift();
    if (injected !== undefined) {
      return Promise.reject(injected);
    }
    if (this.registrations.has(setting.name)) {
      return Promise.reject(apiError(RunnerExistsError, 409, 'runner exists'));
    }
    const reg = this.register(setting.name, scaleSetId);
    const jit = `jit-secret-${reg.id}-${setting.name}`;
    this.jitConfigs.push(jit);
    const config = { runner: this.reference(reg) } as RunnerScaleSetJitRunnerConfig;
    Object.defineProperty(config, 'encodedJITConfig', { value: jit, enumerable: false });
    return Promise.resolve(config);
  }

  getRunnerByName(name: string): Promise<RunnerReference | null> {
    const reg = this.registrations.get(name);
    return Promise.resolve(reg === undefined ? null : this.reference(reg));
  }

  removeRunner(runnerId: number): Promise<void> {
    const injected = this.failNext.remove.shift();
    if (injected !== undefined) {
      return Promise.reject(injected);
    }
    const reg = [...this.registrations.values()].find((r) => r.id === runnerId);
    if (reg === undefined) {
      return Promise.reject(apiError(RunnerNotFoundError, 404, 'runner not found'));
    }
    if (reg.busy) {
      return Promise.reject(apiError(JobStillRunningError, 400, 'job still running'));
    }
    this.registrations.delete(reg.name);
    return Promise.resolve();
  }

  private reference(reg: Registration): RunnerReference {
    return { id: reg.id, name: reg.name, runnerScaleSetId: reg.scaleSetId };
  }
}

interface Container {
  engineId: string;
  state: EngineInstance['state'];
  jitConfig: string;
  exitCode?: number;
}

class FakeEngine implements RunnerCompute, RunnerComputeByScaleSet {
  readonly containers = new Map<string, Container>();
  readonly failNext: { start: Error[]; destroy: Error[] } = { start: [], destroy: [] };
  private nextId = 1;

  for(scaleSetName: string): RunnerCompute {
    if (scaleSetName !== SCALE_SET.scaleSetName) {
      throw new Error(`no engine for ${scaleSetName}`);
    }
    return this;
  }

  start(spec: RunnerSpec): Promise<EngineRef> {
    const injected = this.failNext.start.shift();
    if (injected !== undefined) {
      return Promise.reject(injected);
    }
    const existing = this.containers.get(spec.name);
    if (existing !== undefined && existing.state !== 'starting') {
      return Promise.resolve({ ...this.ref(spec.name, existing), adopted: true });
    }
    const container: Container = {
      engineId: `c${this.nextId++}`,
      state: 'running',
      jitConfig: spec.jitConfig,
    };
    this.containers.set(spec.name, container);
    return Promise.resolve({ ...this.ref(spec.name, container), adopted: false });
  }

  destroy(target: EngineTarget): Promise<void> {
    const injected = this.failNext.destroy.shift();
    if (injected !== undefined) {
      return Promise.reject(injected);
    }
    this.containers.delete(target.name);
    return Promise.resolve();
  }

  inspect(name: string): Promise<EngineInstance | null> {
    const c = this.containers.get(name);
    if (c === undefined) {
      return Promise.resolve(null);
    }
    return Promise.resolve({
      name,
      engineId: c.engineId,
      state: c.state,
      owner: 'deployment',
      scaleSetId: SCALE_SET.scaleSetId,
      scaleSetName: SCALE_SET.scaleSetName,
      runnerName: name,
      createdAt: new Date(0),
      labels: {},
      ...(c.exitCode === undefined ? {} : { exitCode: c.exitCode }),
    });
  }

  private ref(name: string, c: Container): Omit<EngineRef, 'adopted'> {
    return { name, engineId: c.engineId, state: c.state };
  }
}

class MemoryLogger implements WorkerLogger {
  readonly lines: string[] = [];
  debug(obj: object, msg: string): void {
    this.lines.push(JSON.stringify({ ...obj, msg }));
  }
  info(obj: object, msg: string): void {
    this.lines.push(JSON.stringify({ ...obj, msg }));
  }
  warn(obj: object, msg: string): void {
    this.lines.push(JSON.stringify({ ...obj, msg }));
  }
  error(obj: object, msg: string): void {
    this.lines.push(JSON.stringify({ ...obj, msg }));
  }
}

describe('RunnerLifecycle', () => {
  const NAME = 'linux-abcdefghij';
  let registry: FakeRegistry;
  let github: FakeGitHub;
  let engine: FakeEngine;
  let logger: MemoryLogger;
  let lifecycle: RunnerLifecycle;

  const start = { ...SCALE_SET, runnerName: NAME };
  const destroy = (reason: DestroyReason) => ({ ...SCALE_SET, runnerName: NAME, reason });

  beforeEach(() => {
    registry = new FakeRegistry();
    github = new FakeGitHub();
    engine = new FakeEngine();
    logger = new MemoryLogger();
    lifecycle = new RunnerLifecycle({ registry, github, compute: engine, logger });
  });

  afterEach(() => {
    // Guarantee 6: no JIT config ever reaches a log line.
    for (const jit of github.jitConfigs) {
      expect(logger.lines.join('\n')).not.toContain(jit);
    }
  });

  describe('startRunner', () => {
    it('registers the runner, starts its compute with the JIT config and marks it idle', async () => {
      registry.reserve(NAME);

      const result = await lifecycle.startRunner(start);

      const container = engine.containers.get(NAME);
      expect(result).toEqual({ outcome: 'started', engineId: container?.engineId });
      expect(container?.jitConfig).toBe(github.jitConfigs[0]);
      expect(registry.runners.get(NAME)).toMatchObject({
        state: 'idle',
        attempts: 1,
        engineId: container?.engineId,
        runnerId: github.registrations.get(NAME)?.id,
      });
    });

    it('adopts running compute left by an attempt that died after the engine call', async () => {
      const reg = github.register(NAME);
      engine.containers.set(NAME, { engineId: 'c-old', state: 'running', jitConfig: 'old' });
      registry.reserve(NAME, 'provisioning', { attempts: 1, runnerId: reg.id });

      const result = await lifecycle.startRunner(start);

      expect(result).toEqual({ outcome: 'adopted', engineId: 'c-old' });
      expect(engine.containers.size).toBe(1);
      expect(github.jitConfigs).toHaveLength(0);
      expect(github.registrations.get(NAME)?.id).toBe(reg.id);
      expect(registry.runners.get(NAME)).toMatchObject({ state: 'idle', engineId: 'c-old' });
    });

    it('replaces a registration left by an attempt that died before starting compute', async () => {
      const stale = github.register(NAME);
      registry.reserve(NAME, 'provisioning', { attempts: 1, runnerId: stale.id });

      const result = await lifecycle.startRunner(start);

      const fresh = github.registrations.get(NAME);
      expect(result.outcome).toBe('started');
      expect(fresh?.id).not.toBe(stale.id);
      expect(engine.containers.get(NAME)?.jitConfig).toBe(github.jitConfigs[0]);
      expect(registry.runners.get(NAME)).toMatchObject({ state: 'idle', runnerId: fresh?.id });
    });

    it('never removes a runner of another scale set that holds the name, and fails for good', async () => {
      const foreign = github.register(NAME, OTHER_SCALE_SET_ID);
      registry.reserve(NAME);

      await expect(lifecycle.startRunner(start)).rejects.toBeInstanceOf(RunnerNameTakenError);

      expect(github.registrations.get(NAME)).toEqual(foreign);
      expect(engine.containers.size).toBe(0);
      expect(registry.runners.get(NAME)).toMatchObject({
        state: 'failed',
        reason: 'start-failed:RunnerNameTakenError',
      });
    });

    it('on a permanent engine failure removes the registration, destroys compute and marks it failed', async () => {
      registry.reserve(NAME);
      engine.failNext.start.push(new EngineImageNotFoundError('img:1', 'pull policy is never'));

      await expect(lifecycle.startRunner(start)).rejects.toBeInstanceOf(EngineImageNotFoundError);

      expect(github.registrations.size).toBe(0);
      expect(engine.containers.size).toBe(0);
      expect(registry.runners.get(NAME)).toMatchObject({
        state: 'failed',
        reason: 'start-failed:IMAGE_NOT_FOUND',
      });
    });

    it('leaves a retryable failure for the next attempt, and cleans up on the last one', async () => {
      registry.reserve(NAME);
      const unavailable = new EngineUnavailableError('daemon down', { operation: 'create' });
      engine.failNext.start.push(unavailable);

      await expect(lifecycle.startRunner(start)).rejects.toBe(unavailable);
      expect(registry.runners.get(NAME)).toMatchObject({ state: 'provisioning' });
      expect(registry.runners.get(NAME)?.runnerId).toBe(github.registrations.get(NAME)?.id);

      engine.failNext.start.push(unavailable);
      await expect(lifecycle.startRunner(start, { lastAttempt: true })).rejects.toBe(unavailable);
      expect(github.registrations.size).toBe(0);
      expect(registry.runners.get(NAME)).toMatchObject({
        state: 'failed',
        reason: 'start-failed:UNAVAILABLE',
      });
    });

    it('does not clean up when the worker is shutting down', async () => {
      registry.reserve(NAME);
      engine.failNext.start.push(new EngineUnavailableError('aborted', { operation: 'create' }));
      const shutdown = new AbortController();
      shutdown.abort();

      await expect(
        lifecycle.startRunner(start, { lastAttempt: true, signal: shutdown.signal }),
      ).rejects.toBeInstanceOf(EngineUnavailableError);

      expect(registry.state(NAME)).toBe('provisioning');
      expect(github.registrations.has(NAME)).toBe(true);
    });

    it('never restarts compute whose runner already exited; it fails and is destroyed', async () => {
      registry.reserve(NAME, 'provisioning', { attempts: 1 });
      engine.containers.set(NAME, {
        engineId: 'c-used',
        state: 'exited',
        jitConfig: 'used',
        exitCode: 0,
      });

      await expect(lifecycle.startRunner(start)).rejects.toBeInstanceOf(RunnerComputeExitedError);

      expect(engine.containers.size).toBe(0);
      expect(registry.state(NAME)).toBe('failed');
    });

    it.each<[string, RunnerState | undefined]>([
      ['idle (a duplicate job)', 'idle'],
      ['busy', 'busy'],
      ['destroying', 'destroying'],
      ['failed', 'failed'],
      ['gone', undefined],
    ])('does nothing for a runner that is %s', async (_label, state) => {
      if (state !== undefined) {
        registry.reserve(NAME, state);
      }

      const result = await lifecycle.startRunner(start);

      expect(result).toEqual({ outcome: 'skipped', state: state ?? 'gone' });
      expect(engine.containers.size).toBe(0);
      expect(github.registrations.size).toBe(0);
      expect(registry.state(NAME)).toBe(state);
    });

    it('records the engine id when JobCompleted moved the runner on during the start', async () => {
      registry.reserve(NAME);
      const realStart = engine.start.bind(engine);
      engine.start = async (spec) => {
        const ref = await realStart(spec);
        await registry.transition(SCALE_SET.scaleSetId, NAME, 'destroying');
        return ref;
      };

      const result = await lifecycle.startRunner(start);

      expect(result.outcome).toBe('started');
      expect(registry.runners.get(NAME)).toMatchObject({
        state: 'destroying',
        engineId: engine.containers.get(NAME)?.engineId,
      });
    });
  });

  describe('destroyRunner', () => {
    function upRunner(state: RunnerState, busy = false): void {
      const reg = github.register(NAME, SCALE_SET.scaleSetId, busy);
      engine.containers.set(NAME, { engineId: 'c1', state: 'running', jitConfig: 'x' });
      registry.reserve(NAME, state, { engineId: 'c1', runnerId: reg.id });
    }

    it('after the job: destroys compute, removes the registration and deletes the entry', async () => {
      upRunner('destroying');

      await expect(lifecycle.destroyRunner(destroy('job-completed'))).resolves.toEqual({
        outcome: 'destroyed',
      });

      expect(engine.containers.size).toBe(0);
      expect(github.registrations.size).toBe(0);
      expect(registry.state(NAME)).toBe('deleted');
    });

    it('is idempotent: a duplicate finds the runner deleted, a missing container is fine', async () => {
      upRunner('busy');
      engine.containers.delete(NAME);

      await lifecycle.destroyRunner(destroy('job-completed'));
      const again = await lifecycle.destroyRunner(destroy('job-completed'));

      expect(again).toEqual({ outcome: 'already-deleted' });
      expect(registry.state(NAME)).toBe('deleted');
      expect(github.registrations.size).toBe(0);
    });

    it('waits for GitHub to let go of a runner whose job still runs, then finishes', async () => {
      upRunner('busy', true);

      const err = await lifecycle
        .destroyRunner(destroy('startup-timeout'))
        .catch((e: unknown) => e);

      expect(err).toBeInstanceOf(RunnerStillBusyError);
      expect((err as RunnerStillBusyError).retryAfterMs).toBe(30_000);
      expect(engine.containers.size).toBe(0);
      expect(registry.state(NAME)).toBe('destroying');

      const reg = github.registrations.get(NAME);
      if (reg !== undefined) {
        reg.busy = false;
      }
      await expect(lifecycle.destroyRunner(destroy('startup-timeout'))).resolves.toEqual({
        outcome: 'destroyed',
      });
      expect(github.registrations.size).toBe(0);
      expect(registry.state(NAME)).toBe('deleted');
    });

    it('cleans up a failed runner (registration already gone is fine)', async () => {
      upRunner('failed');
      github.registrations.clear();

      await lifecycle.destroyRunner(destroy('start-failed'));

      expect(engine.containers.size).toBe(0);
      expect(registry.state(NAME)).toBe('deleted');
    });

    it('cleans up compute and registration by name for a runner the registry does not know', async () => {
      github.register(NAME);
      engine.containers.set(NAME, { engineId: 'c9', state: 'exited', jitConfig: 'x' });

      await expect(lifecycle.destroyRunner(destroy('orphaned'))).resolves.toEqual({
        outcome: 'destroyed',
      });

      expect(engine.containers.size).toBe(0);
      expect(github.registrations.size).toBe(0);
    });

    describe('scale-down', () => {
      it('removes an idle runner: registration first, then compute and entry', async () => {
        upRunner('idle');

        await expect(lifecycle.destroyRunner(destroy('scale-down'))).resolves.toEqual({
          outcome: 'destroyed',
        });

        expect(github.registrations.size).toBe(0);
        expect(engine.containers.size).toBe(0);
        expect(registry.state(NAME)).toBe('deleted');
      });

      it('keeps a runner that picked up a job (GitHub answers JobStillRunning)', async () => {
        upRunner('idle', true);

        await expect(lifecycle.destroyRunner(destroy('scale-down'))).resolves.toEqual({
          outcome: 'kept',
          state: 'busy',
        });

        expect(engine.containers.get(NAME)?.state).toBe('running');
        expect(github.registrations.has(NAME)).toBe(true);
        expect(registry.state(NAME)).toBe('idle');
      });

      it.each<RunnerState>(['busy', 'reserved', 'provisioning'])(
        'keeps a runner that is %s',
        async (state) => {
          upRunner(state);

          await expect(lifecycle.destroyRunner(destroy('scale-down'))).resolves.toEqual({
            outcome: 'kept',
            state,
          });

          expect(engine.containers.size).toBe(1);
          expect(github.registrations.size).toBe(1);
          expect(registry.state(NAME)).toBe(state);
        },
      );

      it('finishes a scale-down an earlier attempt left in destroying', async () => {
        upRunner('destroying');
        github.registrations.clear();

        await lifecycle.destroyRunner(destroy('scale-down'));

        expect(engine.containers.size).toBe(0);
        expect(registry.state(NAME)).toBe('deleted');
      });

      it('propagates a GitHub failure without touching compute or state', async () => {
        upRunner('idle');
        github.failNext.remove.push(apiError(ScaleSetApiError, 503, 'unavailable'));

        await expect(lifecycle.destroyRunner(destroy('scale-down'))).rejects.toBeInstanceOf(
          ScaleSetApiError,
        );

        expect(engine.containers.size).toBe(1);
        expect(registry.state(NAME)).toBe('idle');
      });
    });
  });
});

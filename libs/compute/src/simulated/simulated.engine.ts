import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import {
  ComputeEngine,
  type EngineInstance,
  type EngineRef,
  type EngineState,
  type EngineTarget,
  type OwnerLabels,
  type RunnerSpec,
} from '../compute.engine';
import {
  EngineCapacityError,
  EngineConfigError,
  EngineNameConflictError,
  EngineTransientError,
} from '../errors';
import {
  assertRunnerSpec,
  buildRunnerLabels,
  matchesOwner,
  readRunnerLabels,
} from '../runner.labels';
import { decodeFakeJitConfig } from './fake-jit-config.codec';
import {
  runFakeRunner,
  type FakeRunnerOutcome,
  type RunFakeRunnerOptions,
} from './fake-runner.client';
import {
  SIMULATED_EVENTS_ENV,
  SimulatedEventLog,
  type SimulatedEventName,
} from './simulated.events';
import { assertSimulatedEngineOptions, type SimulatedEngineOptions } from './simulated.options';

// Same rule as Docker container names, so a name that works here works on the real engines.
const INSTANCE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/**
 * Exit codes of a simulated instance, the same as `fake-runner.sh` in a container uses, so a
 * simulated deployment and a Docker one with the fake runner image report the same codes.
 */
export const SIMULATED_EXIT_CODES = {
  /** The runner finished its job (or, with `runner: none`, its lifetime ran out). */
  done: 0,
  /** The JIT config is not one issued by the fake GitHub service. */
  badJitConfig: 65,
  /** The fake service refused the runner's online report or could not be reached. */
  notOnline: 69,
  /** The runner was removed, or the service went away, after it was online. */
  lost: 70,
} as const;

/** The log lines the simulated engine writes; Nest's `Logger` fits. */
export interface SimulatedEngineLogger {
  /** Something an operator should see: a JIT config the fake runner cannot use. */
  warn(message: string): void;
  /** Routine runner exits. */
  debug(message: string): void;
}

/** Runs one in-process fake runner; {@link runFakeRunner} unless a test gives another. */
export type FakeRunnerFn = (
  encodedJitConfig: string,
  options: RunFakeRunnerOptions,
) => Promise<FakeRunnerOutcome>;

/** Replaceable collaborators of {@link SimulatedEngine}, for tests and benchmarks. */
export interface SimulatedEngineDeps {
  /** Uniform numbers in [0, 1): latency jitter and injected failures. Default `Math.random`. */
  readonly random?: () => number;
  /** Epoch milliseconds, for `createdAt`. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * File the events are appended to; `null` records none. Default: the path in
   * `SCALESET_SIMULATED_EVENTS`, read when the engine is built.
   */
  readonly eventsPath?: string | null;
  /** Where log lines go. Default: Nest's `Logger` (the app's logger inside a Nest app). */
  readonly logger?: SimulatedEngineLogger;
  /** The fake runner (`runner: fake`). Default {@link runFakeRunner}. */
  readonly runFakeRunner?: FakeRunnerFn;
}

interface SimulatedInstance {
  readonly name: string;
  readonly engineId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAt: Date;
  state: EngineState;
  exitCode?: number;
  /** Stops the instance's runner task or lifetime timer when it is destroyed. */
  readonly stop: AbortController;
}

/**
 * A compute engine without compute: each runner is an entry in an in-memory table, created
 * and destroyed after configurable latencies, with injected failures and a capacity limit.
 * With `runner: fake` each instance runs an in-process fake runner against the fake GitHub
 * service named in its JIT config, so the rest of scaleset (listener, worker, registry,
 * reconciler) runs for real. For dry runs, capacity planning and benchmarks; see
 * docs/engines/simulated.md.
 *
 * The table lives in this object, so in practice in the worker process that built it: a
 * `list` or `inspect` in another process does not see these instances, and a `destroy`
 * there finds nothing and succeeds.
 */
export class SimulatedEngine extends ComputeEngine {
  override readonly kind = 'simulated' as const;

  /** Instances live in the worker process that started them; others cannot see them. */
  override readonly seesAllInstances = false;
  private readonly options: SimulatedEngineOptions;
  private readonly instances = new Map<string, SimulatedInstance>();
  private readonly lifetime = new AbortController();
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly log: SimulatedEngineLogger;
  private readonly runner: FakeRunnerFn;
  private readonly events: SimulatedEventLog | undefined;

  /** Validates `options` (throws {@link EngineConfigError}); nothing starts until `start`. */
  constructor(options: SimulatedEngineOptions, deps: SimulatedEngineDeps = {}) {
    super();
    assertSimulatedEngineOptions(options);
    this.options = { ...options };
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? Date.now;
    this.log = deps.logger ?? new Logger(SimulatedEngine.name);
    this.runner = deps.runFakeRunner ?? runFakeRunner;
    const eventsPath =
      deps.eventsPath === undefined ? process.env[SIMULATED_EVENTS_ENV] : deps.eventsPath;
    this.events =
      eventsPath === undefined || eventsPath === null || eventsPath === ''
        ? undefined
        : new SimulatedEventLog(eventsPath, (err) => {
            this.log.warn(
              `Cannot append simulated engine events to ${eventsPath} (${errorMessage(err)}); ` +
                `events are dropped. Check the path in ${SIMULATED_EVENTS_ENV}.`,
            );
          });
  }

  /** The options, as validated. */
  get config(): SimulatedEngineOptions {
    return this.options;
  }

  /**
   * Takes `start_latency` ± jitter, then adopts a live instance of that name, or fails
   * (`failure_rate`, retryable `SERVER_ERROR`; beyond `capacity`, retryable
   * `EngineCapacityError`), or records a new `running` instance and starts its runner. An
   * instance of that name that already exists is adopted at once, without the latency.
   * Draws two random numbers per new start: latency, then failure.
   */
  override async start(spec: RunnerSpec, signal?: AbortSignal): Promise<EngineRef> {
    this.record('start-call', spec.name);
    let started: { ref: EngineRef; created?: SimulatedInstance };
    try {
      started = await this.startInstance(spec, signal);
    } catch (err) {
      this.record('start-failed', spec.name);
      throw err;
    }
    this.record('started', spec.name);
    const { ref, created } = started;
    if (created === undefined) {
      return ref;
    }
    this.launch(created, spec.jitConfig);
    return { ...ref, state: created.state };
  }

  /**
   * Takes `destroy_latency` ± jitter, then stops the instance's runner and forgets the
   * instance. The latency applies even when the instance is not in this process: it stands
   * for the provider's delete call, and the instance may live in another worker process.
   */
  override async destroy(target: EngineTarget, signal?: AbortSignal): Promise<void> {
    this.assertName(target.name, 'target.name');
    this.record('destroy-call', target.name);
    await this.pause(this.latency(this.options.destroyLatencyMs), 'destroy', target.name, signal);
    const instance = this.instances.get(target.name);
    if (instance !== undefined) {
      this.instances.delete(target.name);
      instance.stop.abort();
    }
    this.record('destroyed', target.name);
  }

  override list(owner: OwnerLabels): Promise<EngineInstance[]> {
    return settle(() => {
      if (owner.owner === '') {
        throw new EngineConfigError('owner.owner', 'must not be empty', { engine: 'simulated' });
      }
      return [...this.instances.values()]
        .filter((instance) => matchesOwner(instance.labels, owner))
        .map((instance) => this.describe(instance));
    });
  }

  override inspect(name: string): Promise<EngineInstance | null> {
    return settle(() => {
      this.assertName(name, 'name');
      const instance = this.instances.get(name);
      return instance === undefined ? null : this.describe(instance);
    });
  }

  /** Aborts calls in flight and every runner, and writes the buffered events. */
  override async close(): Promise<void> {
    this.lifetime.abort();
    for (const instance of this.instances.values()) {
      instance.stop.abort();
    }
    await this.events?.close();
  }

  private async startInstance(
    spec: RunnerSpec,
    signal: AbortSignal | undefined,
  ): Promise<{ ref: EngineRef; created?: SimulatedInstance }> {
    this.assertSpec(spec);
    const existing = this.instances.get(spec.name);
    if (existing !== undefined) {
      return { ref: this.adopt(existing, spec) };
    }
    await this.pause(this.latency(this.options.startLatencyMs), 'start', spec.name, signal);
    const fails = this.random() < this.options.failureRate;
    // A concurrent start of the same name may have finished while this one waited.
    const raced = this.instances.get(spec.name);
    if (raced !== undefined) {
      return { ref: this.adopt(raced, spec) };
    }
    const context = { engine: 'simulated' as const, operation: 'start', resource: spec.name };
    if (fails) {
      throw new EngineTransientError(
        `Simulated start of ${spec.name} failed (injected by failure_rate ` +
          `${this.options.failureRate}); retryable.`,
        { ...context, code: 'SERVER_ERROR' },
      );
    }
    const { capacity } = this.options;
    const live = [...this.instances.values()].filter((i) => isLive(i.state)).length;
    if (capacity > 0 && live >= capacity) {
      throw new EngineCapacityError(
        `No simulated capacity for ${spec.name}: ${live} of ${capacity} instances are live ` +
          `(capacity). Retryable: capacity frees up as runners exit or are destroyed.`,
        [],
        context,
      );
    }
    const instance: SimulatedInstance = {
      name: spec.name,
      engineId: `sim-${process.pid}-${randomBytes(6).toString('hex')}`,
      labels: buildRunnerLabels(this.options.ownerId, spec),
      createdAt: new Date(this.now()),
      state: 'running',
      stop: new AbortController(),
    };
    this.instances.set(spec.name, instance);
    return {
      ref: { name: spec.name, engineId: instance.engineId, adopted: false, state: instance.state },
      created: instance,
    };
  }

  private adopt(existing: SimulatedInstance, spec: RunnerSpec): EngineRef {
    const labels = readRunnerLabels(existing.labels);
    if (labels?.runnerName !== spec.name || labels.scaleSetId !== spec.scaleSetId) {
      throw new EngineNameConflictError(
        spec.name,
        'it belongs to another runner or scale set of this deployment',
        { engine: 'simulated', operation: 'start' },
      );
    }
    return { name: spec.name, engineId: existing.engineId, adopted: true, state: existing.state };
  }

  /** Starts what runs "inside" the instance: the fake runner, or a lifetime timer. */
  private launch(instance: SimulatedInstance, jitConfig: string): void {
    const { signal } = instance.stop;
    if (this.options.runner === 'none') {
      const lifetime = this.options.runnerLifetimeMs;
      if (lifetime > 0) {
        const timer = setTimeout(() => {
          this.exit(instance, SIMULATED_EXIT_CODES.done);
        }, lifetime).unref();
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
        });
      }
      return;
    }
    try {
      decodeFakeJitConfig(jitConfig);
    } catch {
      // Like a runner container whose entrypoint rejects its config: it exits at once.
      this.log.warn(
        `Simulated runner ${instance.name} exited with code ${SIMULATED_EXIT_CODES.badJitConfig}: ` +
          `its JIT config was not issued by the fake GitHub service, which runner: fake needs. ` +
          `Point github.url at the fake service, or set engine.simulated.runner to none.`,
      );
      this.exit(instance, SIMULATED_EXIT_CODES.badJitConfig);
      return;
    }
    let online = false;
    this.runner(jitConfig, {
      signal,
      onOnline: () => {
        online = true;
        if (!signal.aborted) {
          this.record('runner-online', instance.name);
        }
      },
    }).then(
      () => {
        this.exit(instance, SIMULATED_EXIT_CODES.done);
      },
      (err: unknown) => {
        if (signal.aborted) {
          return;
        }
        const code = online ? SIMULATED_EXIT_CODES.lost : SIMULATED_EXIT_CODES.notOnline;
        const line = `Simulated runner ${instance.name} exited with code ${code}: ${errorMessage(err)}`;
        // Removed while waiting for a job is what a scale-down does; failing to come
        // online is not.
        if (online) {
          this.log.debug(line);
        } else {
          this.log.warn(line);
        }
        this.exit(instance, code);
      },
    );
  }

  /** The runner ended by itself; destroyed instances (aborted runners) stay forgotten. */
  private exit(instance: SimulatedInstance, exitCode: number): void {
    if (instance.stop.signal.aborted || instance.state === 'exited') {
      return;
    }
    instance.state = 'exited';
    instance.exitCode = exitCode;
    this.record('runner-exit', instance.name);
  }

  private describe(instance: SimulatedInstance): EngineInstance {
    const labels = readRunnerLabels(instance.labels);
    return {
      name: instance.name,
      engineId: instance.engineId,
      state: instance.state,
      owner: labels?.owner ?? this.options.ownerId,
      scaleSetId: labels?.scaleSetId ?? null,
      scaleSetName: labels?.scaleSetName ?? null,
      runnerName: labels?.runnerName ?? instance.name,
      createdAt: new Date(instance.createdAt),
      ...(instance.exitCode === undefined ? {} : { exitCode: instance.exitCode }),
      labels: { ...instance.labels },
    };
  }

  /** `base` varied uniformly by ± `jitter`; always draws one random number. */
  private latency(base: number): number {
    const r = this.random();
    return Math.max(0, base * (1 + this.options.jitter * (2 * r - 1)));
  }

  /** Waits `ms`, or fails with a retryable `ABORTED` when the caller or `close()` aborts. */
  private async pause(
    ms: number,
    operation: 'start' | 'destroy',
    resource: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const combined = AbortSignal.any([this.lifetime.signal, ...(signal ? [signal] : [])]);
    try {
      await sleep(ms, combined);
    } catch (cause) {
      throw new EngineTransientError(
        `Simulated ${operation} of ${resource} was aborted (caller cancelled or engine closed).`,
        { code: 'ABORTED', engine: 'simulated', operation, resource, cause },
      );
    }
  }

  private assertSpec(spec: RunnerSpec): void {
    this.assertName(spec.name, 'spec.name');
    assertRunnerSpec(spec, 'simulated');
  }

  private assertName(name: string, field: string): void {
    if (!INSTANCE_NAME.test(name)) {
      throw new EngineConfigError(
        field,
        'must be 1-128 characters of letters, digits, "_", "." or "-", starting with a letter or digit',
        { engine: 'simulated' },
      );
    }
  }

  private record(event: SimulatedEventName, name: string): void {
    this.events?.record(event, name);
  }
}

function isLive(state: EngineState): boolean {
  return state === 'starting' || state === 'running';
}

/** The message of an error; the fake runner's errors never carry the JIT config. */
function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs `fn` now; a throw becomes a rejection, as from any other engine call. */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise<T>((resolve) => {
    resolve(fn());
  });
}

/** Resolves after `ms` on the global timers (so jest's fake timers drive it); rejects on abort. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) {
    return Promise.reject(signal.reason as Error);
  }
  if (ms <= 0) {
    return Promise.resolve();
  }
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

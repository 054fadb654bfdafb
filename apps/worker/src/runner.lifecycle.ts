import type { DestroyRunnerPayload, StartRunnerPayload } from '@app/queue';
import {
  IllegalTransitionError,
  RunnerNotFoundError as RegistryRunnerNotFoundError,
  type RunnerRecord,
  type RunnerState,
} from '@app/registry';
import {
  JobStillRunningError,
  RunnerExistsError,
  RunnerNotFoundError as GitHubRunnerNotFoundError,
  type RunnerScaleSetJitRunnerConfig,
} from '@app/scaleset';
import { NOOP_TELEMETRY, TelemetryAttributes as A, type Telemetry } from '@app/telemetry';
import {
  RunnerComputeBusyError,
  RunnerComputeExitedError,
  RunnerNameTakenError,
  RunnerStillBusyError,
} from './errors';
import { classifyJobError, isPermanentJobError, usesAttempt } from './job-errors';
import type {
  RunnerComputeByScaleSet,
  RunnerRegistrations,
  RunnerStore,
  WorkerLogger,
} from './worker.ports';

/** How long a destroy waits before asking GitHub again when the runner's job still runs (ARC: 30 s). */
export const DEFAULT_BUSY_RETRY_MS = 30_000;

/** What {@link RunnerLifecycle} works with. */
export interface RunnerLifecycleDeps {
  readonly registry: RunnerStore;
  readonly github: RunnerRegistrations;
  readonly compute: RunnerComputeByScaleSet;
  readonly logger: WorkerLogger;
  /** Clock for durations in logs; default `Date.now`. */
  readonly now?: () => number;
  /** Delay before a destroy retries a runner GitHub still reports busy. */
  readonly busyRetryMs?: number;
  /** Runner metrics (started, destroyed, startup duration); default no-op. */
  readonly telemetry?: Telemetry;
}

/** Options of {@link RunnerLifecycle.startRunner}. */
export interface StartRunnerOptions {
  /**
   * This is the job's last attempt: a retryable failure is final too, so the partial runner
   * is cleaned up and marked `failed` before the error goes back to BullMQ.
   */
  readonly lastAttempt?: boolean;
  /** Aborts GitHub and engine calls (worker shutdown). */
  readonly signal?: AbortSignal;
}

/** Options of {@link RunnerLifecycle.destroyRunner}. */
export interface DestroyRunnerOptions {
  readonly signal?: AbortSignal;
}

/**
 * What a start did: `started` (new compute), `adopted` (compute a previous attempt had
 * started), or `skipped` (nothing to do: the runner is gone or already past provisioning).
 */
export type StartResult =
  ProvisionResult | { readonly outcome: 'skipped'; readonly state: RunnerState | 'gone' };

/** A start that left the runner with running compute. */
export interface ProvisionResult {
  readonly outcome: 'started' | 'adopted';
  readonly engineId: string;
}

/**
 * What a destroy did: `destroyed` (compute, registration and entry removed), `already-deleted`
 * (a duplicate), or `kept` (a scale-down found the runner busy or not up yet).
 */
export type DestroyResult =
  | { readonly outcome: 'destroyed' | 'already-deleted' }
  | { readonly outcome: 'kept'; readonly state: RunnerState };

type RunnerRef = Pick<StartRunnerPayload, 'scaleSetId' | 'scaleSetName' | 'runnerName'>;

/**
 * The worker's runner lifecycle (design brief, "Worker jobs"): provisions reserved runners and
 * destroys runners, talking to the registry, GitHub and the compute engine through narrow
 * ports. Every method is idempotent: a duplicate or retried job finds the work done, or
 * finishes what a previous attempt (perhaps in a worker that died) started. Registry writes
 * carry no epoch (a worker is not a leader); each is guarded by a `from:` list instead.
 *
 * The JIT config is generated here, right before the engine call, and goes nowhere else: not
 * into Redis, job data, logs or errors.
 */
export class RunnerLifecycle {
  private readonly registry: RunnerStore;
  private readonly github: RunnerRegistrations;
  private readonly compute: RunnerComputeByScaleSet;
  private readonly log: WorkerLogger;
  private readonly now: () => number;
  private readonly busyRetryMs: number;
  private readonly telemetry: Telemetry;

  constructor(deps: RunnerLifecycleDeps) {
    this.telemetry = deps.telemetry ?? NOOP_TELEMETRY;
    this.registry = deps.registry;
    this.github = deps.github;
    this.compute = deps.compute;
    this.log = deps.logger;
    this.now = deps.now ?? Date.now;
    this.busyRetryMs = deps.busyRetryMs ?? DEFAULT_BUSY_RETRY_MS;
  }

  /**
   * `start-runner`: reserved → provisioning → (JIT config, engine start) → idle. Adopts
   * compute a previous attempt already started. On a permanent failure, or any failure on the
   * last attempt, removes the registration, destroys partial compute and marks the runner
   * `failed` (which frees its slot), then rethrows for the BullMQ mapping.
   */
  async startRunner(
    payload: StartRunnerPayload,
    options: StartRunnerOptions = {},
  ): Promise<StartResult> {
    const { scaleSetId, runnerName } = payload;
    const ctx = { scaleSetId, runner: runnerName };
    const started = this.now();
    // No read first: the guarded move refuses a runner that is not waiting to be started
    // (illegal from its state, or gone), and returns its reserve time for the metric.
    let createdAt: number | undefined;
    try {
      ({ createdAt } = await this.registry.transition(scaleSetId, runnerName, 'provisioning', {
        from: ['reserved', 'provisioning'],
      }));
    } catch (err) {
      if (err instanceof IllegalTransitionError || err instanceof RegistryRunnerNotFoundError) {
        // Not waiting to be started: a scale-down, timeout or destroy moved it on, or it is
        // already up (a duplicate or retried job).
        const state = err instanceof IllegalTransitionError ? err.from : 'gone';
        this.log.info({ ...ctx, state }, 'start skipped: the runner is not waiting to be started');
        return { outcome: 'skipped', state };
      }
      throw err;
    }
    try {
      const result = await this.provision(payload, options.signal);
      const labels = { [A.labelScaleSet]: payload.scaleSetName };
      this.telemetry.meter.counter('runnersStarted').add(1, labels);
      // Reserved (by the listener, Redis clock) to idle.
      if (createdAt !== undefined) {
        this.telemetry.meter
          .histogram('runnerStartupDuration')
          .record(Math.max(0, this.now() - createdAt) / 1000, labels);
      }
      this.log.info(
        { ...ctx, outcome: result.outcome, engineId: result.engineId, ms: this.now() - started },
        result.outcome === 'adopted' ? 'runner adopted' : 'runner started',
      );
      return result;
    } catch (err) {
      // Never on shutdown: an aborted call says nothing about the runner.
      const final = isPermanentJobError(err) || (options.lastAttempt === true && usesAttempt(err));
      if (final && options.signal?.aborted !== true) {
        await this.failStart(payload, err, options.signal);
      }
      throw err;
    }
  }

  /**
   * `destroy-runner`. For `scale-down` the runner must still be idle and its GitHub
   * registration is removed first: GitHub refuses while a job runs, and then the runner is
   * kept (its `JobStarted` marks it busy). For every other reason: → destroying, destroy the
   * compute (missing is fine), remove the registration (missing is fine; a job still running
   * is retried later), → deleted (tombstone). Compute is always removed, never just stopped.
   */
  async destroyRunner(
    payload: DestroyRunnerPayload,
    options: DestroyRunnerOptions = {},
  ): Promise<DestroyResult> {
    const { scaleSetId, runnerName, reason } = payload;
    const ctx = { scaleSetId, runner: runnerName, reason };
    const started = this.now();
    const record = await this.registry.get(scaleSetId, runnerName);
    let result: DestroyResult;
    if (record === undefined) {
      if (await this.registry.isTombstoned(scaleSetId, runnerName)) {
        this.log.info(ctx, 'destroy skipped: the runner is already deleted');
        return { outcome: 'already-deleted' };
      }
      result = await this.destroyUnknown(payload, options.signal);
    } else if (reason === 'scale-down') {
      result = await this.scaleDown(payload, record, options.signal);
    } else {
      result = await this.destroy(payload, record, options.signal);
    }
    if (result.outcome === 'destroyed') {
      this.telemetry.meter
        .counter('runnersDestroyed')
        .add(1, { [A.labelScaleSet]: payload.scaleSetName, [A.labelReason]: reason });
    }
    this.log.info(
      { ...ctx, outcome: result.outcome, ms: this.now() - started },
      result.outcome === 'kept' ? 'runner kept' : 'runner destroyed',
    );
    return result;
  }

  private async provision(
    payload: StartRunnerPayload,
    signal?: AbortSignal,
  ): Promise<ProvisionResult> {
    const { scaleSetId, scaleSetName, runnerName } = payload;
    const engine = this.compute.for(scaleSetName);
    const existing = await engine.inspect(runnerName, signal);
    if (existing !== null) {
      switch (existing.state) {
        case 'running':
          // A previous attempt died after the engine call: adopt, never start a second one.
          await this.markIdle(payload, existing.engineId);
          return { outcome: 'adopted', engineId: existing.engineId };
        case 'exited':
          throw new RunnerComputeExitedError(runnerName, existing.exitCode);
        case 'stopping':
          throw new RunnerComputeBusyError(runnerName, existing.state);
        case 'starting':
        case 'gone':
          // Created but never started, or on its way out: a fresh JIT config below; the
          // engine replaces a created container that holds another config.
          break;
      }
    }
    const jit = await this.registerRunner(payload, signal);
    // Recorded before the engine call, so a failed start can still remove the registration.
    await this.registry.annotate(scaleSetId, runnerName, { runnerId: jit.runner.id });
    const ref = await engine.start(
      { name: runnerName, jitConfig: jit.encodedJITConfig, scaleSetId, scaleSetName },
      signal,
    );
    if (ref.state === 'exited') {
      throw new RunnerComputeExitedError(runnerName, undefined);
    }
    await this.markIdle(payload, ref.engineId);
    return { outcome: ref.adopted ? 'adopted' : 'started', engineId: ref.engineId };
  }

  /** Generates the JIT config; a registration left by a dead attempt is removed first. */
  private async registerRunner(
    payload: RunnerRef,
    signal?: AbortSignal,
  ): Promise<RunnerScaleSetJitRunnerConfig> {
    const { scaleSetId, runnerName } = payload;
    try {
      return await this.github.generateJitRunnerConfig(scaleSetId, { name: runnerName }, signal);
    } catch (err) {
      if (!(err instanceof RunnerExistsError)) {
        throw err;
      }
    }
    // A previous attempt registered the name but died before its compute ran; that JIT config
    // is lost (it was never stored), so the registration is useless: replace it.
    const existing = await this.github.getRunnerByName(runnerName, signal);
    if (existing !== null) {
      if (existing.runnerScaleSetId !== scaleSetId) {
        throw new RunnerNameTakenError(runnerName, scaleSetId, existing.runnerScaleSetId);
      }
      await this.removeRunnerId(existing.id, signal);
      this.log.info(
        { scaleSetId, runner: runnerName, runnerId: existing.id },
        'removed a registration left by an earlier start attempt',
      );
    }
    return this.github.generateJitRunnerConfig(scaleSetId, { name: runnerName }, signal);
  }

  private async markIdle(payload: RunnerRef, engineId: string): Promise<void> {
    const { scaleSetId, runnerName } = payload;
    try {
      await this.registry.transition(scaleSetId, runnerName, 'idle', {
        from: ['provisioning'],
        engineId,
      });
    } catch (err) {
      if (!(err instanceof IllegalTransitionError)) {
        throw err;
      }
      // JobStarted (busy) or a destroy won the race; the engine id is still worth keeping.
      this.log.info(
        { scaleSetId, runner: runnerName, state: err.from },
        'runner moved on while starting; engine id recorded',
      );
      await this.ignoreNotFound(this.registry.annotate(scaleSetId, runnerName, { engineId }));
    }
  }

  private async failStart(
    payload: StartRunnerPayload,
    cause: unknown,
    signal?: AbortSignal,
  ): Promise<void> {
    const { scaleSetId, scaleSetName, runnerName } = payload;
    const ctx = { scaleSetId, runner: runnerName };
    const reason = `start-failed:${classifyJobError(cause).code}`;
    this.log.warn({ ...ctx, err: cause, reason }, 'start failed for good; cleaning up');
    // Best effort, each step on its own: whatever is left is the reconciler's (guarantee 5).
    await this.bestEffort(ctx, 'remove the registration', async () => {
      const record = await this.registry.get(scaleSetId, runnerName);
      await this.removeRegistration(payload, record?.runnerId, signal);
    });
    await this.bestEffort(ctx, 'destroy the compute', () =>
      this.compute.for(scaleSetName).destroy({ name: runnerName }, signal),
    );
    await this.bestEffort(ctx, 'mark the runner failed', async () => {
      try {
        await this.registry.transition(scaleSetId, runnerName, 'failed', {
          from: ['reserved', 'provisioning', 'idle'],
          reason,
        });
      } catch (err) {
        if (!(
          err instanceof IllegalTransitionError || err instanceof RegistryRunnerNotFoundError
        )) {
          throw err;
        }
        // Already moved on (busy, destroying, deleted): that path owns the runner now.
      }
    });
  }

  private async scaleDown(
    payload: DestroyRunnerPayload,
    record: RunnerRecord,
    signal?: AbortSignal,
  ): Promise<DestroyResult> {
    const { scaleSetId, runnerName } = payload;
    const ctx = { scaleSetId, runner: runnerName };
    switch (record.state) {
      case 'idle':
        break;
      case 'destroying':
      case 'failed':
        // Already leaving (perhaps an earlier attempt of this job removed the registration and
        // died): finishing the destroy is safe.
        return this.destroy(payload, record, signal);
      case 'reserved':
      case 'provisioning':
      case 'busy':
        this.log.info({ ...ctx, state: record.state }, 'scale-down skipped: runner is not idle');
        return { outcome: 'kept', state: record.state };
    }
    // Registration first: GitHub refuses to remove a runner that has a job, which is the only
    // reliable busy check (field lessons 7); the registry's idle may be seconds old.
    try {
      await this.removeRegistration(payload, record.runnerId, signal);
    } catch (err) {
      if (err instanceof JobStillRunningError) {
        this.log.info(ctx, 'scale-down skipped: the runner picked up a job');
        return { outcome: 'kept', state: 'busy' };
      }
      throw err;
    }
    try {
      await this.registry.transition(scaleSetId, runnerName, 'destroying', {
        from: ['idle'],
        reason: 'scale-down',
      });
    } catch (err) {
      if (err instanceof RegistryRunnerNotFoundError) {
        return { outcome: 'already-deleted' };
      }
      if (!(err instanceof IllegalTransitionError)) {
        throw err;
      }
      if (err.from !== 'destroying' && err.from !== 'failed') {
        this.log.warn(
          { ...ctx, state: err.from },
          'scale-down: registration removed but the runner is no longer idle; left to its job',
        );
        return { outcome: 'kept', state: err.from };
      }
    }
    await this.compute.for(payload.scaleSetName).destroy(
      {
        name: runnerName,
        ...(record.engineId === undefined ? {} : { engineId: record.engineId }),
      },
      signal,
    );
    await this.markDeleted(payload);
    return { outcome: 'destroyed' };
  }

  private async destroy(
    payload: DestroyRunnerPayload,
    record: RunnerRecord,
    signal?: AbortSignal,
  ): Promise<DestroyResult> {
    const { scaleSetId, scaleSetName, runnerName, reason } = payload;
    if (record.state !== 'destroying') {
      try {
        await this.registry.transition(scaleSetId, runnerName, 'destroying', {
          from: ['reserved', 'provisioning', 'idle', 'busy', 'failed'],
          reason,
        });
      } catch (err) {
        if (err instanceof RegistryRunnerNotFoundError) {
          return { outcome: 'already-deleted' };
        }
        // Anything else moved it to destroying in the meantime; carry on.
        if (!(err instanceof IllegalTransitionError && err.from === 'destroying')) {
          throw err;
        }
      }
    }
    await this.compute.for(scaleSetName).destroy(
      {
        name: runnerName,
        ...(record.engineId === undefined ? {} : { engineId: record.engineId }),
      },
      signal,
    );
    await this.removeRegistrationOrWait(payload, record.runnerId, signal);
    await this.markDeleted(payload);
    return { outcome: 'destroyed' };
  }

  /** A destroy for a runner the registry never had or lost: clean up by name. */
  private async destroyUnknown(
    payload: DestroyRunnerPayload,
    signal?: AbortSignal,
  ): Promise<DestroyResult> {
    await this.compute.for(payload.scaleSetName).destroy({ name: payload.runnerName }, signal);
    await this.removeRegistrationOrWait(payload, undefined, signal);
    return { outcome: 'destroyed' };
  }

  private async removeRegistrationOrWait(
    payload: RunnerRef,
    runnerId: number | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await this.removeRegistration(payload, runnerId, signal);
    } catch (err) {
      if (err instanceof JobStillRunningError) {
        // The compute is gone already; GitHub lets go of the runner once it notices.
        throw new RunnerStillBusyError(payload.runnerName, runnerId ?? 0, this.busyRetryMs, {
          cause: err,
        });
      }
      throw err;
    }
  }

  /**
   * Removes the runner's GitHub registration, found by id or else by name (only within this
   * scale set). Missing is success; `JobStillRunningError` goes to the caller.
   */
  private async removeRegistration(
    payload: RunnerRef,
    runnerId: number | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    let id = runnerId;
    if (id === undefined) {
      const found = await this.github.getRunnerByName(payload.runnerName, signal);
      if (found === null || found.runnerScaleSetId !== payload.scaleSetId) {
        return;
      }
      id = found.id;
    }
    await this.removeRunnerId(id, signal);
  }

  private async removeRunnerId(runnerId: number, signal?: AbortSignal): Promise<void> {
    try {
      await this.github.removeRunner(runnerId, signal);
    } catch (err) {
      if (!(err instanceof GitHubRunnerNotFoundError)) {
        throw err;
      }
    }
  }

  private async markDeleted(payload: RunnerRef): Promise<void> {
    await this.ignoreNotFound(
      this.registry.transition(payload.scaleSetId, payload.runnerName, 'deleted', {
        from: ['destroying'],
      }),
    );
  }

  private async ignoreNotFound(call: Promise<unknown>): Promise<void> {
    try {
      await call;
    } catch (err) {
      if (!(err instanceof RegistryRunnerNotFoundError)) {
        throw err;
      }
    }
  }

  private async bestEffort(
    ctx: Record<string, unknown>,
    step: string,
    run: () => Promise<void>,
  ): Promise<void> {
    try {
      await run();
    } catch (err) {
      this.log.warn({ ...ctx, err, step }, `start clean-up could not ${step}; the reconciler will`);
    }
  }
}

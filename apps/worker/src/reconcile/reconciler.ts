import type { EngineInstance } from '@app/compute';
import { DESTROY_REASONS, type DestroyReason } from '@app/queue';
import {
  IllegalTransitionError,
  RunnerNotFoundError as RegistryRunnerNotFoundError,
  isValidRunnerName,
  type RunnerRecord,
  type RunnerState,
} from '@app/registry';
import {
  JobStillRunningError,
  RunnerNotFoundError as GitHubRunnerNotFoundError,
  type RunnerReference,
} from '@app/scaleset';
import type {
  ReconcileClock,
  ReconcileEngine,
  ReconcileEngines,
  ReconcileGitHub,
  ReconcileJobs,
  ReconcileLogger,
  ReconcileRegistry,
  ReconcileState,
} from './reconcile.ports';

/**
 * The reconciler's rules; each action it takes carries one of these reason codes.
 * - `orphaned-compute`: our labelled resource, no registry entry, older than the orphan grace.
 * - `compute-gone`: a live runner whose compute is missing or exited.
 * - `startup-timeout`: reserved/provisioning too long, or idle but not online on GitHub.
 * - `max-lifetime`: alive longer than `maxLifetimeMs` and not busy.
 * - `stuck-destroying`: in `destroying` too long with no destroy job pending.
 * - `ghost-registration`: registered on GitHub, no entry, no compute.
 * - `failed-cleanup`: a `failed` entry is cleaned up and deleted.
 * - `adopted-compute`: a `provisioning` entry whose compute runs and is online is moved to idle.
 * - `registry-rebuilt`: the registry was lost; an entry was re-created from the engine's labels.
 */
export const RECONCILE_RULES = [
  'orphaned-compute',
  'compute-gone',
  'startup-timeout',
  'max-lifetime',
  'stuck-destroying',
  'ghost-registration',
  'failed-cleanup',
  'adopted-compute',
  'registry-rebuilt',
] as const;

/** A reconcile rule (reason code). */
export type ReconcileRule = (typeof RECONCILE_RULES)[number];

/**
 * What was done to one runner: `destroy-enqueued` (moved to destroying, `destroy-runner`
 * enqueued), `destroyed` (compute removed directly), `registration-removed`, `adopted`
 * (provisioning → idle), `restored` (entry re-created), `kept` (the rule matched but the
 * runner was left alone, e.g. GitHub says it is busy) and `error` (the step failed; the next
 * pass tries again). Only the first five count in {@link ReconcileReport.counts}.
 */
export type ReconcileActionKind =
  | 'destroy-enqueued'
  | 'destroyed'
  | 'registration-removed'
  | 'adopted'
  | 'restored'
  | 'kept'
  | 'error';

/** One action of a pass. `detail` is a short, secret-free explanation. */
export interface ReconcileAction {
  readonly rule: ReconcileRule;
  readonly runner: string;
  readonly action: ReconcileActionKind;
  readonly detail: string;
}

/** What one pass over one scale set did. */
export interface ReconcileReport {
  readonly scaleSetId: number;
  readonly scaleSetName: string;
  /** The registry was found lost and rebuilt in this pass (the other rules were skipped). */
  readonly rebuilt: boolean;
  /** Pass start, epoch ms (the reconciler's clock). */
  readonly at: number;
  readonly durationMs: number;
  readonly actions: readonly ReconcileAction[];
  /** Actions per rule that changed something (`kept` and `error` are not counted). */
  readonly counts: Readonly<Record<ReconcileRule, number>>;
}

/** Durations and identity the rules work with (from `config.reconcile` and `deployment.id`). */
export interface ReconcileSettings {
  /** The owner label value of this deployment's resources. */
  readonly owner: string;
  readonly orphanGraceMs: number;
  readonly startupTimeoutMs: number;
  /** 0 = off. */
  readonly maxLifetimeMs: number;
  /** How long an entry may sit in `destroying` with no destroy job before it is re-enqueued. */
  readonly stuckDestroyingMs: number;
  /** At most this many GitHub runner look-ups per pass (rate limits); the rest wait. Default 100. */
  readonly maxGitHubLookups?: number;
}

/** What {@link Reconciler} works with. */
export interface ReconcilerDeps {
  readonly registry: ReconcileRegistry;
  readonly github: ReconcileGitHub;
  readonly engines: ReconcileEngines;
  readonly jobs: ReconcileJobs;
  readonly state: ReconcileState;
  readonly clock: ReconcileClock;
  readonly logger: ReconcileLogger;
  readonly settings: ReconcileSettings;
  /** Wall clock for the pass duration only; default `Date.now`. */
  readonly elapsed?: () => number;
}

/** The scale set a pass is for. */
export interface ReconcileTarget {
  readonly id: number;
  readonly name: string;
}

/** Options of one pass. */
export interface ReconcileOptions {
  /** Aborts GitHub and engine calls (worker shutdown). */
  readonly signal?: AbortSignal;
}

/** The default {@link ReconcileSettings.maxGitHubLookups}. */
export const DEFAULT_MAX_GITHUB_LOOKUPS = 100;

const LIVE_COMPUTE: ReadonlySet<EngineInstance['state']> = new Set(['starting', 'running']);
const DEAD_COMPUTE: ReadonlySet<EngineInstance['state']> = new Set(['exited', 'gone']);

/** GitHub's answer about one name: ours (in this scale set), absent, or not asked (budget). */
type Lookup =
  | { readonly kind: 'registered'; readonly runner: RunnerReference }
  | { readonly kind: 'absent' }
  | { readonly kind: 'deferred' };

/** State of one pass. */
class Pass {
  readonly actions: ReconcileAction[] = [];
  lookups = 0;
  deferred = 0;

  constructor(
    readonly scaleSet: ReconcileTarget,
    readonly now: number,
    readonly engine: ReconcileEngine,
    readonly signal: AbortSignal | undefined,
  ) {}
}

/**
 * The reconciler (design brief guarantee 5): compares the registry, GitHub and the engine's
 * labelled resources of one scale set and repairs what drifted, after grace periods. Every
 * action is idempotent and guarded: registry moves carry a `from:` list, destroys go through
 * the deterministic `destroy-<runner>` job, and anything that might still run a job is asked
 * of GitHub first (a registration GitHub refuses to remove is busy, and is kept).
 *
 * Order matters: the registry is read before the engine, so a runner that is idle in the
 * registry had its compute started before the engine list was taken.
 */
export class Reconciler {
  private readonly registry: ReconcileRegistry;
  private readonly github: ReconcileGitHub;
  private readonly engines: ReconcileEngines;
  private readonly jobs: ReconcileJobs;
  private readonly state: ReconcileState;
  private readonly clock: ReconcileClock;
  private readonly log: ReconcileLogger;
  private readonly settings: ReconcileSettings;
  private readonly elapsed: () => number;
  private readonly maxLookups: number;

  constructor(deps: ReconcilerDeps) {
    this.registry = deps.registry;
    this.github = deps.github;
    this.engines = deps.engines;
    this.jobs = deps.jobs;
    this.state = deps.state;
    this.clock = deps.clock;
    this.log = deps.logger;
    this.settings = deps.settings;
    this.elapsed = deps.elapsed ?? Date.now;
    this.maxLookups = deps.settings.maxGitHubLookups ?? DEFAULT_MAX_GITHUB_LOOKUPS;
  }

  /**
   * One pass over one scale set. Fails as a whole only when a view cannot be read (registry,
   * engine list): concluding "compute gone" from a failed list would destroy healthy runners.
   * A failing step for one runner is reported as an `error` action and retried next pass.
   */
  async reconcile(
    scaleSet: ReconcileTarget,
    options: ReconcileOptions = {},
  ): Promise<ReconcileReport> {
    const started = this.elapsed();
    const now = await this.clock();
    const engine = this.engines.for(scaleSet.name);
    const pass = new Pass(scaleSet, now, engine, options.signal);

    const records = await this.registry.list(scaleSet.id);
    const instances = (
      await engine.list({ owner: this.settings.owner, scaleSetId: scaleSet.id }, options.signal)
    ).filter((i) => i.owner === this.settings.owner && i.scaleSetId === scaleSet.id);
    const marked = await this.state.hasMarker(scaleSet.id);

    let rebuilt = false;
    if (!marked && records.length === 0 && instances.length > 0) {
      // No entry, no marker, yet our compute runs: Redis lost its data (FLUSHALL, a new
      // instance). Destroying "orphans" now would kill runners in the middle of their jobs.
      await this.rebuild(pass, instances);
      rebuilt = true;
    } else {
      await this.rememberNames(scaleSet.id, records, instances, now);
      const byName = new Map(instances.map((i) => [i.runnerName, i]));
      for (const record of records) {
        await this.checkRecord(pass, record, byName.get(record.name));
      }
      const known = new Set(records.map((r) => r.name));
      for (const instance of instances) {
        if (!known.has(instance.runnerName)) {
          await this.checkOrphan(pass, instance);
        }
      }
      await this.checkGhosts(pass, known, new Set(byName.keys()));
    }
    if (!marked) {
      await this.state.setMarker(scaleSet.id);
    }
    if (pass.deferred > 0) {
      this.log.info(
        { scaleSetId: scaleSet.id, deferred: pass.deferred, lookups: pass.lookups },
        'reconcile: GitHub look-up budget used up; the remaining checks wait for the next pass',
      );
    }
    return this.report(pass, rebuilt, started);
  }

  // ---- registry entries -------------------------------------------------------------------

  private async checkRecord(
    pass: Pass,
    record: RunnerRecord,
    instance: EngineInstance | undefined,
  ): Promise<void> {
    const { now } = pass;
    const { startupTimeoutMs, stuckDestroyingMs } = this.settings;
    const inState = now - record.stateChangedAt;
    switch (record.state) {
      case 'reserved':
        if (inState > startupTimeoutMs) {
          await this.retire(pass, record, 'startup-timeout', `reserved for ${seconds(inState)}`);
          return;
        }
        break;
      case 'provisioning': {
        if (record.engineId !== undefined && (await this.computeGone(pass, record, instance))) {
          await this.computeGoneAction(pass, record);
          return;
        }
        if (inState > startupTimeoutMs) {
          await this.provisioningTimedOut(pass, record, instance, inState);
          return;
        }
        break;
      }
      case 'idle':
        if (await this.computeGone(pass, record, instance)) {
          await this.computeGoneAction(pass, record);
          return;
        }
        if (inState > startupTimeoutMs && (await this.idleTimedOut(pass, record, inState))) {
          return;
        }
        break;
      case 'busy':
        if (await this.computeGone(pass, record, instance)) {
          await this.computeGoneAction(pass, record);
        }
        // A busy runner is never destroyed for its age: it ends with its job.
        return;
      case 'failed':
        await this.step(pass, 'failed-cleanup', record.name, async () => {
          // No reason given: the entry keeps `start-failed:<code>` for diagnosis.
          if (!(await this.move(pass, record, 'destroying', ['failed']))) {
            return;
          }
          await this.enqueueDestroy(pass, record.name, 'start-failed');
          this.act(pass, 'failed-cleanup', record.name, 'destroy-enqueued', record.reason ?? '');
        });
        return;
      case 'destroying':
        if (inState > stuckDestroyingMs) {
          await this.checkStuckDestroying(pass, record, inState);
        }
        return;
    }
    const { maxLifetimeMs } = this.settings;
    const age = now - record.createdAt;
    if (maxLifetimeMs > 0 && age > maxLifetimeMs) {
      await this.retire(pass, record, 'max-lifetime', `alive for ${seconds(age)}`);
    }
  }

  /** Whether the runner's compute is missing or exited (the list first, then one inspect). */
  private async computeGone(
    pass: Pass,
    record: RunnerRecord,
    instance: EngineInstance | undefined,
  ): Promise<boolean> {
    const seen = instance ?? (await pass.engine.inspect(record.name, pass.signal));
    if (seen === null) {
      // An engine with per-process state cannot tell "gone" from "another process's".
      return pass.engine.seesAllInstances;
    }
    return DEAD_COMPUTE.has(seen.state);
  }

  private async computeGoneAction(pass: Pass, record: RunnerRecord): Promise<void> {
    await this.step(pass, 'compute-gone', record.name, async () => {
      // Nothing can run on dead compute, so no GitHub check first: the destroy job removes
      // the registration (and waits while GitHub still counts the lost job).
      if (!(await this.move(pass, record, 'destroying', [record.state], 'compute-gone'))) {
        return;
      }
      await this.enqueueDestroy(pass, record.name, 'compute-gone');
      this.act(pass, 'compute-gone', record.name, 'destroy-enqueued', `was ${record.state}`);
    });
  }

  /**
   * A start that did not finish in time. If its compute runs and GitHub sees the runner
   * online, the worker died between the engine call and the registry write: adopt it.
   * Otherwise the start failed somewhere: destroy, and the listener re-serves the demand.
   */
  private async provisioningTimedOut(
    pass: Pass,
    record: RunnerRecord,
    instance: EngineInstance | undefined,
    inState: number,
  ): Promise<void> {
    if (instance !== undefined && LIVE_COMPUTE.has(instance.state)) {
      const decision = await this.attempt(pass, 'adopted-compute', record.name, async () => {
        const lookup = await this.lookup(pass, record.name);
        if (lookup.kind === 'deferred') {
          return 'wait';
        }
        if (lookup.kind === 'absent' || !isOnline(lookup.runner)) {
          return 'retire';
        }
        const busy = lookup.runner.busy === true;
        const moved = await this.move(pass, record, 'idle', ['provisioning'], undefined, {
          engineId: instance.engineId,
          runnerId: lookup.runner.id,
        });
        if (moved && busy) {
          await this.move(pass, { ...record, state: 'idle' }, 'busy', ['idle']);
        }
        if (moved) {
          this.act(
            pass,
            'adopted-compute',
            record.name,
            'adopted',
            busy ? 'compute running, busy on GitHub' : 'compute running, online on GitHub',
          );
        }
        return 'wait';
      });
      if (decision !== 'retire') {
        return;
      }
    }
    await this.retire(pass, record, 'startup-timeout', `provisioning for ${seconds(inState)}`);
  }

  /** Idle past the startup timeout: fine if GitHub sees it online, else it never made it. */
  private async idleTimedOut(pass: Pass, record: RunnerRecord, inState: number): Promise<boolean> {
    const detail = await this.attempt(pass, 'startup-timeout', record.name, async () => {
      const lookup = await this.lookup(pass, record.name);
      switch (lookup.kind) {
        case 'deferred':
          return undefined;
        case 'absent':
          return `idle for ${seconds(inState)}, not registered on GitHub`;
        case 'registered':
          return isOnline(lookup.runner)
            ? undefined
            : `idle for ${seconds(inState)}, ${lookup.runner.status ?? 'no status'} on GitHub`;
      }
    });
    if (detail === undefined) {
      return false;
    }
    await this.retire(pass, record, 'startup-timeout', detail);
    return true;
  }

  /**
   * Destroys a runner that is not known to be busy: registration first, because GitHub
   * refuses to remove a runner that has a job, which is the only reliable busy check (the
   * registry's `idle` may lag `JobStarted`, field lessons 7). Then → destroying and the
   * `destroy-runner` job does the rest.
   */
  private async retire(
    pass: Pass,
    record: RunnerRecord,
    rule: 'startup-timeout' | 'max-lifetime',
    detail: string,
  ): Promise<void> {
    await this.step(pass, rule, record.name, async () => {
      // A reserved runner without a runner id has no JIT config yet, so nothing to ask.
      if (record.state !== 'reserved' || record.runnerId !== undefined) {
        const removed = await this.removeRegistration(pass, record.name, record.runnerId);
        if (removed === 'busy') {
          this.act(pass, rule, record.name, 'kept', 'GitHub says the runner has a job');
          return;
        }
        if (removed === 'deferred') {
          return;
        }
      }
      if (!(await this.move(pass, record, 'destroying', [record.state], rule))) {
        return;
      }
      await this.enqueueDestroy(pass, record.name, rule);
      this.act(pass, rule, record.name, 'destroy-enqueued', detail);
    });
  }

  private async checkStuckDestroying(
    pass: Pass,
    record: RunnerRecord,
    inState: number,
  ): Promise<void> {
    await this.step(pass, 'stuck-destroying', record.name, async () => {
      if (await this.jobs.destroyPending(record.name)) {
        return;
      }
      // The job is gone (failed for good, lost with Redis, or never enqueued because the
      // process died between the move and the enqueue). Its retained copy would swallow a
      // re-enqueue with the same id, so it is removed first.
      const reason = destroyReasonOf(record.reason);
      await this.jobs.discardFinishedDestroy(record.name, reason);
      await this.enqueueDestroy(pass, record.name, reason);
      this.act(
        pass,
        'stuck-destroying',
        record.name,
        'destroy-enqueued',
        `destroying for ${seconds(inState)} with no destroy job`,
      );
    });
  }

  // ---- engine resources without an entry -------------------------------------------------

  private async checkOrphan(pass: Pass, instance: EngineInstance): Promise<void> {
    const age = pass.now - instance.createdAt.getTime();
    if (age <= this.settings.orphanGraceMs) {
      return;
    }
    const name = instance.runnerName;
    await this.step(pass, 'orphaned-compute', name, async () => {
      const valid = isValidRunnerName(name);
      // The registry read is older than the engine list: look again before destroying.
      if (valid && (await this.registry.get(pass.scaleSet.id, name)) !== undefined) {
        return;
      }
      const lookup = valid ? await this.lookup(pass, name) : ({ kind: 'absent' } as const);
      if (lookup.kind === 'deferred') {
        return;
      }
      if (lookup.kind === 'registered' && lookup.runner.busy === true) {
        this.act(pass, 'orphaned-compute', name, 'kept', 'GitHub says the runner has a job');
        return;
      }
      await pass.engine.destroy({ name: instance.name, engineId: instance.engineId }, pass.signal);
      if (lookup.kind === 'registered') {
        await this.removeRegistration(pass, name, lookup.runner.id);
      }
      this.act(
        pass,
        'orphaned-compute',
        name,
        'destroyed',
        `${instance.state}, no registry entry, created ${seconds(age)} ago`,
      );
    });
  }

  // ---- GitHub registrations without entry or compute --------------------------------------

  private async checkGhosts(
    pass: Pass,
    inRegistry: ReadonlySet<string>,
    onEngine: ReadonlySet<string>,
  ): Promise<void> {
    const known = await this.state.knownNames(pass.scaleSet.id);
    const done: string[] = [];
    for (const { name, firstSeenAt } of known) {
      if (inRegistry.has(name) || onEngine.has(name)) {
        continue;
      }
      if (pass.now - firstSeenAt <= this.settings.orphanGraceMs) {
        continue;
      }
      await this.step(pass, 'ghost-registration', name, async () => {
        const lookup = await this.lookup(pass, name);
        switch (lookup.kind) {
          case 'deferred':
            return;
          case 'absent':
            done.push(name);
            return;
          case 'registered': {
            const removed = await this.removeRegistration(pass, name, lookup.runner.id);
            if (removed === 'busy') {
              this.act(pass, 'ghost-registration', name, 'kept', 'GitHub says it has a job');
              return;
            }
            done.push(name);
            this.act(
              pass,
              'ghost-registration',
              name,
              'registration-removed',
              `${lookup.runner.status ?? 'no status'} on GitHub, no entry, no compute`,
            );
          }
        }
      });
    }
    if (done.length > 0) {
      await this.state.forgetNames(pass.scaleSet.id, done);
    }
  }

  // ---- registry lost -----------------------------------------------------------------------

  /**
   * Re-creates an entry for every running resource of the scale set, `busy` when GitHub says
   * so, else `idle`, with its engine and runner ids. Exited resources get no entry: the next
   * pass destroys them as orphans. From then on the normal rules apply.
   */
  private async rebuild(pass: Pass, instances: readonly EngineInstance[]): Promise<void> {
    const { scaleSet } = pass;
    this.log.warn(
      { scaleSetId: scaleSet.id, resources: instances.length },
      'reconcile: the registry of this scale set is empty but its compute runs; rebuilding ' +
        'it from the engine labels and GitHub instead of destroying the runners',
    );
    for (const instance of instances) {
      const name = instance.runnerName;
      if (!LIVE_COMPUTE.has(instance.state) || !isValidRunnerName(name)) {
        continue;
      }
      await this.step(pass, 'registry-rebuilt', name, async () => {
        const lookup = await this.lookup(pass, name, { unbudgeted: true });
        const runner = lookup.kind === 'registered' ? lookup.runner : undefined;
        if (!(await this.registry.restore(scaleSet, name))) {
          return;
        }
        const record = await this.registry.get(scaleSet.id, name);
        if (record === undefined) {
          return;
        }
        await this.registry.transition(scaleSet.id, name, 'provisioning', { from: ['reserved'] });
        await this.registry.transition(scaleSet.id, name, 'idle', {
          from: ['provisioning'],
          engineId: instance.engineId,
          ...(runner === undefined ? {} : { runnerId: runner.id }),
        });
        const busy = runner?.busy === true;
        if (busy) {
          await this.registry.transition(scaleSet.id, name, 'busy', { from: ['idle'] });
        }
        this.act(
          pass,
          'registry-rebuilt',
          name,
          'restored',
          `${busy ? 'busy' : 'idle'}${runner === undefined ? ', not registered on GitHub' : ''}`,
        );
      });
    }
    await this.rememberNames(scaleSet.id, [], instances, pass.now);
  }

  // ---- helpers -----------------------------------------------------------------------------

  private async rememberNames(
    scaleSetId: number,
    records: readonly RunnerRecord[],
    instances: readonly EngineInstance[],
    now: number,
  ): Promise<void> {
    const names = new Set(records.map((r) => r.name));
    for (const i of instances) {
      if (isValidRunnerName(i.runnerName)) {
        names.add(i.runnerName);
      }
    }
    if (names.size > 0) {
      await this.state.rememberNames(scaleSetId, [...names], now);
    }
  }

  /** GitHub's registration of `name` in this scale set (another scale set's is not ours). */
  private async lookup(
    pass: Pass,
    name: string,
    options: { readonly unbudgeted?: boolean } = {},
  ): Promise<Lookup> {
    if (options.unbudgeted !== true && pass.lookups >= this.maxLookups) {
      pass.deferred += 1;
      return { kind: 'deferred' };
    }
    pass.lookups += 1;
    const runner = await this.github.getRunnerByName(name, pass.signal);
    if (runner?.runnerScaleSetId !== pass.scaleSet.id) {
      return { kind: 'absent' };
    }
    return { kind: 'registered', runner };
  }

  /** Removes a registration (by id, else found by name). Missing is success. */
  private async removeRegistration(
    pass: Pass,
    name: string,
    runnerId: number | undefined,
  ): Promise<'removed' | 'absent' | 'busy' | 'deferred'> {
    let id = runnerId;
    if (id === undefined) {
      const lookup = await this.lookup(pass, name);
      if (lookup.kind !== 'registered') {
        return lookup.kind;
      }
      id = lookup.runner.id;
    }
    try {
      await this.github.removeRunner(id, pass.signal);
      return 'removed';
    } catch (err) {
      if (err instanceof JobStillRunningError) {
        return 'busy';
      }
      if (err instanceof GitHubRunnerNotFoundError) {
        return 'absent';
      }
      throw err;
    }
  }

  /**
   * Moves the entry if it is still where this pass saw it. Returns false (and does nothing)
   * when something else moved or deleted it since: that path owns the runner now.
   */
  private async move(
    pass: Pass,
    record: RunnerRecord,
    to: 'destroying' | 'idle' | 'busy',
    from: readonly RunnerState[],
    reason?: string,
    fields: { readonly engineId?: string; readonly runnerId?: number } = {},
  ): Promise<boolean> {
    try {
      await this.registry.transition(pass.scaleSet.id, record.name, to, {
        from,
        ...(reason === undefined ? {} : { reason }),
        ...fields,
      });
      return true;
    } catch (err) {
      if (err instanceof IllegalTransitionError || err instanceof RegistryRunnerNotFoundError) {
        this.log.info(
          { scaleSetId: pass.scaleSet.id, runner: record.name, to },
          'reconcile: the runner moved on meanwhile; left as it is',
        );
        return false;
      }
      throw err;
    }
  }

  /**
   * Enqueues `destroy-runner`. A finished job with the same deterministic id would swallow the
   * enqueue, so when nothing is pending under that id the old job is removed and the enqueue
   * repeated.
   */
  private async enqueueDestroy(
    pass: Pass,
    runnerName: string,
    reason: DestroyReason,
  ): Promise<void> {
    const payload = {
      scaleSetId: pass.scaleSet.id,
      scaleSetName: pass.scaleSet.name,
      runnerName,
      reason,
    };
    const result = await this.jobs.enqueueDestroy(payload);
    if (!result.created && !(await this.jobs.destroyPending(runnerName))) {
      await this.jobs.discardFinishedDestroy(runnerName, reason);
      await this.jobs.enqueueDestroy(payload);
    }
  }

  private act(
    pass: Pass,
    rule: ReconcileRule,
    runner: string,
    action: ReconcileActionKind,
    detail: string,
  ): void {
    pass.actions.push({ rule, runner, action, detail });
    const entry = { scaleSetId: pass.scaleSet.id, runner, rule, action, detail };
    if (action === 'error') {
      this.log.warn(entry, `reconcile ${rule}: step failed; retried next pass`);
    } else {
      this.log.info(entry, `reconcile ${rule}: ${action}`);
    }
  }

  /** Runs one runner's step; a failure is reported and left for the next pass. */
  private async step(
    pass: Pass,
    rule: ReconcileRule,
    runner: string,
    run: () => Promise<void>,
  ): Promise<void> {
    await this.attempt(pass, rule, runner, run);
  }

  /** {@link step} with a result; `undefined` when the step failed. */
  private async attempt<T>(
    pass: Pass,
    rule: ReconcileRule,
    runner: string,
    run: () => Promise<T>,
  ): Promise<T | undefined> {
    try {
      return await run();
    } catch (err) {
      if (pass.signal?.aborted === true) {
        throw err;
      }
      this.act(pass, rule, runner, 'error', errorCode(err));
      return undefined;
    }
  }

  private report(pass: Pass, rebuilt: boolean, started: number): ReconcileReport {
    const counts = Object.fromEntries(RECONCILE_RULES.map((r) => [r, 0])) as Record<
      ReconcileRule,
      number
    >;
    for (const a of pass.actions) {
      if (a.action !== 'kept' && a.action !== 'error') {
        counts[a.rule] += 1;
      }
    }
    const report: ReconcileReport = {
      scaleSetId: pass.scaleSet.id,
      scaleSetName: pass.scaleSet.name,
      rebuilt,
      at: pass.now,
      durationMs: this.elapsed() - started,
      actions: pass.actions,
      counts,
    };
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const summary = { scaleSetId: pass.scaleSet.id, counts, durationMs: report.durationMs };
    if (total > 0 || rebuilt) {
      this.log.info(summary, 'reconcile pass done');
    } else {
      this.log.debug(summary, 'reconcile pass done; nothing to repair');
    }
    return report;
  }
}

/** Online or busy on GitHub (GitHub reports a busy runner as `online` with `busy: true`). */
function isOnline(runner: RunnerReference): boolean {
  return runner.busy === true || runner.status === 'online';
}

const DESTROY_REASON_CODES: ReadonlySet<string> = new Set(DESTROY_REASONS);

/**
 * The destroy reason to re-enqueue a stuck runner with: the code its entry recorded
 * (`start-failed:<code>` → `start-failed`), else `orphaned`. Rule codes that are not destroy
 * reasons (`failed-cleanup`) never reach the registry.
 */
export function destroyReasonOf(reason: string | undefined): DestroyReason {
  const code = reason?.split(':')[0] ?? '';
  return DESTROY_REASON_CODES.has(code) ? (code as DestroyReason) : 'orphaned';
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}

/** A short, secret-free code for a failed step: the error's class and code, never its message. */
function errorCode(err: unknown): string {
  if (!(err instanceof Error)) {
    return 'unknown-error';
  }
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? `${err.name}:${code}` : err.name;
}

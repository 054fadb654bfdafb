import { reconcileSchedulerId, type ReconcilePayload } from '@app/queue';
import { runnerGroupId, type RunnerGroup, type RunnerScaleSet } from '@app/scaleset';
import type { ReconcileLogger } from './reconcile.ports';

/** GitHub's built-in runner group; the SDK and ARC use its id without a look-up. */

/** What {@link ReconcileScheduler} works with. */
export interface ReconcileSchedulerDeps {
  /** The configured scale sets (name and runner group). */
  readonly scaleSets: readonly { readonly name: string; readonly runnerGroup: string }[];
  readonly intervalMs: number;
  /** Resolves scale set ids by name; the listener creates the scale sets. */
  readonly github: {
    getRunnerGroupByName(name: string, signal?: AbortSignal): Promise<RunnerGroup>;
    getRunnerScaleSetByName(
      runnerGroupId: number,
      name: string,
      signal?: AbortSignal,
    ): Promise<RunnerScaleSet | null>;
  };
  readonly producer: {
    scheduleReconcile(payload: ReconcilePayload, everyMs: number): Promise<void>;
  };
  /** The `reconcile` queue, to see whether a scheduler still exists (after a Redis flush). */
  readonly queue: { getJobScheduler(id: string): Promise<unknown> };
  readonly logger: ReconcileLogger;
}

/** Resolves a configured scale set's GitHub id by name; `null` while it does not exist yet. */
export async function resolveScaleSetId(
  github: ReconcileSchedulerDeps['github'],
  scaleSet: { readonly name: string; readonly runnerGroup: string },
  signal?: AbortSignal,
): Promise<number | null> {
  const groupId = await runnerGroupId(github, scaleSet.runnerGroup, signal);
  return (await github.getRunnerScaleSetByName(groupId, scaleSet.name, signal))?.id ?? null;
}

/**
 * Keeps one BullMQ job scheduler per scale set (`reconcile-<scaleSetId>`), so exactly one
 * `reconcile` job fires per period however many workers run. Every worker calls
 * {@link ReconcileScheduler.ensureAll} at startup (`force`: the interval may have changed)
 * and then every period, which re-creates a scheduler lost with Redis data and picks up a
 * scale set the listener created after this worker started.
 */
export class ReconcileScheduler {
  private readonly ids = new Map<string, number>();

  constructor(private readonly deps: ReconcileSchedulerDeps) {}

  /** Returns the names of the scale sets that have a scheduler now. */
  async ensureAll(
    options: { readonly force?: boolean; readonly signal?: AbortSignal } = {},
  ): Promise<string[]> {
    const scheduled: string[] = [];
    for (const scaleSet of this.deps.scaleSets) {
      try {
        if (await this.ensure(scaleSet, options.force === true, options.signal)) {
          scheduled.push(scaleSet.name);
        }
      } catch (err) {
        this.deps.logger.warn(
          { scaleSet: scaleSet.name, err },
          'reconcile scheduling failed; trying again next period',
        );
      }
    }
    return scheduled;
  }

  private async ensure(
    scaleSet: { readonly name: string; readonly runnerGroup: string },
    force: boolean,
    signal?: AbortSignal,
  ): Promise<boolean> {
    let id = this.ids.get(scaleSet.name);
    let fresh = false;
    if (id === undefined) {
      const resolved = await resolveScaleSetId(this.deps.github, scaleSet, signal);
      if (resolved === null) {
        this.deps.logger.info(
          { scaleSet: scaleSet.name },
          'scale set not on GitHub yet (the listener creates it); reconcile scheduled later',
        );
        return false;
      }
      id = resolved;
      this.ids.set(scaleSet.name, id);
      fresh = true;
    }
    if (!force && !fresh && (await this.deps.queue.getJobScheduler(reconcileSchedulerId(id)))) {
      return true;
    }
    await this.deps.producer.scheduleReconcile(
      { scaleSetId: id, scaleSetName: scaleSet.name },
      this.deps.intervalMs,
    );
    this.deps.logger.info(
      { scaleSetId: id, scaleSet: scaleSet.name, everyMs: this.deps.intervalMs },
      'reconcile scheduled',
    );
    return true;
  }
}

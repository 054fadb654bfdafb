import type { ScalesetConfig } from '@app/config';
import {
  destroyRunnerJobId,
  type DestroyReason,
  type DestroyRunnerPayload,
  type EnqueueResult,
} from '@app/queue';
import { scaleSetKeys, type RedisClient } from '@app/registry';
import type {
  KnownRunnerName,
  ReconcileClock,
  ReconcileJobs,
  ReconcileState,
} from './reconcile.ports';
import type { ReconcileSettings } from './reconciler';

/** At most this many runner names are remembered per scale set (newest first-seen kept). */
export const MAX_KNOWN_RUNNER_NAMES = 10_000;

/** The reconciler's keys of one scale set, next to the registry's (same hash tag). */
export function reconcileKeys(
  prefix: string,
  scaleSetId: number,
): { readonly marker: string; readonly names: string } {
  const base = scaleSetKeys(prefix, scaleSetId).base;
  return { marker: `${base}:reconcile:marker`, names: `${base}:reconcile:names` };
}

/**
 * {@link ReconcileState} in Redis, under the registry's key prefix and hash tag:
 * `<prefix>:{ss-<id>}:reconcile:marker` (string, set by the first pass: "this registry has
 * been reconciled", so its absence with compute running means the registry was lost) and
 * `<prefix>:{ss-<id>}:reconcile:names` (sorted set of runner names scored by first-seen time,
 * bounded to {@link MAX_KNOWN_RUNNER_NAMES}).
 */
export class RedisReconcileState implements ReconcileState {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly maxNames: number = MAX_KNOWN_RUNNER_NAMES,
  ) {}

  async hasMarker(scaleSetId: number): Promise<boolean> {
    return (await this.redis.exists(this.keys(scaleSetId).marker)) === 1;
  }

  async setMarker(scaleSetId: number): Promise<void> {
    await this.redis.set(this.keys(scaleSetId).marker, String(Date.now()), 'NX');
  }

  async rememberNames(scaleSetId: number, names: readonly string[], now: number): Promise<void> {
    if (names.length === 0) {
      return;
    }
    const key = this.keys(scaleSetId).names;
    await this.redis
      .multi()
      .zadd(key, 'NX', ...names.flatMap((n) => [now, n]))
      .zremrangebyrank(key, 0, -(this.maxNames + 1))
      .exec();
  }

  async knownNames(scaleSetId: number): Promise<KnownRunnerName[]> {
    const flat = await this.redis.zrange(this.keys(scaleSetId).names, 0, -1, 'WITHSCORES');
    const out: KnownRunnerName[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const name = flat[i];
      const score = Number(flat[i + 1]);
      if (name !== undefined && Number.isFinite(score)) {
        out.push({ name, firstSeenAt: score });
      }
    }
    return out;
  }

  async forgetNames(scaleSetId: number, names: readonly string[]): Promise<void> {
    if (names.length > 0) {
      await this.redis.zrem(this.keys(scaleSetId).names, ...names);
    }
  }

  private keys(scaleSetId: number): { readonly marker: string; readonly names: string } {
    return reconcileKeys(this.prefix, scaleSetId);
  }
}

/** The slice of BullMQ's `Queue` (the `runners` queue) the reconciler reads and cleans. */
export interface RunnersQueueView {
  getJobState(jobId: string): Promise<string>;
  remove(jobId: string): Promise<number>;
}

/** BullMQ job states in which a job will still run. */
const PENDING_STATES: ReadonlySet<string> = new Set([
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
]);

/** {@link ReconcileJobs} on the `JobProducer` and the `runners` queue. */
export class BullReconcileJobs implements ReconcileJobs {
  constructor(
    private readonly producer: {
      enqueueDestroy(payload: DestroyRunnerPayload): Promise<EnqueueResult>;
    },
    private readonly runners: RunnersQueueView,
  ) {}

  enqueueDestroy(payload: DestroyRunnerPayload): Promise<EnqueueResult> {
    return this.producer.enqueueDestroy(payload);
  }

  async destroyPending(runnerName: string): Promise<boolean> {
    for (const id of [
      destroyRunnerJobId(runnerName),
      destroyRunnerJobId(runnerName, 'scale-down'),
    ]) {
      if (PENDING_STATES.has(await this.runners.getJobState(id))) {
        return true;
      }
    }
    return false;
  }

  async discardFinishedDestroy(runnerName: string, reason: DestroyReason): Promise<void> {
    const id = destroyRunnerJobId(runnerName, reason);
    const state = await this.runners.getJobState(id);
    if (state === 'completed' || state === 'failed') {
      await this.runners.remove(id);
    }
  }
}

/** The registry's clock: Redis `TIME` in epoch ms, so entry times and "now" agree. */
export function redisClock(redis: RedisClient): ReconcileClock {
  return async () => {
    const [sec, usec] = await redis.time();
    return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  };
}

/**
 * The rule settings from the validated config. An entry may sit in `destroying` for two
 * reconcile periods, or the orphan grace if longer, before its destroy job counts as lost.
 */
export function reconcileSettings(config: ScalesetConfig): ReconcileSettings {
  const r = config.reconcile;
  return {
    owner: config.deployment.id,
    orphanGraceMs: r.orphanGraceMs,
    startupTimeoutMs: r.startupTimeoutMs,
    maxLifetimeMs: r.maxLifetimeMs,
    stuckDestroyingMs: Math.max(2 * r.intervalMs, r.orphanGraceMs),
  };
}

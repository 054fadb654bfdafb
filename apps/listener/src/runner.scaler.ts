import type { JobCompleted, JobStarted, RunnerScaleSetStatistic } from '@app/scaleset';
import {
  NOOP_TELEMETRY,
  TelemetryAttributes as A,
  type ActiveSpan,
  type Logger,
  type Telemetry,
} from '@app/telemetry';
import type { Scaler } from './listener.ports';

/** The registry calls the scaler makes (a slice of `RunnerRegistry`). */
export interface ScalerRegistry {
  reserve(
    scaleSet: { id: number; name: string },
    count: number,
    maxRunners: number,
    options: { epoch: number },
  ): Promise<string[]>;
  /**
   * One guarded, epoch-checked move (one Lua script). Throws `RunnerNotFoundError` for a runner
   * without entry and `IllegalTransitionError` (with the current state in `from`) otherwise.
   */
  transition(
    scaleSetId: number,
    name: string,
    to: 'busy' | 'destroying',
    options: {
      epoch: number;
      from: readonly ('reserved' | 'provisioning' | 'idle' | 'busy' | 'failed')[];
      reason?: string;
      jobId?: string;
      jobDisplayName?: string;
    },
  ): Promise<{ outcome: 'applied' | 'unchanged'; from: string }>;
  list(
    scaleSetId: number,
    state: 'reserved' | 'idle',
    options?: { changedBefore?: number; limit?: number },
  ): Promise<{ name: string; stateChangedAt: number }[]>;
  counts(scaleSetId: number): Promise<{ live: number }>;
  isTombstoned(scaleSetId: number, name: string): Promise<boolean>;
}

/** A start job's payload as the scaler builds it. */
export interface ScalerStartPayload {
  scaleSetId: number;
  scaleSetName: string;
  runnerName: string;
  epoch: number;
  traceparent?: string;
}

/** A destroy job's payload as the scaler builds it. */
export interface ScalerDestroyPayload extends ScalerStartPayload {
  reason: 'job-completed' | 'scale-down';
}

/** The jobs the scaler enqueues (a slice of `JobProducer`). */
export interface ScalerJobs {
  /** One start job per runner, all in one round trip; existing ids are left alone. */
  enqueueStarts(payloads: readonly ScalerStartPayload[]): Promise<unknown>;
  /** One destroy job per runner, all in one round trip; existing ids are left alone. */
  enqueueDestroys(payloads: readonly ScalerDestroyPayload[]): Promise<unknown>;
}

/** Options of one scaling decision. */
export interface DecisionOptions {
  /**
   * Also (re-)enqueue the start job of every runner in `reserved`, not only of those this
   * decision reserved: the repair for a leader that died between the reserve and the enqueue.
   * The listener asks for it when it takes the lease and on its periodic re-evaluation; the
   * scaler adds it by itself to the decision after a failed start enqueue.
   */
  readonly reenqueueReserved?: boolean;
}

/** The scale set and its bounds; `maxRunners`/`minRunners` are read on every decision. */
export interface ScalerScaleSet {
  readonly id: number;
  readonly name: string;
  minRunners(): number;
  maxRunners(): number;
}

/** `desired = min(max_runners, min_runners + totalAssignedJobs)`: the SDK's and ARC's formula. */
export function desiredRunnerCount(
  statistics: Pick<RunnerScaleSetStatistic, 'totalAssignedJobs'>,
  minRunners: number,
  maxRunners: number,
): number {
  return Math.max(0, Math.min(maxRunners, minRunners + Math.max(0, statistics.totalAssignedJobs)));
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

/** The current state an `IllegalTransitionError` reports, if any. */
function errorFrom(err: unknown): unknown {
  return typeof err === 'object' && err !== null && 'from' in err ? err.from : undefined;
}

/**
 * Turns messages into registry changes and BullMQ jobs. Every method is idempotent, so a
 * message handled twice (redelivery after a crash) leaves the same state: reservations are
 * bounded by the atomic capacity check, start and destroy jobs have deterministic ids, and
 * state moves are guarded by `from` lists and the leader's epoch.
 */
export class RunnerScaler implements Scaler {
  constructor(
    private readonly registry: ScalerRegistry,
    private readonly jobs: ScalerJobs,
    private readonly scaleSet: ScalerScaleSet,
    private readonly options: {
      readonly scaleDownGraceMs: number;
      readonly logger: Logger;
      readonly now?: () => number;
      /** Spans and metrics; default no-op. */
      readonly telemetry?: Telemetry;
    },
  ) {
    this.telemetry = options.telemetry ?? NOOP_TELEMETRY;
  }

  private readonly telemetry: Telemetry;

  private get log(): Logger {
    return this.options.logger;
  }

  /** The active span's trace context, for the job payload (the worker continues the trace). */
  private traceparent(): { traceparent?: string } {
    const traceparent = this.telemetry.tracer.traceparent();
    return traceparent === undefined ? {} : { traceparent };
  }

  handleJobStarted(job: JobStarted, epoch: number): Promise<void> {
    return this.telemetry.tracer.withSpan(
      'scaler.HandleJobStarted',
      {
        [A.scaleSetName]: this.scaleSet.name,
        [A.runnerName]: job.runnerName,
        [A.jobId]: job.jobId,
        [A.jobRunnerRequestId]: job.runnerRequestId,
        [A.jobDisplayName]: job.jobDisplayName,
        [A.epoch]: epoch,
      },
      () => this.jobStarted(job, epoch),
    );
  }

  // One round trip: the guarded move itself tells an unknown runner (not found) and one that is
  // no longer live (illegal) apart, so there is no read before it.
  private async jobStarted(job: JobStarted, epoch: number): Promise<void> {
    try {
      const result = await this.registry.transition(this.scaleSet.id, job.runnerName, 'busy', {
        epoch,
        from: ['reserved', 'provisioning', 'idle', 'busy'],
        jobId: job.jobId,
        jobDisplayName: job.jobDisplayName,
      });
      if (result.outcome === 'applied') {
        this.log.info({ runner: job.runnerName, jobId: job.jobId }, 'runner busy');
      }
    } catch (err) {
      const name = errorName(err);
      if (name === 'RunnerNotFoundError') {
        this.log.info(
          { runner: job.runnerName, jobId: job.jobId },
          'JobStarted for a runner this deployment does not know',
        );
        return;
      }
      if (name !== 'IllegalTransitionError') {
        throw err;
      }
      // Already being destroyed: its compute exited and the reconciler got there before this
      // (late) message, or a scale-down raced the job, which GitHub refuses for a busy runner
      // so the destroy job keeps it until JobCompleted. Expected; not a warning.
      this.log.info(
        { runner: job.runnerName, state: errorFrom(err) },
        'JobStarted for a runner that is not live',
      );
    }
  }

  /**
   * The JobCompleted messages of one envelope: every runner moves to `destroying` (one guarded
   * move each, concurrently), then one bulk add enqueues all their destroy jobs. A failure
   * fails the whole call (the message is delivered again) after the others were handled.
   */
  async handleJobsCompleted(jobs: readonly JobCompleted[], epoch: number): Promise<void> {
    const results = await Promise.allSettled(
      jobs.map((job) => this.handleJobCompleted(job, epoch)),
    );
    const destroys: ScalerDestroyPayload[] = [];
    for (const result of results) {
      if (result.status === 'fulfilled' && result.value !== undefined) {
        destroys.push(result.value);
      }
    }
    if (destroys.length > 0) {
      await this.jobs.enqueueDestroys(destroys);
      this.log.info(
        { runners: destroys.map((d) => d.runnerName) },
        'jobs completed; runner destroys enqueued',
      );
    }
    const failed = results.find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      throw failed.reason;
    }
  }

  /** One JobCompleted: the registry move; returns the destroy job to enqueue, if any. */
  private handleJobCompleted(
    job: JobCompleted,
    epoch: number,
  ): Promise<ScalerDestroyPayload | undefined> {
    return this.telemetry.tracer.withSpan(
      'scaler.HandleJobCompleted',
      {
        [A.scaleSetName]: this.scaleSet.name,
        [A.runnerName]: job.runnerName,
        [A.jobId]: job.jobId,
        [A.jobRunnerRequestId]: job.runnerRequestId,
        [A.jobResult]: job.result,
        [A.epoch]: epoch,
      },
      () => this.jobCompleted(job, epoch),
    );
  }

  // One round trip in the common case: the guarded, epoch-checked move (`unchanged` when the
  // runner is already destroying). Only a runner without entry costs a second one, the
  // tombstone check that tells a duplicate message from a runner this deployment never had.
  private async jobCompleted(
    job: JobCompleted,
    epoch: number,
  ): Promise<ScalerDestroyPayload | undefined> {
    const completed = this.telemetry.meter.counter('jobsCompleted');
    const labels = { [A.labelScaleSet]: this.scaleSet.name, [A.labelResult]: job.result };
    if (job.runnerName === '') {
      // Cancelled before any runner took it (e.g. reassignment); nothing to destroy.
      completed.add(1, labels);
      return undefined;
    }
    try {
      await this.registry.transition(this.scaleSet.id, job.runnerName, 'destroying', {
        epoch,
        from: ['reserved', 'provisioning', 'idle', 'busy', 'failed'],
        reason: 'job-completed',
      });
    } catch (err) {
      const name = errorName(err);
      if (name === 'RunnerNotFoundError') {
        if (await this.registry.isTombstoned(this.scaleSet.id, job.runnerName)) {
          // A duplicate: counted the first time.
          return undefined;
        }
        completed.add(1, labels);
        this.log.info(
          { runner: job.runnerName },
          'JobCompleted for a runner this deployment does not know',
        );
        return undefined;
      }
      // IllegalTransitionError cannot happen with this `from` list (every live state and
      // `failed` may be destroyed); the destroy job would still be the right answer.
      if (name !== 'IllegalTransitionError') {
        throw err;
      }
    }
    completed.add(1, labels);
    this.log.debug({ runner: job.runnerName, result: job.result }, 'job completed');
    // Always (re)enqueue, also when the runner was destroying already: the id is
    // deterministic, and a previous attempt may have moved it and died before the job was
    // durable.
    return {
      scaleSetId: this.scaleSet.id,
      scaleSetName: this.scaleSet.name,
      runnerName: job.runnerName,
      reason: 'job-completed',
      epoch,
      ...this.traceparent(),
    };
  }

  handleDesiredRunnerCount(
    statistics: RunnerScaleSetStatistic,
    epoch: number,
    options: DecisionOptions = {},
  ): Promise<number> {
    return this.telemetry.tracer.withSpan(
      'scaler.HandleDesiredRunnerCount',
      {
        [A.scaleSetName]: this.scaleSet.name,
        [A.desiredCount]: statistics.totalAssignedJobs,
        [A.epoch]: epoch,
      },
      (span) => this.desiredRunnerCount(statistics, epoch, options, span),
    );
  }

  /** A start enqueue failed: the next decision re-enqueues every reserved runner. */
  private repairNeeded = false;

  private async desiredRunnerCount(
    statistics: RunnerScaleSetStatistic,
    epoch: number,
    options: DecisionOptions,
    span: ActiveSpan,
  ): Promise<number> {
    const max = this.scaleSet.maxRunners();
    const desired = desiredRunnerCount(statistics, this.scaleSet.minRunners(), max);
    const { live } = await this.registry.counts(this.scaleSet.id);
    const action = desired > live ? 'up' : desired < live ? 'down' : 'none';
    span.setAttributes({
      [A.currentCount]: live,
      [A.targetCount]: desired,
      [A.scaleAction]: action,
      [A.scaleDelta]: desired - live,
    });
    const labels = { [A.labelScaleSet]: this.scaleSet.name };
    this.telemetry.meter.counter('scaleEvents').add(1, { ...labels, [A.labelAction]: action });
    this.telemetry.meter.gauge('runnersDesired').set(desired, labels);
    let names: string[] = [];
    if (desired > live) {
      names = await this.registry.reserve(
        { id: this.scaleSet.id, name: this.scaleSet.name },
        desired - live,
        max,
        { epoch },
      );
      if (names.length > 0) {
        this.log.info({ desired, live, reserved: names.length }, 'scaling up');
      }
    }
    // Start the runners this decision reserved. Re-enqueueing every reserved runner on every
    // decision cost BullMQ's add script per runner still waiting for a worker (duplicates are
    // not free), so that repair (a leader that died between reserve and enqueue, or an enqueue
    // that failed) runs only when asked for: on taking the lease, on the periodic
    // re-evaluation, and after a failed enqueue. The deterministic id makes it a no-op for
    // runners whose job exists.
    const repair = options.reenqueueReserved === true || this.repairNeeded;
    if (repair) {
      const reserved = await this.registry.list(this.scaleSet.id, 'reserved');
      const known = new Set(names);
      names = [...names, ...reserved.map((r) => r.name).filter((n) => !known.has(n))];
    }
    if (names.length > 0) {
      const traceparent = this.traceparent();
      try {
        await this.jobs.enqueueStarts(
          names.map((runnerName) => ({
            scaleSetId: this.scaleSet.id,
            scaleSetName: this.scaleSet.name,
            runnerName,
            epoch,
            ...traceparent,
          })),
        );
      } catch (err) {
        // Reserved but not enqueued: a redelivered message reserves nothing new (they count
        // as live), so the next decision must re-enqueue them.
        this.repairNeeded = true;
        throw err;
      }
    }
    if (repair) {
      this.repairNeeded = false;
    }
    if (desired < live) {
      await this.scaleDown(live - desired, epoch);
    }
    return desired;
  }

  // Only idle runners, oldest first, and only after the grace period: a runner that just
  // came online is about to receive the job that made us start it. One bulk add.
  private async scaleDown(excess: number, epoch: number): Promise<void> {
    const now = (this.options.now ?? Date.now)();
    const idle = await this.registry.list(this.scaleSet.id, 'idle', {
      changedBefore: now - this.options.scaleDownGraceMs,
      limit: excess,
    });
    if (idle.length === 0) {
      return;
    }
    const traceparent = this.traceparent();
    await this.jobs.enqueueDestroys(
      idle.map((runner) => ({
        scaleSetId: this.scaleSet.id,
        scaleSetName: this.scaleSet.name,
        runnerName: runner.name,
        reason: 'scale-down' as const,
        epoch,
        ...traceparent,
      })),
    );
    this.log.info({ excess, destroying: idle.map((r) => r.name) }, 'scaling down idle runners');
  }
}

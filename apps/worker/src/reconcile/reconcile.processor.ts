import { Processor, WorkerHost } from '@nestjs/bullmq';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { JOB_NAMES, QUEUES, toAnyJob } from '@app/queue';
import { Telemetry, TelemetryAttributes as A } from '@app/telemetry';
import { UnrecoverableError, type Job } from 'bullmq';
import type { ReconcileLogger } from './reconcile.ports';
import { ReconcileScheduler } from './reconcile.scheduler';
import { Reconciler, type ReconcileReport } from './reconciler';

/** Injection token of the names of the scale sets this deployment serves. */
export const RECONCILE_SCALE_SETS = 'RECONCILE_SCALE_SETS';
/** Injection token of the reconcile logger. */
export const RECONCILE_LOGGER = 'RECONCILE_LOGGER';
/** Injection token of the reconcile period in ms. */
export const RECONCILE_INTERVAL_MS = 'RECONCILE_INTERVAL_MS';

/** Actions kept in a job's return value (the full list is in the logs). */
const MAX_ACTIONS_IN_RESULT = 100;

/** Checks a `reconcile` job's payload; throws `UnrecoverableError` naming the field. */
export function parseReconcileJob(
  job: Job,
  scaleSets: ReadonlySet<string>,
): { readonly id: number; readonly name: string } {
  let typed;
  try {
    typed = toAnyJob(job);
  } catch {
    throw new UnrecoverableError(`job ${job.id ?? '?'}: "${job.name}" is not a job scaleset knows`);
  }
  switch (typed.name) {
    case JOB_NAMES.reconcile:
      break;
    case JOB_NAMES.startRunner:
    case JOB_NAMES.destroyRunner:
      throw new UnrecoverableError(
        `job ${job.id ?? '?'}: ${typed.name} belongs on the runners queue, not on reconcile`,
      );
  }
  const data: unknown = typed.data;
  const d = typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
  const id = d['scaleSetId'];
  const name = d['scaleSetName'];
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) {
    throw new UnrecoverableError(`job ${job.id ?? '?'}: scaleSetId must be a positive integer`);
  }
  if (typeof name !== 'string' || !scaleSets.has(name)) {
    throw new UnrecoverableError(
      `job ${job.id ?? '?'}: scaleSetName is not a scale set of this deployment's configuration`,
    );
  }
  return { id, name };
}

/**
 * The `reconcile` queue's processor (style.md 13): checks the job and runs one
 * {@link Reconciler} pass for its scale set. The report (secret-free, actions capped) is the
 * job's return value. One attempt per job: the scheduler fires again next period.
 */
@Processor(QUEUES.reconcile)
@Injectable()
export class ReconcileProcessor extends WorkerHost implements BeforeApplicationShutdown {
  private readonly shutdown = new AbortController();

  constructor(
    private readonly reconciler: Reconciler,
    @Inject(RECONCILE_SCALE_SETS) private readonly scaleSets: ReadonlySet<string>,
    private readonly telemetry: Telemetry,
  ) {
    super();
  }

  override async process(job: Job): Promise<ReconcileReport> {
    const scaleSet = parseReconcileJob(job, this.scaleSets);
    const report = await this.telemetry.tracer.withSpan(
      'reconciler.Reconcile',
      { [A.scaleSetName]: scaleSet.name, [A.scaleSetId]: scaleSet.id },
      () => this.reconciler.reconcile(scaleSet, { signal: this.shutdown.signal }),
      { newTrace: true, kind: 'consumer' },
    );
    const actions = this.telemetry.meter.counter('reconcileActions');
    for (const [rule, count] of Object.entries(report.counts)) {
      if (count > 0) {
        actions.add(count, { [A.labelScaleSet]: scaleSet.name, [A.labelReason]: rule });
      }
    }
    return { ...report, actions: report.actions.slice(0, MAX_ACTIONS_IN_RESULT) };
  }

  /** A pass is idempotent, so an interrupted one is simply done again next period. */
  beforeApplicationShutdown(): void {
    this.shutdown.abort(new Error('worker shutting down'));
  }
}

/**
 * Schedules the reconcile job of every configured scale set at startup (in the background:
 * GitHub may be slow) and checks the schedulers every period.
 */
@Injectable()
export class ReconcileSchedulerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly shutdown = new AbortController();

  constructor(
    private readonly scheduler: ReconcileScheduler,
    @Inject(RECONCILE_INTERVAL_MS) private readonly intervalMs: number,
    @Inject(RECONCILE_LOGGER) private readonly logger: ReconcileLogger,
  ) {}

  onApplicationBootstrap(): void {
    this.tick(true);
    this.timer = setInterval(() => {
      this.tick(false);
    }, this.intervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    this.shutdown.abort(new Error('worker shutting down'));
    await this.running;
  }

  private tick(force: boolean): void {
    if (this.running !== undefined) {
      return;
    }
    this.running = this.scheduler
      .ensureAll({ force, signal: this.shutdown.signal })
      .catch((err: unknown) => {
        this.logger.warn({ err }, 'reconcile scheduling failed');
      })
      .finally(() => {
        this.running = undefined;
      });
  }
}

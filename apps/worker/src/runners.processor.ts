import { InjectQueue, Processor, WorkerHost } from '@nestjs/bullmq';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type Type,
} from '@nestjs/common';
import { JOB_NAMES, QUEUES } from '@app/queue';
import { Telemetry, TelemetryAttributes as A } from '@app/telemetry';
import type { Job, Queue, WorkerOptions } from 'bullmq';

/** BullMQ worker options without the connection (the queue module provides it). */
export type RunnersWorkerOptions = Omit<WorkerOptions, 'connection'>;
import { isLastAttempt, toBullMQError } from './job-errors';
import { parseRunnersJob } from './job-payloads';
import { RunnerLifecycle, type DestroyResult, type StartResult } from './runner.lifecycle';

/** Jobs per second the runners worker's (otherwise idle) BullMQ limiter allows. */
export const RUNNERS_LIMITER_MAX = 100_000;

/** Injection token of {@link RunnersProcessorSettings}. */
export const RUNNERS_PROCESSOR_SETTINGS = 'RUNNERS_PROCESSOR_SETTINGS';

/** What the processor reads from `config.worker` and the scale sets. */
export interface RunnersProcessorSettings {
  /** Names of the scale sets this deployment serves; jobs for others are refused. */
  readonly scaleSets: ReadonlySet<string>;
  readonly startAttempts: number;
  readonly destroyAttempts: number;
  /** How long in-flight jobs may finish on shutdown before the worker is force-closed. */
  readonly shutdownTimeoutMs: number;
}

/**
 * The `runners` queue's processor (style.md 13): checks the job, routes it to one method of
 * {@link RunnerLifecycle} and maps failures to BullMQ in one call (job-errors.ts). No
 * business logic, Redis or engine calls here. Worker options come from the configuration,
 * through {@link configuredRunnersProcessor}.
 */
@Processor(QUEUES.runners)
@Injectable()
export class RunnersProcessor extends WorkerHost implements BeforeApplicationShutdown {
  private readonly logger = new Logger('worker');
  private readonly shutdown = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly lifecycle: RunnerLifecycle,
    @InjectQueue(QUEUES.runners) private readonly queue: Queue,
    @Inject(RUNNERS_PROCESSOR_SETTINGS) private readonly settings: RunnersProcessorSettings,
    private readonly telemetry: Telemetry,
  ) {
    super();
  }

  /** Runs one job; the result (secret-free) is the job's return value. */
  override async process(job: Job, token?: string): Promise<StartResult | DestroyResult> {
    const run = this.route(job, token);
    this.inFlight.add(run);
    try {
      return await run;
    } finally {
      this.inFlight.delete(run);
    }
  }

  /**
   * Stops taking jobs, lets the running ones finish for up to `shutdownTimeoutMs`, then
   * force-closes: calls still in flight are aborted, and their jobs, whose locks are no longer
   * renewed, go to another worker through BullMQ's stalled-job check. Runs before the Redis
   * connections and engines close (their hooks are `onApplicationShutdown`).
   */
  async beforeApplicationShutdown(): Promise<void> {
    const worker = this.worker;
    await worker.pause(true);
    const settled = Promise.allSettled([...this.inFlight]).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        resolve(false);
      }, this.settings.shutdownTimeoutMs);
    });
    const finished = await Promise.race([settled, timedOut]);
    clearTimeout(timer);
    if (!finished) {
      this.logger.warn(
        `${this.inFlight.size} job(s) still running after ${this.settings.shutdownTimeoutMs} ms; ` +
          'aborting them, another worker takes them over once their locks lapse',
      );
      this.shutdown.abort(new Error('worker shutting down'));
    }
    await worker.close(!finished);
  }

  private async route(job: Job, token: string | undefined): Promise<StartResult | DestroyResult> {
    const signal = this.shutdown.signal;
    const attempts =
      job.name === JOB_NAMES.destroyRunner
        ? this.settings.destroyAttempts
        : this.settings.startAttempts;
    try {
      const parsed = parseRunnersJob(job, this.settings.scaleSets);
      const attributes = {
        [A.scaleSetName]: parsed.payload.scaleSetName,
        [A.runnerName]: parsed.payload.runnerName,
        [A.queueJobId]: job.id ?? '',
        [A.queueJobAttempt]: job.attemptsMade + 1,
      };
      // The job continues the trace of the listener's decision that enqueued it.
      const spanOptions = {
        traceparent: traceparentOf(job.data),
        newTrace: true,
        kind: 'consumer',
      } as const;
      switch (parsed.name) {
        case JOB_NAMES.startRunner:
          return await this.telemetry.tracer.withSpan(
            'scaler.startRunner',
            attributes,
            async (span) => {
              const result = await this.lifecycle.startRunner(parsed.payload, {
                lastAttempt: isLastAttempt(job, attempts),
                signal,
              });
              span.setAttributes({ [A.outcome]: result.outcome });
              return result;
            },
            spanOptions,
          );
        case JOB_NAMES.destroyRunner:
          return await this.telemetry.tracer.withSpan(
            'scaler.destroyRunner',
            { ...attributes, [A.destroyReason]: parsed.payload.reason },
            async (span) => {
              const result = await this.lifecycle.destroyRunner(parsed.payload, { signal });
              span.setAttributes({ [A.outcome]: result.outcome });
              return result;
            },
            spanOptions,
          );
      }
    } catch (err) {
      throw await toBullMQError(err, job, token, this.queue, {
        finalAttempt: !signal.aborted && isLastAttempt(job, attempts),
      });
    }
  }
}

/**
 * A subclass of {@link RunnersProcessor} carrying BullMQ worker options from the validated
 * configuration. `@Processor` options are static metadata; deriving one class per
 * `WorkerModule.forRoot` keeps them per app instead of mutating the shared class.
 */
export function configuredRunnersProcessor(options: RunnersWorkerOptions): Type<RunnersProcessor> {
  @Processor(QUEUES.runners, options)
  @Injectable()
  class ConfiguredRunnersProcessor extends RunnersProcessor {}
  return ConfiguredRunnersProcessor;
}

/** The BullMQ worker options of the runners queue, from `config.worker`. */
export function runnersWorkerOptions(worker: {
  readonly concurrency: number;
  readonly jobLockMs: number;
}): RunnersWorkerOptions {
  return {
    concurrency: worker.concurrency,
    // A dead worker's job is noticed by the stalled check at most one interval after its
    // lock lapsed, so both follow the one setting.
    lockDuration: worker.jobLockMs,
    stalledInterval: worker.jobLockMs,
    // Every job is idempotent, so a job whose worker died more than once is still safe to
    // run again (BullMQ's default fails it on the second stall).
    maxStalledCount: 3,
    // BullMQ only honours a manual rate limit (`queue.rateLimit` on a GitHub 429) in workers
    // that have a limiter; this one is far above any real job rate, so it never binds itself.
    limiter: { max: RUNNERS_LIMITER_MAX, duration: 1_000 },
  };
}

/** The `traceparent` a producer put into the job data, if any (checked by the tracer). */
function traceparentOf(data: unknown): string | undefined {
  const value =
    typeof data === 'object' && data !== null
      ? (data as Record<string, unknown>)['traceparent']
      : undefined;
  return typeof value === 'string' ? value : undefined;
}

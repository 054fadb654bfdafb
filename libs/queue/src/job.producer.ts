import type { JobsOptions, Queue } from 'bullmq';

import { InvalidJobPayloadError } from './errors';
import { destroyRunnerJobId, reconcileSchedulerId, startRunnerJobId } from './job.ids';
import { jobOptions } from './job.options';
import {
  DESTROY_REASONS,
  JOB_NAMES,
  type DestroyRunnerPayload,
  type JobName,
  type ReconcilePayload,
  type ScaleSetJobBase,
  type StartRunnerPayload,
} from './queue.definitions';

/** The queues a {@link JobProducer} adds to. */
export interface JobProducerQueues {
  readonly runners: Queue;
  readonly reconcile: Queue;
}

/** What an enqueue did: `created` is false when a job with the same id already existed. */
export interface EnqueueResult {
  readonly jobId: string;
  readonly created: boolean;
}

/** Options of a single enqueue. */
export interface EnqueueOptions {
  /** Run the job no earlier than this many ms from now (e.g. a scale-down grace period). */
  readonly delayMs?: number;
}

const RUNNER_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const MAX_SCALE_SET_NAME = 128;

/**
 * Adds our jobs with deterministic ids, so enqueueing the same intent twice (a redelivered
 * message, a retried reconcile) yields one BullMQ job. Payloads are rebuilt field by field from
 * the known fields only, so nothing else (never a JIT config or token) reaches job data.
 */
export class JobProducer {
  constructor(private readonly queues: JobProducerQueues) {}

  /** Enqueues `start-runner` for a reserved runner, id `start-<runnerName>`. */
  async enqueueStart(
    payload: StartRunnerPayload,
    options: EnqueueOptions = {},
  ): Promise<EnqueueResult> {
    const name = JOB_NAMES.startRunner;
    const data: StartRunnerPayload = {
      ...basePayload(name, payload),
      runnerName: checkRunnerName(name, payload.runnerName),
    };
    return this.add(this.queues.runners, name, startRunnerJobId(data.runnerName), data, options);
  }

  /**
   * Enqueues `start-runner` for several reserved runners in one round trip (BullMQ `addBulk`,
   * one MULTI): the same ids, payloads and options as {@link JobProducer.enqueueStart}. An id
   * that exists already is left as it is, so this is the idempotent re-enqueue the listener
   * makes on every decision. Every payload is checked before anything is added. Returns the
   * job ids (it does not tell which jobs were new).
   */
  async enqueueStarts(payloads: readonly StartRunnerPayload[]): Promise<string[]> {
    const name = JOB_NAMES.startRunner;
    const jobs = payloads.map((payload) => {
      const data: StartRunnerPayload = {
        ...basePayload(name, payload),
        runnerName: checkRunnerName(name, payload.runnerName),
      };
      return {
        name,
        data,
        opts: { ...jobOptions(name), jobId: startRunnerJobId(data.runnerName) },
      };
    });
    if (jobs.length > 0) {
      await this.queues.runners.addBulk(jobs);
    }
    return jobs.map((job) => job.opts.jobId);
  }

  /**
   * Enqueues `destroy-runner`, id `destroy-<runnerName>` (`-scale-down` for a scale-down), and
   * reports whether the job is new. That costs a look-up before the add (BullMQ answers a
   * duplicate id with no error); callers that do not need `created` use
   * {@link JobProducer.enqueueDestroys}.
   */
  async enqueueDestroy(
    payload: DestroyRunnerPayload,
    options: EnqueueOptions = {},
  ): Promise<EnqueueResult> {
    const name = JOB_NAMES.destroyRunner;
    const data = destroyPayload(payload);
    return this.add(
      this.queues.runners,
      name,
      destroyRunnerJobId(data.runnerName, data.reason),
      data,
      options,
    );
  }

  /**
   * Enqueues `destroy-runner` for several runners in one round trip (BullMQ `addBulk`, one
   * MULTI), with the ids and options of {@link JobProducer.enqueueDestroy}. An id that exists
   * already is left as it is. Every payload is checked before anything is added. Returns the
   * job ids (it does not tell which jobs were new, so it needs no look-up).
   */
  async enqueueDestroys(payloads: readonly DestroyRunnerPayload[]): Promise<string[]> {
    const name = JOB_NAMES.destroyRunner;
    const jobs = payloads.map((payload) => {
      const data = destroyPayload(payload);
      return {
        name,
        data,
        opts: { ...jobOptions(name), jobId: destroyRunnerJobId(data.runnerName, data.reason) },
      };
    });
    if (jobs.length > 0) {
      await this.queues.runners.addBulk(jobs);
    }
    return jobs.map((job) => job.opts.jobId);
  }

  /**
   * Creates or updates the scale set's repeatable `reconcile` job (scheduler id
   * `reconcile-<scaleSetId>`), firing every `everyMs`.
   */
  async scheduleReconcile(payload: ReconcilePayload, everyMs: number): Promise<void> {
    const name = JOB_NAMES.reconcile;
    if (!Number.isSafeInteger(everyMs) || everyMs <= 0) {
      throw new InvalidJobPayloadError(name, 'everyMs', 'must be a positive integer');
    }
    const data = basePayload(name, payload);
    const { attempts, removeOnComplete, removeOnFail } = jobOptions(name);
    await this.queues.reconcile.upsertJobScheduler(
      reconcileSchedulerId(data.scaleSetId),
      { every: everyMs },
      {
        name,
        data,
        opts: {
          ...(attempts === undefined ? {} : { attempts }),
          ...(removeOnComplete === undefined ? {} : { removeOnComplete }),
          ...(removeOnFail === undefined ? {} : { removeOnFail }),
        },
      },
    );
  }

  /** Removes the scale set's repeatable `reconcile` job. Returns whether it existed. */
  async unscheduleReconcile(scaleSetId: number): Promise<boolean> {
    return this.queues.reconcile.removeJobScheduler(reconcileSchedulerId(scaleSetId));
  }

  private async add(
    queue: Queue,
    name: JobName,
    jobId: string,
    data: object,
    options: EnqueueOptions,
  ): Promise<EnqueueResult> {
    const opts: JobsOptions = { ...jobOptions(name), jobId };
    if (options.delayMs !== undefined) {
      if (!Number.isSafeInteger(options.delayMs) || options.delayMs < 0) {
        throw new InvalidJobPayloadError(name, 'delayMs', 'must be a non-negative integer');
      }
      opts.delay = options.delayMs;
    }
    // BullMQ answers a duplicate id with the existing job's id and no error, so look first.
    // Two producers racing on the same id may both report `created`; only one job exists.
    const existed = (await queue.getJob(jobId)) !== undefined;
    await queue.add(name, data, opts);
    return { jobId, created: !existed };
  }
}

function basePayload(jobName: JobName, payload: ScaleSetJobBase): ScaleSetJobBase {
  if (!Number.isSafeInteger(payload.scaleSetId) || payload.scaleSetId <= 0) {
    throw new InvalidJobPayloadError(jobName, 'scaleSetId', 'must be a positive integer');
  }
  const scaleSetName = payload.scaleSetName;
  if (
    scaleSetName.length === 0 ||
    scaleSetName.length > MAX_SCALE_SET_NAME ||
    /\p{Cc}/u.test(scaleSetName)
  ) {
    throw new InvalidJobPayloadError(
      jobName,
      'scaleSetName',
      `must be 1 to ${MAX_SCALE_SET_NAME} printable characters`,
    );
  }
  if (payload.epoch !== undefined && (!Number.isSafeInteger(payload.epoch) || payload.epoch <= 0)) {
    throw new InvalidJobPayloadError(jobName, 'epoch', 'must be a positive integer');
  }
  if (payload.traceparent !== undefined && !TRACEPARENT.test(payload.traceparent)) {
    throw new InvalidJobPayloadError(jobName, 'traceparent', 'must be a W3C traceparent');
  }
  return {
    scaleSetId: payload.scaleSetId,
    scaleSetName,
    ...(payload.epoch === undefined ? {} : { epoch: payload.epoch }),
    ...(payload.traceparent === undefined ? {} : { traceparent: payload.traceparent }),
  };
}

function destroyPayload(payload: DestroyRunnerPayload): DestroyRunnerPayload {
  const name = JOB_NAMES.destroyRunner;
  if (!(DESTROY_REASONS as readonly string[]).includes(payload.reason)) {
    throw new InvalidJobPayloadError(
      name,
      'reason',
      `must be one of ${DESTROY_REASONS.join(', ')}`,
    );
  }
  return {
    ...basePayload(name, payload),
    runnerName: checkRunnerName(name, payload.runnerName),
    reason: payload.reason,
  };
}

function checkRunnerName(jobName: JobName, runnerName: string): string {
  if (!RUNNER_NAME.test(runnerName)) {
    throw new InvalidJobPayloadError(
      jobName,
      'runnerName',
      'must be lower-case letters, digits and hyphens, start with a letter, at most 63',
    );
  }
  return runnerName;
}

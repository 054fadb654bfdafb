/**
 * Queue definitions of scaleset: queue and job names, typed payloads, deterministic job ids,
 * default job options, connection factories, the {@link JobProducer}, and the Nest module.
 *
 * @packageDocumentation
 */

/** Errors: {@link InvalidJobIdError}, {@link InvalidJobPayloadError}, {@link UnknownJobError}, … */
export {
  InvalidJobIdError,
  InvalidJobPayloadError,
  InvalidRedisUrlError,
  QueueError,
} from './errors';

/** Queue names, job names, payload types and the BullMQ prefix. */
export {
  DEFAULT_BULL_PREFIX,
  DESTROY_REASONS,
  JOB_NAMES,
  JOB_QUEUE,
  QUEUES,
  isJobName,
  toAnyJob,
  type AnyJob,
  type DestroyReason,
  type DestroyRunnerPayload,
  type JobName,
  type JobOf,
  type JobPayloads,
  type QueueName,
  type ReconcilePayload,
  type ScaleSetJobBase,
  type StartRunnerPayload,
} from './queue.definitions';

/** Deterministic job id builders (no `:`, never all digits). */
export {
  assertValidJobId,
  destroyRunnerJobId,
  reconcileSchedulerId,
  startRunnerJobId,
} from './job.ids';

/** Default job options (attempts, backoff with jitter, bounded retention) per job kind. */
export { DEFAULT_JOB_OPTIONS, jobOptions } from './job.options';

/** Redis connection factories for producers (fail fast) and workers (retry forever). */
export {
  createProducerConnection,
  createWorkerConnection,
  producerConnectionOptions,
  redisOptionsFromUrl,
  workerConnectionOptions,
} from './queue.connections';

/** Idempotent enqueueing of our jobs. */
export {
  JobProducer,
  type EnqueueOptions,
  type EnqueueResult,
  type JobProducerQueues,
} from './job.producer';

/** Nest wiring: {@link QueueModule.forRoot}. */
export { QueueModule, type QueueModuleOptions } from './queue.module';

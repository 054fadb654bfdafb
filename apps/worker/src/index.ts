/** The worker app, started by the `scaleset` CLI. */
export { bootstrapWorker } from './worker.bootstrap';
export { WorkerModule, WORKER_LOGGER } from './worker.module';
export {
  RunnerLifecycle,
  DEFAULT_BUSY_RETRY_MS,
  type DestroyResult,
  type RunnerLifecycleDeps,
  type StartResult,
} from './runner.lifecycle';
export {
  RunnersProcessor,
  configuredRunnersProcessor,
  runnersWorkerOptions,
  type RunnersProcessorSettings,
} from './runners.processor';
export { classifyJobError, toBullMQError, type JobErrorClass } from './job-errors';
export type * from './worker.ports';
export * from './reconcile';

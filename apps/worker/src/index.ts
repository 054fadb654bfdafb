/** The worker app, started by the `scaleset` CLI. */
export { bootstrapWorker } from './worker.bootstrap';
export { WorkerModule } from './worker.module';

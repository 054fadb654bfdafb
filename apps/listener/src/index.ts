/** The listener app, started by the `scaleset` CLI. */
export { bootstrapListener } from './listener.bootstrap';
export { ListenerModule } from './listener.module';

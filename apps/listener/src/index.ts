/** The listener app, started by the `scaleset` CLI. */
export { bootstrapListener, listenerFailure } from './listener.bootstrap';
export { ListenerModule } from './listener.module';

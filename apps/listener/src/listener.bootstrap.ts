import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import type { ScalesetConfig } from '@app/config';
import { NestLogger, NOOP_TELEMETRY, type Logger, type Telemetry } from '@app/telemetry';
import { ListenerModule } from './listener.module';
import { ListenerService } from './listener.service';

/**
 * Creates and starts the listener app (with its health server when a port is set). `telemetry`
 * comes from `startTelemetry`, once per process; the default records nothing.
 */
export async function bootstrapListener(
  config: ScalesetConfig,
  logger: Logger,
  telemetry: Telemetry = NOOP_TELEMETRY,
): Promise<INestApplicationContext> {
  const log = logger.child({ role: 'listener' });
  const app = await NestFactory.create(ListenerModule.forRoot(config, log, telemetry), {
    logger: new NestLogger(log),
  });
  if (config.listener.healthPort > 0) {
    await app.listen(config.listener.healthPort);
    log.info({ port: config.listener.healthPort }, 'health endpoints on /healthz and /readyz');
  } else {
    await app.init();
  }
  return app;
}

/** Settles when the listener cannot serve a scale set because the configuration is wrong. */
export function listenerFailure(app: INestApplicationContext): Promise<Error> {
  return app.get(ListenerService).failure;
}

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
    const { healthPort: port, healthHost: host } = config.listener;
    await app.listen(port, host);
    log.info({ host, port }, 'health endpoints on /healthz and /readyz');
    if (config.ui.enable) {
      log.info(
        {
          host,
          port,
          path: config.ui.path,
          auth: config.ui.basic !== undefined || config.ui.token !== undefined,
        },
        'Bull Board on the health port',
      );
    }
  } else {
    await app.init();
  }
  return app;
}

/** Settles when the listener cannot serve a scale set because the configuration is wrong. */
export function listenerFailure(app: INestApplicationContext): Promise<Error> {
  return app.get(ListenerService).failure;
}

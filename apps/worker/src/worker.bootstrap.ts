import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import type { ScalesetConfig } from '@app/config';
import { NestLogger, NOOP_TELEMETRY, type Logger, type Telemetry } from '@app/telemetry';
import { WorkerModule } from './worker.module';

/**
 * Creates and starts the worker app; the caller closes it on shutdown. `telemetry` comes from
 * `startTelemetry`, once per process; the default records nothing.
 */
export async function bootstrapWorker(
  config: ScalesetConfig,
  logger: Logger,
  telemetry: Telemetry = NOOP_TELEMETRY,
): Promise<INestApplicationContext> {
  const module = WorkerModule.forRoot(config, logger, telemetry);
  const app = await NestFactory.createApplicationContext(module, {
    logger: new NestLogger(logger.child({ role: 'worker' })),
  });
  await app.init();
  return app;
}

import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import type { ScalesetConfig } from '@app/config';
import { NestLogger, type Logger } from '@app/telemetry';
import { WorkerModule } from './worker.module';

/** Creates and starts the worker app; the caller closes it on shutdown. */
export async function bootstrapWorker(
  config: ScalesetConfig,
  logger: Logger,
): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config, logger), {
    logger: new NestLogger(logger.child({ role: 'worker' })),
  });
  await app.init();
  return app;
}

import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import type { ScalesetConfig } from '@app/config';
import { NestLogger, type Logger } from '@app/telemetry';
import { ListenerModule } from './listener.module';

/** Creates and starts the listener app; the caller closes it on shutdown. */
export async function bootstrapListener(
  config: ScalesetConfig,
  logger: Logger,
): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(ListenerModule.forRoot(config), {
    logger: new NestLogger(logger.child({ role: 'listener' })),
  });
  await app.init();
  return app;
}

import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import type { ComputeEngine, ComputeEngineConfig } from '@app/compute';
import type { ScalesetConfig } from '@app/config';
import { NestLogger, NOOP_TELEMETRY, type Logger, type Telemetry } from '@app/telemetry';
import { WorkerModule } from './worker.module';

/**
 * Creates and starts the worker app (with its health server when `worker.health_port` is set);
 * the caller closes it on shutdown. `telemetry` comes from `startTelemetry`, once per process;
 * the default records nothing. `options.createEngine` replaces the engine factory (tests use it
 * to give a cloud engine offline credentials).
 */
export async function bootstrapWorker(
  config: ScalesetConfig,
  logger: Logger,
  telemetry: Telemetry = NOOP_TELEMETRY,
  options: { readonly createEngine?: (config: ComputeEngineConfig) => ComputeEngine } = {},
): Promise<INestApplicationContext> {
  const log = logger.child({ role: 'worker' });
  const module = WorkerModule.forRoot(config, logger, telemetry, options.createEngine);
  if (config.worker.healthPort > 0) {
    const { healthPort: port, healthHost: host } = config.worker;
    const app = await NestFactory.create(module, { logger: new NestLogger(log) });
    await app.listen(port, host);
    log.info({ host, port }, 'health endpoints on /healthz and /readyz');
    return app;
  }
  const app = await NestFactory.createApplicationContext(module, {
    logger: new NestLogger(log),
  });
  await app.init();
  return app;
}

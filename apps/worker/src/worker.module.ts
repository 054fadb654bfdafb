import {
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ComputeEngines } from '@app/compute';
import { bullPrefix, ConfigModule, redisClientOptions, type ScalesetConfig } from '@app/config';
import { QueueModule } from '@app/queue';
import { RegistryModule, RunnerRegistry } from '@app/registry';
import { ScaleSetClient, ScaleSetModule, scaleSetClientOptionsFromConfig } from '@app/scaleset';
import type { Logger } from '@app/telemetry';
import { RunnerLifecycle } from './runner.lifecycle';
import {
  configuredRunnersProcessor,
  RUNNERS_PROCESSOR_SETTINGS,
  runnersWorkerOptions,
  type RunnersProcessorSettings,
} from './runners.processor';
import { reconcileProviders } from './reconcile';
import { WorkerService } from './worker.service';

/** Injection token of the worker's structured (pino) logger. */
export const WORKER_LOGGER = 'WORKER_LOGGER';

@Injectable()
class ComputeEnginesCloser implements OnApplicationShutdown {
  constructor(@Inject(ComputeEngines) private readonly engines: ComputeEngines) {}

  async onApplicationShutdown(): Promise<void> {
    await this.engines.close();
  }
}

/**
 * The worker app: the `runners` queue processor (start-runner, destroy-runner) on top of the
 * registry, the queues, the scale set client and one compute engine per scale set. The
 * `reconcile` queue is registered (producers may add to it) but not processed yet; its
 * processor will sit next to the runners processor here.
 */
@Module({})
export class WorkerModule {
  /** Wires the worker from the validated config; `logger` receives the structured logs. */
  static forRoot(config: ScalesetConfig, logger: Logger): DynamicModule {
    const redisOptions = redisClientOptions(config.redis);
    const workerLogger = logger.child({ role: 'worker' });
    const settings: RunnersProcessorSettings = {
      scaleSets: new Set(config.scaleSets.map((s) => s.name)),
      startAttempts: config.worker.startAttempts,
      destroyAttempts: config.worker.destroyAttempts,
      shutdownTimeoutMs: config.worker.shutdownTimeoutMs,
    };
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot(config),
        RegistryModule.forRoot({
          url: config.redis.url,
          prefix: config.redis.prefix,
          redisOptions,
        }),
        QueueModule.forRoot({
          url: config.redis.url,
          role: 'worker',
          prefix: bullPrefix(config.redis),
          redisOptions,
        }),
        ScaleSetModule.forRoot(
          scaleSetClientOptionsFromConfig(config, { subsystem: 'worker', logger: workerLogger }),
        ),
      ],
      providers: [
        { provide: WORKER_LOGGER, useValue: workerLogger },
        {
          // Built at boot, so a bad engine section fails startup, not the first job.
          provide: ComputeEngines,
          useFactory: () => new ComputeEngines(config.scaleSets, config.deployment.id),
        },
        ComputeEnginesCloser,
        {
          provide: RunnerLifecycle,
          inject: [RunnerRegistry, ScaleSetClient, ComputeEngines, WORKER_LOGGER],
          useFactory: (
            registry: RunnerRegistry,
            github: ScaleSetClient,
            compute: ComputeEngines,
            log: Logger,
          ) => new RunnerLifecycle({ registry, github, compute, logger: log }),
        },
        { provide: RUNNERS_PROCESSOR_SETTINGS, useValue: settings },
        configuredRunnersProcessor(runnersWorkerOptions(config.worker)),
        ...reconcileProviders(config, workerLogger.child({ component: 'reconcile' })),
        WorkerService,
      ],
    };
  }
}

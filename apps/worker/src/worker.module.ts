import {
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { getQueueToken, type WorkerHost } from '@nestjs/bullmq';
import {
  ComputeEngine,
  ComputeEngines,
  createComputeEngine,
  type ComputeEngineConfig,
  type EngineInstance,
  type EngineKind,
  type EngineRef,
  type EngineTarget,
  type OwnerLabels,
  type RunnerSpec,
} from '@app/compute';
import { bullPrefix, ConfigModule, redisClientOptions, type ScalesetConfig } from '@app/config';
import { QueueModule, QUEUES } from '@app/queue';
import { REGISTRY_REDIS, RegistryModule, RunnerRegistry, type RedisClient } from '@app/registry';
import { ScaleSetClient, ScaleSetModule, scaleSetClientOptionsFromConfig } from '@app/scaleset';
import {
  githubRequestObserver,
  instrumentEngineCall,
  NOOP_TELEMETRY,
  registerQueueCollectors,
  Telemetry,
  TelemetryAttributes as A,
  type Attributes,
  type EngineOperation,
  type JobCountsSource,
  type Logger,
} from '@app/telemetry';
import {
  HEALTH_PING_TIMEOUT_MS,
  WORKER_HEALTH_SOURCES,
  WorkerHealthController,
  type HealthWorker,
  type WorkerHealthSources,
} from './health.controller';
import { RunnerLifecycle } from './runner.lifecycle';
import {
  configuredRunnersProcessor,
  RUNNERS_PROCESSOR_SETTINGS,
  runnersWorkerOptions,
  type RunnersProcessorSettings,
} from './runners.processor';
import { reconcileProviders, ReconcileProcessor } from './reconcile';
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
  /**
   * Wires the worker from the validated config; `logger` receives the structured logs,
   * `telemetry` (from `startTelemetry`, once per process) the spans and metrics.
   * `createEngine` builds each engine from its config (tests give engines offline credentials).
   */
  static forRoot(
    config: ScalesetConfig,
    logger: Logger,
    telemetry: Telemetry = NOOP_TELEMETRY,
    createEngine: (config: ComputeEngineConfig) => ComputeEngine = createComputeEngine,
  ): DynamicModule {
    const redisOptions = redisClientOptions(config.redis);
    const workerLogger = logger.child({ role: 'worker' });
    const settings: RunnersProcessorSettings = {
      scaleSets: new Set(config.scaleSets.map((s) => s.name)),
      startAttempts: config.worker.startAttempts,
      destroyAttempts: config.worker.destroyAttempts,
      shutdownTimeoutMs: config.worker.shutdownTimeoutMs,
    };
    const runnersProcessor = configuredRunnersProcessor(runnersWorkerOptions(config.worker));
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
          scaleSetClientOptionsFromConfig(config, {
            subsystem: 'worker',
            logger: workerLogger,
            onRequest: githubRequestObserver(telemetry),
          }),
        ),
      ],
      // Routed only when the app is an HTTP app (`worker.health_port` > 0, bootstrapWorker).
      controllers: [WorkerHealthController],
      providers: [
        { provide: WORKER_LOGGER, useValue: workerLogger },
        { provide: Telemetry, useValue: telemetry },
        {
          // Built at boot, so a bad engine section fails startup, not the first job. Every
          // engine call gets its span (`engine.docker.StartRunner`) and duration metrics.
          provide: ComputeEngines,
          useFactory: () =>
            new ComputeEngines(
              config.scaleSets,
              config.deployment.id,
              (engine) => new InstrumentedEngine(createEngine(engine), telemetry),
            ),
        },
        {
          provide: 'WORKER_QUEUE_COLLECTORS',
          inject: [getQueueToken(QUEUES.runners), getQueueToken(QUEUES.reconcile)],
          useFactory: (...queues: JobCountsSource[]) => registerQueueCollectors(telemetry, queues),
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
          ) => new RunnerLifecycle({ registry, github, compute, logger: log, telemetry }),
        },
        { provide: RUNNERS_PROCESSOR_SETTINGS, useValue: settings },
        runnersProcessor,
        ...reconcileProviders(config, workerLogger.child({ component: 'reconcile' })),
        WorkerService,
        {
          provide: WORKER_HEALTH_SOURCES,
          inject: [runnersProcessor, ReconcileProcessor, REGISTRY_REDIS],
          useFactory: (
            runners: WorkerHost,
            reconcile: WorkerHost,
            redis: RedisClient,
          ): WorkerHealthSources => ({
            workers: () => [
              { queue: QUEUES.runners, worker: workerOf(runners) },
              { queue: QUEUES.reconcile, worker: workerOf(reconcile) },
            ],
            ping: () => redis.ping(),
            pingTimeoutMs: HEALTH_PING_TIMEOUT_MS,
          }),
        },
      ],
    };
  }
}

/** The BullMQ worker of a processor, `undefined` before Nest created it. */
function workerOf(host: WorkerHost): HealthWorker | undefined {
  try {
    return host.worker;
  } catch {
    return undefined;
  }
}

/** A compute engine whose calls are traced and measured (engine kind and operation). */
class InstrumentedEngine extends ComputeEngine {
  readonly kind: EngineKind;
  override readonly seesAllInstances: boolean;

  constructor(
    private readonly inner: ComputeEngine,
    private readonly telemetry: Telemetry,
  ) {
    super();
    this.kind = inner.kind;
    this.seesAllInstances = inner.seesAllInstances;
  }

  start(spec: RunnerSpec, signal?: AbortSignal): Promise<EngineRef> {
    return this.call(
      'start',
      { [A.runnerName]: spec.name, [A.scaleSetName]: spec.scaleSetName },
      () => this.inner.start(spec, signal),
    );
  }

  destroy(target: EngineTarget, signal?: AbortSignal): Promise<void> {
    return this.call('destroy', { [A.runnerName]: target.name }, () =>
      this.inner.destroy(target, signal),
    );
  }

  list(owner: OwnerLabels, signal?: AbortSignal): Promise<EngineInstance[]> {
    return this.call('list', {}, () => this.inner.list(owner, signal));
  }

  inspect(name: string, signal?: AbortSignal): Promise<EngineInstance | null> {
    return this.call('inspect', { [A.runnerName]: name }, () => this.inner.inspect(name, signal));
  }

  override async close(): Promise<void> {
    await this.inner.close?.();
  }

  private call<T>(
    operation: EngineOperation,
    attributes: Attributes,
    fn: () => Promise<T>,
  ): Promise<T> {
    return instrumentEngineCall(this.telemetry, { engine: this.kind, operation, attributes }, fn);
  }
}

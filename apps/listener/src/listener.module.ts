import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { bullPrefix, ConfigModule, redisClientOptions, type ScalesetConfig } from '@app/config';
import { getQueueToken } from '@nestjs/bullmq';
import { QueueModule, QUEUES } from '@app/queue';
import { RegistryModule } from '@app/registry';
import {
  NOOP_TELEMETRY,
  registerQueueCollectors,
  Telemetry,
  type JobCountsSource,
  type Logger,
} from '@app/telemetry';
import { HealthController } from './health.controller';
import { LISTENER_LOGGER, ListenerService } from './listener.service';
import { UiModule } from './ui/ui.module';

/** The listener app: one lease, one message session and one poll loop per scale set. */
@Module({})
export class ListenerModule {
  static forRoot(
    config: ScalesetConfig,
    logger: Logger,
    telemetry: Telemetry = NOOP_TELEMETRY,
  ): DynamicModule {
    const redisOptions = redisClientOptions(config.redis);
    return {
      module: ListenerModule,
      imports: [
        ConfigModule.forRoot(config),
        RegistryModule.forRoot({
          url: config.redis.url,
          prefix: config.redis.prefix,
          redisOptions,
        }),
        // Producer only: the listener never runs a BullMQ Worker.
        QueueModule.forRoot({
          url: config.redis.url,
          role: 'producer',
          prefix: bullPrefix(config.redis),
          redisOptions,
        }),
        // Bull Board needs the HTTP server; config validation rejects ui.enable without it.
        ...(config.ui.enable && config.listener.healthPort > 0
          ? [UiModule.forRoot(config.ui)]
          : []),
      ],
      controllers: [HealthController],
      providers: [
        ListenerService,
        { provide: LISTENER_LOGGER, useValue: logger },
        { provide: Telemetry, useValue: telemetry },
        queueCollectorsProvider(telemetry),
      ],
    };
  }
}

/** Queue depth collectors (read from Redis at scrape time), removed on shutdown. */
function queueCollectorsProvider(telemetry: Telemetry): Provider {
  return {
    provide: 'LISTENER_QUEUE_COLLECTORS',
    inject: [getQueueToken(QUEUES.runners), getQueueToken(QUEUES.reconcile)],
    useFactory: (...queues: JobCountsSource[]) => registerQueueCollectors(telemetry, queues),
  };
}

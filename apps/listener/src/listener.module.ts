import { Module, type DynamicModule } from '@nestjs/common';
import { bullPrefix, ConfigModule, redisClientOptions, type ScalesetConfig } from '@app/config';
import { QueueModule } from '@app/queue';
import { RegistryModule } from '@app/registry';
import type { Logger } from '@app/telemetry';
import { HealthController } from './health.controller';
import { LISTENER_LOGGER, ListenerService } from './listener.service';

/** The listener app: one lease, one message session and one poll loop per scale set. */
@Module({})
export class ListenerModule {
  static forRoot(config: ScalesetConfig, logger: Logger): DynamicModule {
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
      ],
      controllers: [HealthController],
      providers: [ListenerService, { provide: LISTENER_LOGGER, useValue: logger }],
    };
  }
}

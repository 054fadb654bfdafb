import { BullModule, getQueueToken } from '@nestjs/bullmq';
import { Module, type DynamicModule } from '@nestjs/common';
import type { Queue, RedisOptions } from 'bullmq';

import { JobProducer } from './job.producer';
import { producerConnectionOptions, workerConnectionOptions } from './queue.connections';
import { DEFAULT_BULL_PREFIX, QUEUES } from './queue.definitions';

/** Options of {@link QueueModule.forRoot}, taken from the validated config. */
export interface QueueModuleOptions {
  /** `redis://` or `rediss://` URL. */
  readonly url: string;
  /**
   * `producer` (listener): connections fail fast while Redis is down. `worker`: connections
   * retry forever, as BullMQ workers need. Processors are never registered here.
   */
  readonly role: 'producer' | 'worker';
  /** BullMQ key prefix; keep the braces (hash tag) for Redis Cluster. Default `{scaleset}`. */
  readonly prefix?: string;
  /** Extra ioredis options (TLS, timeouts). */
  readonly redisOptions?: RedisOptions;
}

/**
 * Registers our queues with @nestjs/bullmq as producers (no `Worker` is started here) and
 * provides {@link JobProducer}. The worker app adds its `@Processor` classes next to it.
 */
@Module({})
export class QueueModule {
  /** Wires the queues from config values. */
  static forRoot(options: QueueModuleOptions): DynamicModule {
    const connection =
      options.role === 'producer'
        ? producerConnectionOptions(options.url, options.redisOptions)
        : workerConnectionOptions(options.url, options.redisOptions);
    return {
      module: QueueModule,
      imports: [
        BullModule.forRoot({ connection, prefix: options.prefix ?? DEFAULT_BULL_PREFIX }),
        BullModule.registerQueue({ name: QUEUES.runners }, { name: QUEUES.reconcile }),
      ],
      providers: [
        {
          provide: JobProducer,
          inject: [getQueueToken(QUEUES.runners), getQueueToken(QUEUES.reconcile)],
          useFactory: (runners: Queue, reconcile: Queue) => new JobProducer({ runners, reconcile }),
        },
      ],
      exports: [BullModule, JobProducer],
    };
  }
}

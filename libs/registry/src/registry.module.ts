import {
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';

import { LeaseManager } from './lease.manager';
import { MessageCursor } from './message.cursor';
import { RunnerRegistry } from './runner.registry';

/** Injection token of the ioredis connection the registry lib uses. */
export const REGISTRY_REDIS = 'REGISTRY_REDIS';

/** Options of {@link RegistryModule.forRoot}, taken from the validated config. */
export interface RegistryModuleOptions {
  /** `redis://` or `rediss://` URL. */
  readonly url: string;
  /** Key prefix (default `scaleset`). */
  readonly prefix?: string;
  /** Tombstone TTL of deleted runners in ms (default 1 hour). */
  readonly tombstoneTtlMs?: number;
  /** Extra ioredis options (TLS, Sentinel, timeouts). */
  readonly redisOptions?: RedisOptions;
}

@Injectable()
class RegistryConnectionCloser implements OnApplicationShutdown {
  constructor(@Inject(REGISTRY_REDIS) private readonly redis: Redis) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.redis.status !== 'end') {
      await this.redis.quit();
    }
  }
}

/** Provides {@link RunnerRegistry}, {@link LeaseManager} and {@link MessageCursor} on one connection. */
@Module({})
export class RegistryModule {
  /** Wires the registry lib from config values; the connection closes on application shutdown. */
  static forRoot(options: RegistryModuleOptions): DynamicModule {
    const prefix = options.prefix === undefined ? {} : { prefix: options.prefix };
    return {
      module: RegistryModule,
      global: true,
      providers: [
        {
          provide: REGISTRY_REDIS,
          useFactory: () => new Redis(options.url, { ...options.redisOptions }),
        },
        RegistryConnectionCloser,
        {
          provide: RunnerRegistry,
          inject: [REGISTRY_REDIS],
          useFactory: (redis: Redis) =>
            new RunnerRegistry(redis, {
              ...prefix,
              ...(options.tombstoneTtlMs === undefined
                ? {}
                : { tombstoneTtlMs: options.tombstoneTtlMs }),
            }),
        },
        {
          provide: LeaseManager,
          inject: [REGISTRY_REDIS],
          useFactory: (redis: Redis) => new LeaseManager(redis, prefix),
        },
        {
          provide: MessageCursor,
          inject: [REGISTRY_REDIS],
          useFactory: (redis: Redis) => new MessageCursor(redis, prefix),
        },
      ],
      exports: [REGISTRY_REDIS, RunnerRegistry, LeaseManager, MessageCursor],
    };
  }
}

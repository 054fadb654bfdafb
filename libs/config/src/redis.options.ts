import type { RedisConfig } from './config.types';

/** Connection options for ioredis that the URL alone cannot carry (credentials, TLS). */
export interface RedisClientOptions {
  readonly username?: string;
  readonly password?: string;
  readonly tls?: {
    readonly ca?: string;
    readonly cert?: string;
    readonly key?: string;
    readonly rejectUnauthorized: boolean;
  };
}

/** Maps the validated `redis` section to ioredis options (used with `redis.url`). */
export function redisClientOptions(redis: RedisConfig): RedisClientOptions {
  return {
    ...(redis.username !== undefined && { username: redis.username }),
    ...(redis.password !== undefined && { password: redis.password }),
    ...(redis.tls !== undefined && { tls: { ...redis.tls } }),
  };
}

/** The BullMQ key prefix: braces make every key of a queue hash to one Redis Cluster slot. */
export function bullPrefix(redis: RedisConfig): string {
  return `{${redis.prefix}}`;
}

import type { RedisOptions } from 'bullmq';
import { Redis } from 'ioredis';

import { InvalidRedisUrlError } from './errors';

/**
 * Turns a `redis://` / `rediss://` URL into connection options. The type is BullMQ's view of
 * ioredis options, which both `new Queue({ connection })` and `new Redis(options)` accept.
 */
export function redisOptionsFromUrl(url: string): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new InvalidRedisUrlError('not a URL', { cause });
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new InvalidRedisUrlError(`scheme ${parsed.protocol} is not redis: or rediss:`);
  }
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) {
    throw new InvalidRedisUrlError('the path must be a database number');
  }
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    ...(parsed.username === '' ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
    ...(db === '' ? {} : { db: Number(db) }),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/**
 * Options for producer connections (the listener's queues): `enableOfflineQueue: false`, so an
 * enqueue fails at once while Redis is down, and the listener does not acknowledge the message
 * (BullMQ going-to-production.md).
 */
export function producerConnectionOptions(url: string, extra: RedisOptions = {}): RedisOptions {
  return { ...redisOptionsFromUrl(url), ...extra, enableOfflineQueue: false };
}

/**
 * Options for worker connections: `maxRetriesPerRequest: null`, which BullMQ workers require so
 * blocking commands survive reconnects instead of failing the worker.
 */
export function workerConnectionOptions(url: string, extra: RedisOptions = {}): RedisOptions {
  return { ...redisOptionsFromUrl(url), ...extra, maxRetriesPerRequest: null };
}

/** A new producer connection (see {@link producerConnectionOptions}); the caller closes it. */
export function createProducerConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(producerConnectionOptions(url, extra));
}

/** A new worker connection (see {@link workerConnectionOptions}); the caller closes it. */
export function createWorkerConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(workerConnectionOptions(url, extra));
}

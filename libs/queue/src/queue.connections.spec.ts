import { InvalidRedisUrlError } from './errors';
import {
  producerConnectionOptions,
  redisOptionsFromUrl,
  workerConnectionOptions,
} from './queue.connections';

describe('connection options', () => {
  it('reads host, port, credentials, db and TLS from the URL', () => {
    expect(redisOptionsFromUrl('redis://127.0.0.1:6390')).toEqual({
      host: '127.0.0.1',
      port: 6390,
    });
    expect(redisOptionsFromUrl('rediss://user:p%40ss@redis.internal/2')).toEqual({
      host: 'redis.internal',
      port: 6379,
      username: 'user',
      password: 'p@ss',
      db: 2,
      tls: {},
    });
    expect(redisOptionsFromUrl('redis://[::1]:7000')).toMatchObject({ host: '::1', port: 7000 });
  });

  it('makes producers fail fast and workers retry forever', () => {
    expect(producerConnectionOptions('redis://h:1', { enableOfflineQueue: true })).toMatchObject({
      enableOfflineQueue: false,
    });
    expect(workerConnectionOptions('redis://h:1', { maxRetriesPerRequest: 3 })).toMatchObject({
      maxRetriesPerRequest: null,
    });
  });

  it.each(['not a url', 'http://h:1', 'redis://h:1/abc'])('rejects %j', (url) => {
    expect(() => redisOptionsFromUrl(url)).toThrow(InvalidRedisUrlError);
  });

  it('never echoes the password in its errors', () => {
    const error: unknown = (() => {
      try {
        redisOptionsFromUrl('http://user:hunter2-secret@h:1');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(InvalidRedisUrlError);
    expect((error as Error).message).not.toContain('hunter2-secret');
  });
});

import { Redis } from 'ioredis';

import { scanRedisForSecret, startRedisServer, type RedisServer } from './redis-server';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startRedisServer', () => {
  const servers: RedisServer[] = [];
  const clients: Redis[] = [];

  const start = async (options?: Parameters<typeof startRedisServer>[0]): Promise<RedisServer> => {
    const server = await startRedisServer(options);
    servers.push(server);
    return server;
  };

  const connect = (server: RedisServer): Redis => {
    const client = new Redis(server.url, { maxRetriesPerRequest: 50 });
    clients.push(client);
    return client;
  };

  afterEach(async () => {
    for (const client of clients.splice(0)) {
      // disconnect() on a client whose socket is already closed arms a 2 s ioredis timer.
      if (client.status === 'ready') {
        await client.quit();
      } else if (client.status !== 'end') {
        client.disconnect();
      }
    }
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  it('starts a real redis-server on a free loopback port and stops it by pid', async () => {
    const server = await start();
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    const client = connect(server);
    await client.set('k', 'v');
    expect(await client.get('k')).toBe('v');
    const pid = server.pid;
    expect(isRunning(pid)).toBe(true);
    await client.quit();
    await server.stop();
    expect(isRunning(pid)).toBe(false);
  });

  it('starts two servers side by side', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    expect(a.port).not.toBe(b.port);
    await connect(a).set('only-a', '1');
    expect(await connect(b).exists('only-a')).toBe(0);
  });

  it('keeps data across a crash (SIGKILL) restart with appendonly on', async () => {
    const server = await start({ appendonly: true, appendfsync: 'always' });
    const client = connect(server);
    await client.set('survives', 'yes');
    const oldPid = server.pid;
    await server.restart({ signal: 'SIGKILL' });
    expect(server.pid).not.toBe(oldPid);
    expect(isRunning(oldPid)).toBe(false);
    expect(await client.get('survives')).toBe('yes');
  });

  it('loses data on restart without persistence', async () => {
    const server = await start();
    const client = connect(server);
    await client.set('gone', 'yes');
    await server.restart();
    expect(await client.get('gone')).toBeNull();
  });
});

describe('scanRedisForSecret', () => {
  const SECRET = 'eyJqaXQiOiJ0b3Atc2VjcmV0LWNvbmZpZyJ9';
  let server: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRedisServer();
    redis = new Redis(server.url);
  });

  afterAll(async () => {
    await redis.quit();
    await server.stop();
  });

  beforeEach(async () => {
    await redis.flushall();
  });

  it('finds the secret in every kind of value and in key names', async () => {
    await redis.set('p:string', `before ${SECRET} after`);
    await redis.hset('p:hash', 'data', JSON.stringify({ jit: SECRET }), 'name', 'x');
    await redis.hset('p:hashfield', SECRET, '1');
    await redis.rpush('p:list', 'a', SECRET);
    await redis.sadd('p:set', SECRET);
    await redis.zadd('p:zset', 1, SECRET);
    await redis.xadd('p:stream', '*', 'event', 'added', 'payload', SECRET);
    await redis.set(`p:key-${SECRET}`, 'clean');
    await redis.set('p:clean', 'nothing here');
    await redis.set('other:string', SECRET);

    const report = await scanRedisForSecret(redis, 'p:*', SECRET);
    expect(report.keysScanned).toBe(9);
    expect(report.types).toEqual({ string: 3, hash: 2, list: 1, set: 1, zset: 1, stream: 1 });
    const found = report.findings.map((f) => `${f.key}|${f.where}`).sort();
    expect(found).toEqual(
      [
        'p:hash|hash value',
        `p:hashfield|hash field`,
        'p:list|member',
        'p:set|member',
        'p:stream|stream entry',
        'p:string|value',
        'p:zset|member',
        `p:key-${SECRET}|key name`,
      ].sort(),
    );
  });

  it('finds nothing when the secret is absent, and accepts several encodings', async () => {
    await redis.hset('p:job', 'data', JSON.stringify({ runnerName: 'pool-abc' }));
    const report = await scanRedisForSecret(redis, 'p:*', [
      SECRET,
      Buffer.from(SECRET).toString('base64'),
    ]);
    expect(report).toEqual({ keysScanned: 1, types: { hash: 1 }, findings: [] });
  });

  it('refuses secrets too short to mean anything', async () => {
    await expect(scanRedisForSecret(redis, 'p:*', 'abc')).rejects.toThrow(/at least 8/);
  });
});

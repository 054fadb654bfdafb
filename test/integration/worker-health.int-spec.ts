import { connect, createServer } from 'node:net';
import type { INestApplicationContext } from '@nestjs/common';
import { Redis } from 'ioredis';
import { bootstrapWorker } from '@apps/worker';
import { FakeGitHub, redisUrlForTests } from '@app/testing';
import {
  deleteKeys,
  loadWorkerConfig,
  memoryLogger,
  shortId,
  waitUntil,
} from '../support/worker.fixture';

// The worker's health server (issue 9): bootstrapWorker with `worker.health_port` set serves
// /healthz and /readyz on the shared Redis, and closing the app closes the port. The fake
// GitHub only fills the config (health does not depend on it).

jest.setTimeout(30_000);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}

describe('worker health endpoints', () => {
  let fake: FakeGitHub;
  const prefix = `wh${shortId()}`;
  let app: INestApplicationContext | undefined;

  beforeAll(async () => {
    fake = new FakeGitHub();
    await fake.start();
  });

  afterAll(async () => {
    await app?.close();
    await fake.stop();
    const redis = new Redis(redisUrlForTests());
    try {
      await deleteKeys(redis, [`${prefix}:*`, `{${prefix}}:*`]);
    } finally {
      await redis.quit();
    }
  });

  it('serves /healthz and /readyz on worker.health_port and closes the port with the app', async () => {
    const port = await freePort();
    const config = loadWorkerConfig({
      fake,
      scaleSetName: `wh-${shortId(3)}`,
      image: 'scaleset-worker-test:unused',
      redisUrl: redisUrlForTests(),
      redisPrefix: prefix,
      deploymentId: `wh-${shortId()}`,
      worker: [`health_port: ${port}`, 'health_host: 127.0.0.1'],
    });
    expect(config.worker.healthPort).toBe(port);
    const started = await bootstrapWorker(config, memoryLogger().logger);
    app = started;

    for (const path of ['/healthz', '/readyz']) {
      const res = await waitUntil(async () => {
        const r = await fetch(`http://127.0.0.1:${port}${path}`);
        return r.status === 200 ? r : undefined;
      }, `${path} 200`);
      expect(await res.json()).toEqual({
        status: 'ok',
        redis: 'ok',
        workers: [
          { queue: 'runners', state: 'running' },
          { queue: 'reconcile', state: 'running' },
        ],
      });
    }

    app = undefined;
    await started.close();
    expect(await accepts(port)).toBe(false);
  });
});

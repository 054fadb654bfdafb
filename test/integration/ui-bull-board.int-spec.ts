import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { chromium } from 'playwright-core';
import { bullPrefix, loadConfig, type ScalesetConfig } from '@app/config';
import { FakeGitHub, redisUrlForTests } from '@app/testing';
import { runCli } from '@apps/cli';
import { bootstrapListener } from '@apps/listener';

jest.setTimeout(90_000);

const REDIS_URL = redisUrlForTests();
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const ARTIFACTS = join(tmpdir(), 'scaleset-artifacts');
const USER = 'ops';
const PASSWORD = `pw-${randomUUID()}`;
const TOKEN = `tok-${randomUUID()}`;
const logger = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });

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

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

describe('Bull Board on the listener health port', () => {
  let fake: FakeGitHub;
  let config: ScalesetConfig;
  let app: INestApplicationContext;
  let base: string;
  let runnerName: string;

  beforeAll(async () => {
    fake = new FakeGitHub({ pollTimeoutMs: 400 });
    await fake.start();
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const port = await freePort();
    const yaml = [
      `github:\n  url: ${fake.configUrl('org')}\n  token: ${fake.pat}`,
      `scaleset:\n  name: ui-${prefix}\n  max_runners: 2`,
      'engine:\n  docker:\n    enable: true',
      `redis:\n  url: ${REDIS_URL}\n  prefix: ${prefix}`,
      `listener:\n  health_port: ${port}\n  health_host: 127.0.0.1`,
      'ui:\n  enable: true',
    ].join('\n');
    config = loadConfig({
      env: { SCALESET_UI_USERNAME: USER, SCALESET_UI_PASSWORD: PASSWORD, SCALESET_UI_TOKEN: TOKEN },
      configPath: 'test.yaml',
      readFile: () => yaml,
    });
    app = await bootstrapListener(config, logger);
    base = `http://127.0.0.1:${port}`;

    // One completed start-runner job, processed by a throwaway BullMQ worker.
    const connection = { url: REDIS_URL };
    const bull = { connection, prefix: bullPrefix(config.redis) };
    runnerName = `ui-runner-${prefix}`;
    const queue = new Queue('runners', bull);
    const events = new QueueEvents('runners', bull);
    await events.waitUntilReady();
    const worker = new Worker('runners', () => Promise.resolve({ started: runnerName }), bull);
    const job = await queue.add('start-runner', {
      scaleSetId: 1,
      scaleSetName: config.scaleSets[0]?.name ?? '',
      runnerName,
    });
    await job.waitUntilFinished(events, 20_000);
    await worker.close();
    await events.close();
    await queue.close();
  });

  afterAll(async () => {
    await app.close();
    for (const name of ['runners', 'reconcile']) {
      const queue = new Queue(name, {
        connection: { url: REDIS_URL },
        prefix: bullPrefix(config.redis),
      });
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`*${config.redis.prefix}*`);
    if (keys.length > 0) {
      await redis.del(...keys);
    }
    await redis.quit();
    await fake.stop();
  });

  it('answers 401 with a basic challenge without credentials', async () => {
    for (const path of ['/ui', '/ui/', '/ui/api/queues', '/UI/api/queues', '/ui/queue/runners']) {
      const res = await fetch(`${base}${path}`);
      expect([path, res.status]).toEqual([path, 401]);
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="scaleset"/);
      const body = await res.text();
      expect(body).not.toContain(runnerName);
    }
  });

  it('answers 401 to wrong credentials', async () => {
    for (const authorization of [
      basic(USER, `${PASSWORD}x`),
      basic('admin', PASSWORD),
      `Bearer ${TOKEN}x`,
      `Bearer ${PASSWORD}`,
    ]) {
      const res = await fetch(`${base}/ui/api/queues`, { headers: { authorization } });
      expect(res.status).toBe(401);
    }
  });

  it('keeps /healthz and /readyz unauthenticated', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect([200, 503]).toContain((await fetch(`${base}/readyz`)).status);
  });

  it('lists both queues and the completed job to basic auth and to the bearer token', async () => {
    for (const authorization of [basic(USER, PASSWORD), `Bearer ${TOKEN}`]) {
      const res = await fetch(`${base}/ui/api/queues?activeQueue=runners&status=completed`, {
        headers: { authorization },
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        queues: { name: string; jobs: { name: string; data: unknown }[] }[];
      };
      expect(body.queues.map((q) => q.name).sort()).toEqual(['reconcile', 'runners']);
      const runners = body.queues.find((q) => q.name === 'runners');
      expect(runners?.jobs).toEqual([
        expect.objectContaining({
          name: 'start-runner',
          data: expect.objectContaining({ runnerName }) as unknown,
        }),
      ]);
    }
  });

  it('shows the queues and the completed job in a browser', async () => {
    if (!existsSync(CHROMIUM)) {
      console.warn(
        `SKIPPED the browser check: ${CHROMIUM} not found (apt-get install -y chromium, or set CHROMIUM_PATH)`,
      );
      return;
    }
    const profile = mkdtempSync(join(tmpdir(), 'scaleset-chromium-'));
    // A fresh profile per run; Playwright takes it as launchPersistentContext's userDataDir
    // (it refuses a --user-data-dir argument).
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      httpCredentials: { username: USER, password: PASSWORD },
      viewport: { width: 1400, height: 900 },
    });
    try {
      const page = await context.newPage();
      const res = await page.goto(`${base}/ui`);
      expect(res?.status()).toBe(200);
      await page.getByText('runners', { exact: true }).first().waitFor({ timeout: 20_000 });
      await page.getByText('reconcile', { exact: true }).first().waitFor({ timeout: 20_000 });

      await page.goto(`${base}/ui/queue/runners?status=completed`);
      await page.getByText(runnerName).first().waitFor({ timeout: 20_000 });
      await page.getByText('start-runner').first().waitFor({ timeout: 20_000 });

      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = join(ARTIFACTS, 'bull-board.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`Bull Board screenshot: ${shot}`);
      expect(existsSync(shot)).toBe(true);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});

describe('ui configuration at start-up', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scaleset-ui-config-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(
    command: string[],
    yaml: string,
    env: Record<string, string> = {},
  ): Promise<{ code: number; out: string; err: string }> {
    const file = join(dir, `${randomUUID()}.yaml`);
    writeFileSync(
      file,
      [
        'github:\n  url: https://github.com/org\n  token: ghp_example',
        'scaleset:\n  name: ui-cli',
        'engine:\n  docker:\n    enable: true',
        yaml,
      ].join('\n'),
    );
    let out = '';
    let err = '';
    const code = await runCli([...command, '--config', file], {
      stdout: (t) => (out += t),
      stderr: (t) => (err += t),
      env,
      cwd: dir,
      stopSignal: () => new Promise<string>(() => undefined),
    });
    return { code, out, err };
  }

  it('refuses to start the listener with ui.enable and no credentials on 0.0.0.0 (exit 2)', async () => {
    const result = await run(['listener'], 'ui:\n  enable: true');
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/^\s*ui\.password: is required when ui\.enable is true/m);
  });

  it('validates a loopback-only ui without credentials, and redacts configured ones', async () => {
    const loopback = await run(
      ['config', 'validate'],
      'ui:\n  enable: true\nlistener:\n  health_host: 127.0.0.1',
    );
    expect(loopback.err).not.toMatch(/ui\./);
    expect(loopback.code).toBe(0);
    const secret = `pw-${randomUUID()}`;
    const withPassword = await run(['config', 'validate'], 'ui:\n  enable: true', {
      SCALESET_UI_USERNAME: 'ops',
      SCALESET_UI_PASSWORD: secret,
    });
    expect(withPassword.code).toBe(0);
    expect(withPassword.out).toContain('ops');
    expect(withPassword.out).not.toContain(secret);
  });
});

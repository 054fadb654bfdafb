import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { RunnerRegistry } from '@app/registry';
import { ScaleSetClient } from '@app/scaleset';
import { FakeGitHub, redisUrlForTests } from '@app/testing';
import { TestWorker } from '../integration/listener/test-worker';

// Two real `scaleset listener` processes for one scale set; the one holding the session is
// killed with SIGKILL and the other must take over from the persisted cursor.
jest.setTimeout(120_000);

const BIN = join(__dirname, '..', '..', 'bin', 'scaleset.js');
const REDIS_URL = redisUrlForTests();

interface Proc {
  child: ChildProcess;
  log: () => string;
}

function startListener(configPath: string): Proc {
  const child = spawn(process.execPath, [BIN, 'listener', '--config', configPath], {
    env: { PATH: process.env['PATH'] ?? '' },
  });
  let log = '';
  child.stderr.on('data', (d: Buffer) => {
    log += d.toString();
  });
  return { child, log: () => log };
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('listener hand-over between replicas', () => {
  const fake = new FakeGitHub({ pollTimeoutMs: 1000, jobDurationMs: 2500 });
  const prefix = `fo${randomUUID().slice(0, 8)}`;
  let dir: string;
  let redis: Redis;
  let client: ScaleSetClient;
  let worker: TestWorker;
  const procs: Proc[] = [];

  beforeAll(async () => {
    await fake.start();
    dir = mkdtempSync(join(tmpdir(), 'scaleset-failover-'));
    writeFileSync(
      join(dir, 'config.yaml'),
      [
        `github:\n  url: ${fake.configUrl('org')}\n  token: ${fake.pat}`,
        `scaleset:\n  name: failover-${prefix}\n  max_runners: 3`,
        'engine:\n  docker:\n    enable: true',
        `redis:\n  url: ${REDIS_URL}\n  prefix: ${prefix}`,
        'listener:\n  lease_ttl: 3s\n  health_port: 0\n  reevaluate_interval: 1s',
        'logging:\n  format: json\n',
      ].join('\n'),
    );
    redis = new Redis(REDIS_URL);
    client = new ScaleSetClient({
      configUrl: fake.configUrl('org'),
      auth: { kind: 'pat', token: fake.pat },
      retry: { max: 2, waitMinMs: 10, waitMaxMs: 50 },
    });
    worker = new TestWorker({
      redisUrl: REDIS_URL,
      bullPrefix: `{${prefix}}`,
      registry: new RunnerRegistry(redis, { prefix }),
      client,
      fake,
      takeJobs: true,
    });
    worker.start();
  });

  afterAll(async () => {
    for (const p of procs) {
      p.child.kill('SIGKILL');
    }
    await worker.stop();
    await client.close();
    const queue = new Queue('runners', { connection: { url: REDIS_URL }, prefix: `{${prefix}}` });
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    const keys = await redis.keys(`*${prefix}*`);
    if (keys.length > 0) {
      await redis.del(...keys);
    }
    await redis.quit();
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the standby takes over within the lease TTL after SIGKILL, from the persisted cursor, starting nothing twice', async () => {
    const config = join(dir, 'config.yaml');
    const a = startListener(config);
    procs.push(a);
    await until('a session', () => fake.sessions().length === 1);
    const b = startListener(config);
    procs.push(b);
    await until('the standby is up', () => b.log().includes('listener started'));
    await new Promise((r) => setTimeout(r, 500));
    expect(fake.requestsFor('createSession').filter((r) => r.status === 200)).toHaveLength(1);

    fake.queueJobs(6, { durationMs: 2500 });
    await until('runners working', () => fake.jobs().some((j) => j.state === 'running'));

    const holder = a.log().includes('message session created') ? a : b;
    const standby = holder === a ? b : a;
    const oldSession = fake.sessions()[0]?.sessionId;
    const ackedBefore = fake.requestsFor('deleteMessage').filter((r) => r.status === 204).length;
    const killedAt = Date.now();
    holder.child.kill('SIGKILL');

    await until(
      'the standby holds a session',
      () => standby.log().includes('message session created'),
      30_000,
    );
    const createdAt =
      fake
        .requestsFor('createSession')
        .filter((r) => r.status === 200)
        .at(-1)?.at ?? 0;
    const gapSeconds = (createdAt - killedAt) / 1000;
    console.log(
      `listener failover: new session ${gapSeconds.toFixed(2)} s after SIGKILL (lease TTL 3 s)`,
    );
    expect(gapSeconds).toBeLessThan(3 + 5);

    // The dead leader's session was deleted by the new one (fast hand-over, no 409 wait).
    expect(fake.requestsFor('deleteSession').some((r) => r.path.includes(oldSession ?? '-'))).toBe(
      true,
    );
    expect(fake.requestsFor('createSession').filter((r) => r.status === 409)).toHaveLength(0);

    // It resumed from the cursor the dead leader persisted.
    const firstPoll = fake.requestsFor('getMessage').find((r) => r.at > createdAt);
    await until('a poll by the new leader', () =>
      fake.requestsFor('getMessage').some((r) => r.at > createdAt),
    );
    const resumedFrom = Number(
      (firstPoll ?? fake.requestsFor('getMessage').find((r) => r.at > createdAt))?.query[
        'lastMessageId'
      ] ?? 0,
    );
    expect(ackedBefore).toBeGreaterThan(0);
    expect(resumedFrom).toBeGreaterThan(0);

    await until(
      'all jobs completed',
      () => fake.jobs().every((j) => j.state === 'completed'),
      60_000,
    );
    expect(worker.starts).toHaveLength(6);
    expect(new Set(worker.starts).size).toBe(6);
  });
});

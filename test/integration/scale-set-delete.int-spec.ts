import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RunnerRegistry } from '@app/registry';
import { ScaleSetClient } from '@app/scaleset';
import { FakeGitHub, redisUrlForTests } from '@app/testing';
import { runCli, type CliIo } from '@apps/cli';

const REDIS_URL = redisUrlForTests();

describe('scaleset scaleset delete', () => {
  const fake = new FakeGitHub({ pollTimeoutMs: 200 });
  const prefix = `del${randomUUID().slice(0, 8)}`;
  let dir: string;
  let redis: Redis;
  let client: ScaleSetClient;

  beforeAll(async () => {
    await fake.start();
    dir = mkdtempSync(join(tmpdir(), 'scaleset-delete-'));
    const dockerHost = process.env['DOCKER_HOST'];
    writeFileSync(
      join(dir, 'config.yaml'),
      [
        `github:\n  url: ${fake.configUrl('org')}\n  token: ${fake.pat}`,
        `scaleset:\n  name: doomed-${prefix}`,
        `engine:\n  docker:\n    enable: true${dockerHost === undefined ? '' : `\n    docker_host: ${dockerHost}`}`,
        `redis:\n  url: ${REDIS_URL}\n  prefix: ${prefix}`,
        'logging:\n  level: error\n',
      ].join('\n'),
    );
    redis = new Redis(REDIS_URL);
    client = new ScaleSetClient({
      configUrl: fake.configUrl('org'),
      auth: { kind: 'pat', token: fake.pat },
      retry: { max: 1, waitMinMs: 10, waitMaxMs: 20 },
    });
  });

  afterAll(async () => {
    await client.close();
    await redis.quit();
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const io: CliIo = {
      stdout: (t) => (out += t),
      stderr: (t) => (err += t),
      env: {},
      cwd: dir,
      stopSignal: () => new Promise(() => undefined),
    };
    const code = await runCli(args, io);
    return { code, out, err };
  }

  it('refuses without --yes, then deletes runners, registrations, the scale set and its Redis state', async () => {
    const scaleSet = await client.createRunnerScaleSet({
      name: `doomed-${prefix}`,
      runnerGroupId: 1,
    });
    const registry = new RunnerRegistry(redis, { prefix });
    const names = await registry.reserve({ id: scaleSet.id, name: scaleSet.name }, 2, 5);
    for (const name of names) {
      const jit = await client.generateJitRunnerConfig(scaleSet.id, { name });
      await registry.annotate(scaleSet.id, name, { runnerId: jit.runner.id });
    }
    expect(fake.runners(scaleSet.id)).toHaveLength(2);

    const refused = await run(['scaleset', 'delete']);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('--yes');
    expect(fake.scaleSets().map((s) => s.id)).toContain(scaleSet.id);

    const done = await run(['scaleset', 'delete', '--yes']);
    expect(done.err).toBe('');
    expect(done.code).toBe(0);
    expect(done.out).toContain(`deleted scale set ${scaleSet.id}`);
    expect(done.out).toContain('2 registration(s) removed');
    expect(fake.scaleSets().map((s) => s.id)).not.toContain(scaleSet.id);
    expect(fake.runners(scaleSet.id)).toHaveLength(0);
    expect(await redis.keys(`${prefix}:*`)).toEqual([]);

    const again = await run(['scaleset', 'delete', '--yes']);
    expect(again.out).toContain('not found on GitHub');
  });
});

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeGitHub, redisUrlForTests } from '@app/testing';

// Runs the built `scaleset` binary as users do (scripts/test.mts builds before this tier).
const BIN = join(__dirname, '..', '..', 'bin', 'scaleset.js');

interface Exit {
  code: number | null;
  stderr: string;
  stdout: string;
}

function startScaleset(
  args: string[],
  cwd: string,
): {
  exited: Promise<Exit>;
  waitFor: (text: string) => Promise<void>;
  kill: (signal: NodeJS.Signals) => void;
} {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { PATH: process.env['PATH'] ?? '' },
  });
  let stderr = '';
  let stdout = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  const check = (): void => {
    for (const w of waiters.filter((x) => stderr.includes(x.text))) {
      w.resolve();
    }
  };
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    check();
  });
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  const exited = new Promise<Exit>((resolve) => {
    child.on('exit', (code) => {
      resolve({ code, stderr, stdout });
    });
  });
  return {
    exited,
    waitFor: (text) =>
      new Promise((resolve) => {
        waiters.push({ text, resolve });
        check();
      }),
    kill: (signal) => child.kill(signal),
  };
}

describe('the scaleset binary', () => {
  let dir: string;
  const fake = new FakeGitHub({ pollTimeoutMs: 300 });

  beforeAll(async () => {
    await fake.start();
    dir = mkdtempSync(join(tmpdir(), 'scaleset-e2e-'));
    writeFileSync(
      join(dir, 'config.yaml'),
      [
        `github:\n  url: ${fake.configUrl('org')}`,
        'scaleset:\n  name: e2e-set',
        'engine:\n  docker:\n    enable: true',
        `redis:\n  url: ${redisUrlForTests()}\n  prefix: e2e${process.pid}`,
        'listener:\n  health_port: 0',
        'logging:\n  format: json\n',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await fake.stop();
  });

  it.each([
    [['run'], ['worker started', 'listener started']],
    [[], ['worker started', 'listener started']],
    [['listener'], ['listener started']],
    [['worker'], ['worker started']],
  ])('scaleset %j starts its roles and stops cleanly on SIGTERM', async (args, banners) => {
    const proc = startScaleset([...args, '--token', fake.pat], dir);
    for (const banner of banners) {
      await proc.waitFor(banner);
    }
    proc.kill('SIGTERM');
    const res = await proc.exited;
    expect(res.code).toBe(0);
    expect(res.stderr).toContain('shutting down');
    expect(res.stderr).not.toContain(fake.pat);
  });

  it('serves the fake GitHub service with scaleset dev fake-github', async () => {
    const child = spawn(process.execPath, [BIN, 'dev', 'fake-github', '--port', '0'], {
      env: { PATH: process.env['PATH'] ?? '' },
    });
    let out = '';
    const origin = await new Promise<string>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m?.[1] !== undefined) {
          resolve(m[1]);
        }
      });
    });
    const res = await fetch(`${origin}/_fake/control/info`);
    expect(res.status).toBe(200);
    expect(out).toContain('PAT:');
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('exits 2 without starting anything when the configuration is invalid', async () => {
    const proc = startScaleset(['--max-runners', 'many'], dir);
    const res = await proc.exited;
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('scaleset.max_runners');
    expect(res.stderr).not.toContain('started');
  });
});

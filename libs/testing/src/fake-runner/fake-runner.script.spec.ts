import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeGitHub } from '../fake-github/fake-github.server';
import { FakeWireClient } from '../fake-github/fake-github.wire';
import { fakeRunnerScript } from './fake-runner.script';

const BUSYBOX = '/bin/busybox';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the script with busybox applets first on PATH, as in the runner image. */
function runScript(binDir: string, jitConfig: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(binDir, 'sh'), [fakeRunnerScript().path], {
      env: { PATH: `${binDir}:/usr/bin:/bin`, ACTIONS_RUNNER_INPUT_JITCONFIG: jitConfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

describe('fake-runner.sh', () => {
  let fake: FakeGitHub;
  let binDir: string;

  beforeAll(() => {
    binDir = mkdtempSync(join(tmpdir(), 'fake-runner-bin-'));
    for (const applet of ['sh', 'wget', 'base64', 'sed', 'sleep']) {
      symlinkSync(BUSYBOX, join(binDir, applet));
    }
  });

  afterAll(() => {
    rmSync(binDir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    fake = new FakeGitHub({ pollTimeoutMs: 500 });
    await fake.start();
  });

  afterEach(async () => {
    await fake.stop();
  });

  it('is a POSIX sh script the image builder can copy', () => {
    const script = fakeRunnerScript();
    expect(script.path).toMatch(/fake-runner\.sh$/);
    expect(script.content.startsWith('#!/bin/sh\n')).toBe(true);
    expect(script.content).not.toMatch(/\b(curl|jq|bash)\b/);
  });

  it('takes an assigned job through ACTIONS_RUNNER_INPUT_JITCONFIG, runs it and exits 0', async () => {
    const gh = new FakeWireClient(fake);
    await gh.bootstrap();
    const scaleSetId = await gh.createScaleSet('sh-runners');
    const session = await gh.createSession(scaleSetId);
    const [job] = fake.queueJobs(1, { durationMs: 300, result: 'succeeded' });
    const [assigned] = await gh.collect(session, 1);
    expect(assigned?.messageType).toBe('JobAssigned');

    const res = await gh.admin(
      'POST',
      `_apis/runtime/runnerscalesets/${scaleSetId}/generatejitconfig`,
      { name: 'sh-runner-1', workFolder: '' },
    );
    const { encodedJITConfig } = (await res.json()) as { encodedJITConfig: string };

    const run = await runScript(binDir, encodedJITConfig);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`finished job ${job?.jobId ?? ''}`);

    const seen = await gh.collect(session, 2);
    expect(seen.map((m) => [m.messageType, m.runnerName, m.result])).toEqual([
      ['JobStarted', 'sh-runner-1', undefined],
      ['JobCompleted', 'sh-runner-1', 'succeeded'],
    ]);
    expect(fake.job(job?.jobId ?? '')?.state).toBe('completed');
    expect(fake.runners(scaleSetId)).toHaveLength(0);

    const reused = await runScript(binDir, encodedJITConfig);
    expect(reused.code).toBe(69);
  });

  it('exits non-zero on a missing or foreign JIT config', async () => {
    expect((await runScript(binDir, '')).code).toBe(64);
    expect((await runScript(binDir, Buffer.from('{"a":"b"}').toString('base64'))).code).toBe(65);
  });
});

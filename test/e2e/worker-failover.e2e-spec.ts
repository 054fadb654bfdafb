import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import Dockerode from 'dockerode';
import { Redis } from 'ioredis';
import { RUNNER_LABELS } from '@app/compute';
import { JobProducer, QUEUES, producerConnectionOptions } from '@app/queue';
import { RunnerRegistry } from '@app/registry';
import {
  buildRunnerTestImage,
  decodeFakeJitConfig,
  FakeGitHub,
  fakeRunnerScript,
  redisUrlForTests,
  scanRedisForSecret,
} from '@app/testing';
import {
  containerJitConfig,
  createFakeScaleSet,
  deleteKeys,
  ownedContainers,
  removeOwnedContainers,
  shortId,
  waitUntil,
  workerConfigYaml,
} from '../support/worker.fixture';

// Two real `scaleset worker` processes (the built binary). The one holding a start job is
// killed with SIGKILL in the middle of it (while GitHub is slow to answer the JIT config
// request); BullMQ's stalled-job check hands the job to the other worker, which must finish
// it with exactly one container, one registration and no secret in Redis or the logs.

jest.setTimeout(120_000);

const BIN = join(__dirname, '..', '..', 'bin', 'scaleset.js');
const docker = new Dockerode();

interface WorkerProc {
  readonly child: ChildProcess;
  readonly log: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startWorker(configPath: string): WorkerProc {
  const child = spawn(process.execPath, [BIN, 'worker', '--config', configPath], {
    env: { PATH: process.env['PATH'] ?? '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (d: Buffer) => {
    log += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve({ code, signal });
    });
  });
  return { child, log: () => log, exited };
}

describe('worker failover: SIGKILL in the middle of a start job', () => {
  const scaleSetName = `wf-${shortId(3)}`;
  const prefix = `wf${shortId()}`;
  const owner = `wf-${shortId()}`;
  const fake = new FakeGitHub({ runnerPollTimeoutMs: 2_000 });
  const procs: WorkerProc[] = [];
  let dir: string;
  let configPath: string;
  let scaleSetId: number;
  let redis: Redis;
  let runners: Queue;
  let reconcile: Queue;

  beforeAll(async () => {
    await fake.start();
    scaleSetId = await createFakeScaleSet(fake, scaleSetName);
    const image = (
      await buildRunnerTestImage(docker, {
        tag: 'scaleset-worker-test:fake-runner',
        runScript: fakeRunnerScript().content,
      })
    ).ref;
    dir = mkdtempSync(join(tmpdir(), 'scaleset-worker-e2e-'));
    configPath = join(dir, 'config.yaml');
    writeFileSync(
      configPath,
      workerConfigYaml({
        fake,
        scaleSetName,
        image,
        redisUrl: redisUrlForTests(),
        redisPrefix: prefix,
        deploymentId: owner,
        worker: ['job_lock: 2s', 'shutdown_timeout: 2s'],
      }),
    );
    redis = new Redis(redisUrlForTests());
    const connection = producerConnectionOptions(redisUrlForTests());
    runners = new Queue(QUEUES.runners, { connection, prefix: `{${prefix}}` });
    reconcile = new Queue(QUEUES.reconcile, { connection, prefix: `{${prefix}}` });
  });

  afterAll(async () => {
    for (const p of procs) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }
    for (const queue of [runners, reconcile]) {
      await queue.obliterate({ force: true });
      await queue.close();
    }
    await deleteKeys(redis, [`${prefix}:*`, `{${prefix}}:*`]);
    await redis.quit();
    await removeOwnedContainers(docker, owner);
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the surviving worker finishes the job with exactly one container', async () => {
    const registry = new RunnerRegistry(redis, { prefix });
    const producer = new JobProducer({ runners, reconcile });
    const first = startWorker(configPath);
    procs.push(first);
    await waitUntil(() => first.log().includes('worker started'), 'the first worker to start');

    // GitHub is slow to generate the JIT config: the first worker is stuck inside the job.
    fake.injectFault({ endpoint: 'generateJitConfig', delayMs: 3_000, times: 1 });
    const [name] = await registry.reserve({ id: scaleSetId, name: scaleSetName }, 1, 5);
    if (name === undefined) {
      throw new Error('no runner reserved');
    }
    const { jobId } = await producer.enqueueStart({
      scaleSetId,
      scaleSetName,
      runnerName: name,
    });
    await waitUntil(
      async () => (await runners.getJobState(jobId)) === 'active',
      'the first worker to take the job',
    );
    const second = startWorker(configPath);
    procs.push(second);
    await waitUntil(() => second.log().includes('worker started'), 'the second worker to start');
    await waitUntil(
      async () => (await registry.get(scaleSetId, name))?.state === 'provisioning',
      'the first worker to be provisioning',
    );
    // Give it time to send the (slow) JIT config request.
    await new Promise((resolve) => setTimeout(resolve, 300));

    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    await waitUntil(
      async () => ['completed', 'failed'].includes(await runners.getJobState(jobId)),
      'the second worker to finish the job',
      60_000,
    );
    const job = await runners.getJob(jobId);
    if (job === undefined) {
      throw new Error('the job vanished');
    }
    expect(await job.getState()).toBe('completed');
    expect(job.returnvalue).toMatchObject({ outcome: 'started' });

    const containers = await ownedContainers(docker, owner);
    expect(containers.map((c) => c.Labels[RUNNER_LABELS.runnerName])).toEqual([name]);
    expect(await registry.get(scaleSetId, name)).toMatchObject({
      state: 'idle',
      engineId: containers[0]?.Id,
    });
    const registration = await waitUntil(
      () => fake.runners(scaleSetId).find((r) => r.name === name && r.status === 'online'),
      'the runner to report online',
    );
    expect(fake.runners(scaleSetId).filter((r) => r.name === name)).toEqual([registration]);
    expect((await registry.get(scaleSetId, name))?.runnerId).toBe(registration.id);
    // The killed worker's registration (its JIT config died with it) was replaced.
    // The killed worker registered the name (its slow request completed on the service side);
    // the survivor got 409, removed that registration and registered again.
    expect(fake.requestsFor('generateJitConfig').map((r) => r.status)).toEqual([200, 409, 200]);
    expect(fake.requestsFor('removeRunner').map((r) => r.status)).toEqual([204]);

    // The survivor stops cleanly; nothing secret is left in Redis or either worker's log.
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    const jit = await containerJitConfig(docker, name);
    if (jit === undefined) {
      throw new Error('the runner container has no JIT config');
    }
    const secrets = [jit, decodeFakeJitConfig(jit).credential];
    for (const pattern of [`${prefix}:*`, `{${prefix}}:*`]) {
      const report = await scanRedisForSecret(redis, pattern, secrets);
      expect(report.keysScanned).toBeGreaterThan(0);
      expect(report.findings).toEqual([]);
    }
    for (const p of [first, second]) {
      for (const secret of [...secrets, fake.pat]) {
        expect(p.log()).not.toContain(secret);
      }
    }
  });
});

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeGitHub, FakeWireClient } from '@app/testing';
import { SimulatedEngine, type SimulatedEngineLogger } from './simulated.engine';
import type { SimulatedEvent } from './simulated.events';
import type { SimulatedEngineOptions } from './simulated.options';

// runner: fake against a real fake GitHub service on loopback: the in-process runner reports
// online with the JIT config's credential, takes a job, finishes it, and the instance exits
// with code 0, as a runner container of the Docker engine would.

jest.setTimeout(30_000);

const OWNER = 'sim-int';

const OPTIONS: SimulatedEngineOptions = {
  ownerId: OWNER,
  startLatencyMs: 20,
  destroyLatencyMs: 10,
  jitter: 0.5,
  failureRate: 0,
  capacity: 0,
  runner: 'fake',
  runnerLifetimeMs: 0,
};

const silent: SimulatedEngineLogger = { warn: () => undefined, debug: () => undefined };

describe('SimulatedEngine with runner: fake against the fake GitHub service', () => {
  let fake: FakeGitHub;
  let gh: FakeWireClient;
  let scaleSetId: number;
  let dir: string;
  let sim: SimulatedEngine | undefined;

  beforeAll(async () => {
    fake = new FakeGitHub({ pollTimeoutMs: 300, runnerPollTimeoutMs: 1_000 });
    await fake.start();
    gh = new FakeWireClient(fake);
    await gh.bootstrap();
    scaleSetId = await gh.createScaleSet('sim-int');
    // A session with a capacity lets the fake assign jobs to the scale set.
    await gh.createSession(scaleSetId);
  });

  afterAll(async () => {
    await fake.stop();
  });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sim-int-'));
  });

  afterEach(async () => {
    await sim?.close();
    sim = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function jitConfig(name: string): Promise<string> {
    const res = await gh.admin(
      'POST',
      `_apis/runtime/runnerscalesets/${scaleSetId}/generatejitconfig`,
      { name, workFolder: '' },
    );
    expect(res.status).toBe(200);
    return ((await res.json()) as { encodedJITConfig: string }).encodedJITConfig;
  }

  const online = (name: string): Promise<void> =>
    fake.waitFor(
      () => fake.runners(scaleSetId).some((r) => r.name === name && r.status === 'online'),
      10_000,
      `${name} online`,
    );

  it('comes online, runs a job and exits 0; destroy removes it', async () => {
    const eventsPath = join(dir, 'events.jsonl');
    sim = new SimulatedEngine(OPTIONS, { eventsPath, logger: silent });
    const jit = await jitConfig('sim-1');

    const ref = await sim.start({ name: 'sim-1', jitConfig: jit, scaleSetId, scaleSetName: 's' });
    expect(ref).toMatchObject({ adopted: false, state: 'running' });
    await online('sim-1');
    expect(await sim.inspect('sim-1')).toMatchObject({ state: 'running' });

    const [job] = fake.queueJobs(1, { scaleSetId, durationMs: 50 });
    if (job === undefined) {
      throw new Error('no job queued');
    }
    fake.assignJob(job.jobId);
    await fake.waitFor(() => fake.job(job.jobId)?.state === 'completed', 10_000, 'job done');
    expect(fake.job(job.jobId)).toMatchObject({ runnerName: 'sim-1', result: 'succeeded' });
    await fake.waitFor(() => fake.runners(scaleSetId).every((r) => r.name !== 'sim-1'), 10_000);
    for (let i = 0; i < 100; i++) {
      if ((await sim.inspect('sim-1'))?.state === 'exited') {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await sim.inspect('sim-1')).toMatchObject({ state: 'exited', exitCode: 0 });

    await sim.destroy({ name: 'sim-1' });
    expect(await sim.list({ owner: OWNER })).toEqual([]);
    await sim.close();

    const text = await readFile(eventsPath, 'utf8');
    const events = text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as SimulatedEvent);
    expect(events.map((e) => e.e)).toEqual([
      'start-call',
      'started',
      'runner-online',
      'runner-exit',
      'destroy-call',
      'destroyed',
    ]);
    expect(text).not.toContain(jit);
  });

  it('exits 69 when the JIT config was already used, like a container whose runner is refused', async () => {
    sim = new SimulatedEngine(OPTIONS, { eventsPath: null, logger: silent });
    const jit = await jitConfig('sim-2');
    await sim.start({ name: 'sim-2', jitConfig: jit, scaleSetId, scaleSetName: 's' });
    await online('sim-2');
    await sim.destroy({ name: 'sim-2' });

    // The same (now used) config again: the fake refuses the online report.
    await sim.start({ name: 'sim-2', jitConfig: jit, scaleSetId, scaleSetName: 's' });
    for (let i = 0; i < 100; i++) {
      if ((await sim.inspect('sim-2'))?.state === 'exited') {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await sim.inspect('sim-2')).toMatchObject({ state: 'exited', exitCode: 69 });
  });
});

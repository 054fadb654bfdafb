import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createComputeEngine } from '../compute.factory';
import type { RunnerSpec } from '../compute.engine';
import {
  EngineCapacityError,
  EngineConfigError,
  EngineNameConflictError,
  EngineTransientError,
  isPermanentEngineError,
} from '../errors';
import { RUNNER_LABELS } from '../runner.labels';
import { encodeFakeJitConfig } from './fake-jit-config.codec';
import type { FakeRunnerOutcome, RunFakeRunnerOptions } from './fake-runner.client';
import {
  SIMULATED_EXIT_CODES,
  SimulatedEngine,
  type SimulatedEngineDeps,
  type SimulatedEngineLogger,
} from './simulated.engine';
import type { SimulatedEvent } from './simulated.events';
import type { SimulatedEngineOptions } from './simulated.options';

const OWNER = 'deploy-sim';

function options(overrides: Partial<SimulatedEngineOptions> = {}): SimulatedEngineOptions {
  return {
    ownerId: OWNER,
    startLatencyMs: 0,
    destroyLatencyMs: 0,
    jitter: 0,
    failureRate: 0,
    capacity: 0,
    runner: 'none',
    runnerLifetimeMs: 0,
    ...overrides,
  };
}

function jit(runnerName: string): string {
  return encodeFakeJitConfig({
    origin: 'http://127.0.0.1:9',
    runnerId: '7',
    runnerName,
    scaleSetId: '3',
    credential: `cred-${runnerName}-secret`,
  });
}

function spec(name: string, overrides: Partial<RunnerSpec> = {}): RunnerSpec {
  return { name, jitConfig: jit(name), scaleSetId: 3, scaleSetName: 'sim-set', ...overrides };
}

/** Numbers handed out in order, then `fallback` for ever. */
function sequence(values: number[], fallback = 0.5): () => number {
  return () => values.shift() ?? fallback;
}

class MemoryLogger implements SimulatedEngineLogger {
  readonly lines: string[] = [];
  warn(message: string): void {
    this.lines.push(`warn ${message}`);
  }
  debug(message: string): void {
    this.lines.push(`debug ${message}`);
  }
}

/** A fake runner the test drives: report online, finish, or fail. */
class ControlledRunner {
  readonly runs = new Map<
    string,
    {
      options: RunFakeRunnerOptions;
      resolve: (outcome: FakeRunnerOutcome) => void;
      reject: (err: Error) => void;
    }
  >();

  readonly fn = (encoded: string, options: RunFakeRunnerOptions): Promise<FakeRunnerOutcome> =>
    new Promise((resolve, reject) => {
      const name = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as {
        runnerName: string;
      };
      this.runs.set(name.runnerName, { options, resolve, reject });
    });

  run(name: string): NonNullable<ReturnType<ControlledRunner['runs']['get']>> {
    const run = this.runs.get(name);
    if (run === undefined) {
      throw new Error(`no runner ${name}`);
    }
    return run;
  }
}

async function settled<T>(promise: Promise<T>): Promise<{ done: boolean; value?: T }> {
  let done = false;
  let value: T | undefined;
  void promise.then(
    (v) => {
      done = true;
      value = v;
    },
    () => {
      done = true;
    },
  );
  await Promise.resolve();
  await Promise.resolve();
  return value === undefined ? { done } : { done, value };
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('SimulatedEngine', () => {
  const engines: SimulatedEngine[] = [];
  let logger: MemoryLogger;

  function engine(
    overrides: Partial<SimulatedEngineOptions> = {},
    deps: SimulatedEngineDeps = {},
  ): SimulatedEngine {
    const built = new SimulatedEngine(options(overrides), {
      eventsPath: null,
      logger,
      ...deps,
    });
    engines.push(built);
    return built;
  }

  beforeEach(() => {
    logger = new MemoryLogger();
  });

  afterEach(async () => {
    jest.useRealTimers();
    await Promise.all(engines.splice(0).map((e) => e.close()));
  });

  describe('latency and jitter', () => {
    beforeEach(() => {
      jest.useFakeTimers();
    });

    it('takes start_latency before the instance exists, destroy_latency before it is gone', async () => {
      const sim = engine({ startLatencyMs: 1_000, destroyLatencyMs: 400 });

      const start = sim.start(spec('r-1'));
      await jest.advanceTimersByTimeAsync(999);
      expect((await settled(start)).done).toBe(false);
      expect(await sim.inspect('r-1')).toBeNull();
      await jest.advanceTimersByTimeAsync(1);
      expect(await start).toMatchObject({ name: 'r-1', adopted: false, state: 'running' });

      const destroy = sim.destroy({ name: 'r-1' });
      await jest.advanceTimersByTimeAsync(399);
      expect(await sim.inspect('r-1')).not.toBeNull();
      await jest.advanceTimersByTimeAsync(1);
      await destroy;
      expect(await sim.inspect('r-1')).toBeNull();
    });

    it.each([
      [0, 500],
      [0.25, 750],
      [0.75, 1_250],
    ])('with jitter 0.5 and random %p, a 1 s latency takes %p ms', async (r, ms) => {
      const sim = engine({ startLatencyMs: 1_000, jitter: 0.5 }, { random: () => r });

      const start = sim.start(spec('r-1'));
      await jest.advanceTimersByTimeAsync(ms - 1);
      expect((await settled(start)).done).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      expect((await settled(start)).done).toBe(true);
    });

    it('keeps every jittered latency within ±jitter of the base', async () => {
      const draws: number[] = [];
      const random = (): number => {
        const r = Math.random();
        draws.push(r);
        return r;
      };
      const sim = engine({ startLatencyMs: 100, jitter: 0.2 }, { random });
      for (let i = 0; i < 20; i++) {
        const start = sim.start(spec(`r-${i}`));
        await jest.advanceTimersByTimeAsync(79);
        expect((await settled(start)).done).toBe(false);
        await jest.advanceTimersByTimeAsync(41);
        expect((await settled(start)).done).toBe(true);
      }
      expect(draws).toHaveLength(40);
    });
  });

  describe('failures and capacity', () => {
    it('fails a start with a retryable SERVER_ERROR when the failure draw is below failure_rate', async () => {
      // Two draws per start: latency, then failure.
      const sim = engine({ failureRate: 0.2 }, { random: sequence([0.5, 0.1, 0.5, 0.3]) });

      const err = await caught(sim.start(spec('r-1')));
      expect(err).toBeInstanceOf(EngineTransientError);
      expect(err).toMatchObject({ code: 'SERVER_ERROR', retryable: true, engine: 'simulated' });
      expect(String(err)).not.toContain(jit('r-1'));
      expect(await sim.inspect('r-1')).toBeNull();

      expect(await sim.start(spec('r-1'))).toMatchObject({ adopted: false, state: 'running' });
    });

    it('never fails with failure_rate 0 and always fails with 1', async () => {
      const never = engine({ failureRate: 0 }, { random: () => 0 });
      const always = engine({ failureRate: 1 }, { random: () => 0.999999 });

      await expect(never.start(spec('r-1'))).resolves.toMatchObject({ state: 'running' });
      await expect(always.start(spec('r-1'))).rejects.toMatchObject({ code: 'SERVER_ERROR' });
    });

    it('refuses starts beyond capacity with a retryable capacity error until one ends', async () => {
      const sim = engine({ capacity: 2 });
      await sim.start(spec('r-1'));
      await sim.start(spec('r-2'));

      const err = await caught(sim.start(spec('r-3')));
      expect(err).toBeInstanceOf(EngineCapacityError);
      expect(err).toMatchObject({ code: 'CAPACITY', retryable: true });
      expect(isPermanentEngineError(err)).toBe(false);
      // Adopting a live name needs no capacity.
      expect(await sim.start(spec('r-2'))).toMatchObject({ adopted: true });

      await sim.destroy({ name: 'r-1' });
      expect(await sim.start(spec('r-3'))).toMatchObject({ adopted: false });
    });

    it('does not count exited instances against capacity', async () => {
      jest.useFakeTimers();
      const sim = engine({ capacity: 1, runnerLifetimeMs: 50 });
      await sim.start(spec('r-1'));
      await expect(sim.start(spec('r-2'))).rejects.toBeInstanceOf(EngineCapacityError);

      await jest.advanceTimersByTimeAsync(50);
      expect(await sim.inspect('r-1')).toMatchObject({ state: 'exited', exitCode: 0 });
      expect(await sim.start(spec('r-2'))).toMatchObject({ state: 'running' });
    });
  });

  describe('idempotency', () => {
    it('adopts a live instance of the same name instead of creating a second', async () => {
      const sim = engine();
      const first = await sim.start(spec('r-1'));
      const second = await sim.start(spec('r-1'));

      expect(second).toEqual({ ...first, adopted: true });
      expect(await sim.list({ owner: OWNER })).toHaveLength(1);
    });

    it('creates one instance for two concurrent starts of one name', async () => {
      const sim = engine({ startLatencyMs: 5 });
      const [a, b] = await Promise.all([sim.start(spec('r-1')), sim.start(spec('r-1'))]);

      expect([a.adopted, b.adopted].sort()).toEqual([false, true]);
      expect(a.engineId).toBe(b.engineId);
      expect(await sim.list({ owner: OWNER })).toHaveLength(1);
    });

    it('returns an exited instance as exited and never restarts it', async () => {
      jest.useFakeTimers();
      const sim = engine({ runnerLifetimeMs: 10 });
      const first = await sim.start(spec('r-1'));
      await jest.advanceTimersByTimeAsync(10);

      expect(await sim.start(spec('r-1'))).toEqual({
        ...first,
        adopted: true,
        state: 'exited',
      });
    });

    it('refuses a name held by another scale set of the deployment', async () => {
      const sim = engine();
      await sim.start(spec('r-1'));

      await expect(sim.start(spec('r-1', { scaleSetId: 4 }))).rejects.toBeInstanceOf(
        EngineNameConflictError,
      );
    });

    it('refuses invalid specs permanently', async () => {
      const sim = engine();
      for (const bad of [
        spec('-bad'),
        spec('r-1', { jitConfig: '' }),
        spec('r-1', { scaleSetId: -1 }),
        spec('r-1', { labels: { [RUNNER_LABELS.owner]: 'forged' } }),
      ]) {
        const err = await caught(sim.start(bad));
        expect(err).toBeInstanceOf(EngineConfigError);
        expect(isPermanentEngineError(err)).toBe(true);
      }
      expect(await sim.list({ owner: OWNER })).toEqual([]);
    });
  });

  describe('destroy and abort', () => {
    it('treats a missing instance as destroyed', async () => {
      const sim = engine({ destroyLatencyMs: 1 });

      await expect(sim.destroy({ name: 'never-started' })).resolves.toBeUndefined();
    });

    it('aborts a start whose signal fires during the latency; nothing is created', async () => {
      const sim = engine({ startLatencyMs: 60_000 });
      const controller = new AbortController();
      const start = sim.start(spec('r-1'), controller.signal);
      controller.abort();

      const err = await caught(start);
      expect(err).toBeInstanceOf(EngineTransientError);
      expect(err).toMatchObject({ code: 'ABORTED', operation: 'start', resource: 'r-1' });
      expect(await sim.inspect('r-1')).toBeNull();
    });

    it('aborts a destroy; the instance stays', async () => {
      const sim = engine({ destroyLatencyMs: 60_000 });
      await sim.start(spec('r-1'));

      await expect(sim.destroy({ name: 'r-1' }, AbortSignal.abort())).rejects.toMatchObject({
        code: 'ABORTED',
      });
      expect(await sim.inspect('r-1')).not.toBeNull();
    });

    it('close() aborts calls in flight and refuses new starts', async () => {
      const sim = engine({ startLatencyMs: 60_000 });
      const start = sim.start(spec('r-1'));
      await sim.close();

      await expect(start).rejects.toMatchObject({ code: 'ABORTED' });
      await expect(sim.start(spec('r-2'))).rejects.toMatchObject({ code: 'ABORTED' });
    });
  });

  describe('list and inspect', () => {
    it('reports instances with scaleset labels, filtered by owner and scale set', async () => {
      const now = Date.UTC(2025, 0, 2, 3, 4, 5);
      const sim = engine({}, { now: () => now });
      await sim.start(spec('a-1', { labels: { team: 'x' } }));
      await sim.start(spec('b-1', { scaleSetId: 4, scaleSetName: 'other-set' }));

      const all = await sim.list({ owner: OWNER });
      expect(all.map((i) => i.name).sort()).toEqual(['a-1', 'b-1']);
      expect(await sim.list({ owner: OWNER, scaleSetId: 4 })).toEqual([
        expect.objectContaining({ name: 'b-1', scaleSetId: 4, scaleSetName: 'other-set' }),
      ]);
      expect(await sim.list({ owner: 'someone-else' })).toEqual([]);
      await expect(sim.list({ owner: '' })).rejects.toBeInstanceOf(EngineConfigError);

      const a = await sim.inspect('a-1');
      expect(a).toEqual({
        name: 'a-1',
        engineId: expect.stringMatching(new RegExp(`^sim-${process.pid}-[0-9a-f]{12}$`)) as string,
        state: 'running',
        owner: OWNER,
        scaleSetId: 3,
        scaleSetName: 'sim-set',
        runnerName: 'a-1',
        createdAt: new Date(now),
        labels: {
          team: 'x',
          [RUNNER_LABELS.owner]: OWNER,
          [RUNNER_LABELS.scaleSetId]: '3',
          [RUNNER_LABELS.scaleSetName]: 'sim-set',
          [RUNNER_LABELS.runnerName]: 'a-1',
        },
      });
      expect(JSON.stringify(all)).not.toContain('secret');
      expect(await sim.inspect('nope')).toBeNull();
    });
  });

  describe('runner: none', () => {
    beforeEach(() => {
      jest.useFakeTimers();
    });

    it('exits with code 0 after runner_lifetime', async () => {
      const sim = engine({ runnerLifetimeMs: 5_000 });
      await sim.start(spec('r-1'));

      await jest.advanceTimersByTimeAsync(4_999);
      expect(await sim.inspect('r-1')).toMatchObject({ state: 'running' });
      await jest.advanceTimersByTimeAsync(1);
      expect(await sim.inspect('r-1')).toMatchObject({ state: 'exited', exitCode: 0 });
    });

    it('runs for ever with runner_lifetime 0, and accepts any JIT config', async () => {
      const sim = engine({ runnerLifetimeMs: 0 });
      await sim.start(spec('r-1', { jitConfig: 'a-real-github-jit-config' }));

      await jest.advanceTimersByTimeAsync(24 * 3_600_000);
      expect(await sim.inspect('r-1')).toMatchObject({ state: 'running' });
    });
  });

  describe('runner: fake', () => {
    it('is running while its runner runs and exits 0 when the runner finishes its job', async () => {
      const runner = new ControlledRunner();
      const sim = engine({ runner: 'fake' }, { runFakeRunner: runner.fn });

      expect(await sim.start(spec('r-1'))).toMatchObject({ state: 'running' });
      const run = runner.run('r-1');
      run.options.onOnline?.();
      expect(await sim.inspect('r-1')).toMatchObject({ state: 'running' });

      run.resolve({ runnerName: 'r-1', jobId: 'j', result: 'succeeded' });
      await new Promise(setImmediate);
      expect(await sim.inspect('r-1')).toMatchObject({
        state: 'exited',
        exitCode: SIMULATED_EXIT_CODES.done,
      });
    });

    it('exits 69 when the runner cannot come online and 70 when it is lost afterwards', async () => {
      const runner = new ControlledRunner();
      const sim = engine({ runner: 'fake' }, { runFakeRunner: runner.fn });
      await sim.start(spec('r-1'));
      await sim.start(spec('r-2'));

      runner.run('r-1').reject(new Error('fake runner r-1: /_fake/runner/online answered 401'));
      runner.run('r-2').options.onOnline?.();
      runner.run('r-2').reject(new Error('fake runner r-2: /_fake/runner/job answered 410'));
      await new Promise(setImmediate);

      expect(await sim.inspect('r-1')).toMatchObject({ state: 'exited', exitCode: 69 });
      expect(await sim.inspect('r-2')).toMatchObject({ state: 'exited', exitCode: 70 });
      expect(logger.lines).toContainEqual(expect.stringMatching(/^warn .*r-1 exited with code 69/));
    });

    it('stops the runner when the instance is destroyed', async () => {
      const runner = new ControlledRunner();
      const sim = engine({ runner: 'fake' }, { runFakeRunner: runner.fn });
      await sim.start(spec('r-1'));
      const { signal } = runner.run('r-1').options;

      await sim.destroy({ name: 'r-1' });

      expect(signal?.aborted).toBe(true);
      expect(await sim.inspect('r-1')).toBeNull();
    });

    it('close() stops every runner', async () => {
      const runner = new ControlledRunner();
      const sim = engine({ runner: 'fake' }, { runFakeRunner: runner.fn });
      await sim.start(spec('r-1'));
      await sim.start(spec('r-2'));

      await sim.close();

      expect([...runner.runs.values()].map((r) => r.options.signal?.aborted)).toEqual([true, true]);
    });

    it('exits 65 at once, with a log line and no thrown error, on a JIT config the fake did not issue', async () => {
      const runner = new ControlledRunner();
      const sim = engine({ runner: 'fake' }, { runFakeRunner: runner.fn });
      const realLooking = Buffer.from('{"a":"b"}').toString('base64');

      const ref = await sim.start(spec('r-1', { jitConfig: realLooking }));

      expect(ref).toMatchObject({ adopted: false, state: 'exited' });
      expect(await sim.inspect('r-1')).toMatchObject({ state: 'exited', exitCode: 65 });
      expect(runner.runs.size).toBe(0);
      expect(logger.lines).toEqual([expect.stringContaining('runner to none')]);
      expect(logger.lines.join('\n')).not.toContain(realLooking);
    });
  });

  describe('events file', () => {
    let dir: string;

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'sim-events-'));
    });

    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    async function events(path: string): Promise<SimulatedEvent[]> {
      const text = await readFile(path, 'utf8');
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as SimulatedEvent);
    }

    it('appends one JSON line per event, with a high-resolution time and the pid', async () => {
      const path = join(dir, 'events.jsonl');
      const runner = new ControlledRunner();
      const sim = engine(
        { runner: 'fake', failureRate: 0.5 },
        { eventsPath: path, runFakeRunner: runner.fn, random: sequence([0.5, 0.9, 0.5, 0.1]) },
      );
      const before = Date.now();

      await sim.start(spec('r-1'));
      await expect(sim.start(spec('r-2'))).rejects.toMatchObject({ code: 'SERVER_ERROR' });
      runner.run('r-1').options.onOnline?.();
      runner.run('r-1').resolve({ runnerName: 'r-1', jobId: 'j', result: 'succeeded' });
      await new Promise(setImmediate);
      await sim.destroy({ name: 'r-1' });
      await sim.destroy({ name: 'elsewhere' });
      await sim.close();

      const lines = await events(path);
      expect(lines.map((l) => [l.e, l.name])).toEqual([
        ['start-call', 'r-1'],
        ['started', 'r-1'],
        ['start-call', 'r-2'],
        ['start-failed', 'r-2'],
        ['runner-online', 'r-1'],
        ['runner-exit', 'r-1'],
        ['destroy-call', 'r-1'],
        ['destroyed', 'r-1'],
        ['destroy-call', 'elsewhere'],
        ['destroyed', 'elsewhere'],
      ]);
      for (const line of lines) {
        expect(Object.keys(line)).toEqual(['t', 'e', 'name', 'pid']);
        expect(line.pid).toBe(process.pid);
        expect(line.t).toBeGreaterThanOrEqual(before - 1);
        expect(line.t).toBeLessThanOrEqual(Date.now() + 1);
      }
      const times = lines.map((l) => l.t);
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(times.some((t) => !Number.isInteger(t))).toBe(true);
      const text = await readFile(path, 'utf8');
      expect(text).not.toContain('secret');
      expect(text).not.toContain(jit('r-1'));
    });

    it('flushes buffered events within about 100 ms without close()', async () => {
      const path = join(dir, 'events.jsonl');
      const sim = engine({}, { eventsPath: path });

      await sim.start(spec('r-1'));
      await expect(readFile(path, 'utf8')).rejects.toThrow();
      await new Promise((resolve) => setTimeout(resolve, 250));

      expect((await events(path)).map((l) => l.e)).toEqual(['start-call', 'started']);
    });

    it('reads the path from SCALESET_SIMULATED_EVENTS when none is given', async () => {
      const path = join(dir, 'from-env.jsonl');
      const previous = process.env['SCALESET_SIMULATED_EVENTS'];
      process.env['SCALESET_SIMULATED_EVENTS'] = path;
      try {
        const sim = new SimulatedEngine(options(), { logger });
        engines.push(sim);
        await sim.start(spec('r-1'));
        await sim.close();
      } finally {
        if (previous === undefined) {
          delete process.env['SCALESET_SIMULATED_EVENTS'];
        } else {
          process.env['SCALESET_SIMULATED_EVENTS'] = previous;
        }
      }

      expect(await events(path)).toHaveLength(2);
    });

    it('keeps working, with one warning, when the file cannot be written', async () => {
      const sim = engine({}, { eventsPath: join(dir, 'missing-dir', 'events.jsonl') });

      await sim.start(spec('r-1'));
      await sim.start(spec('r-2'));
      await sim.close();

      expect(await sim.list({ owner: OWNER })).toHaveLength(2);
      expect(logger.lines).toEqual([expect.stringMatching(/^warn Cannot append simulated/)]);
    });
  });

  describe('construction', () => {
    it.each([
      [{ jitter: 1.5 }, 'simulated.jitter'],
      [{ failureRate: -0.1 }, 'simulated.failure_rate'],
      [{ capacity: 1.5 }, 'simulated.capacity'],
      [{ startLatencyMs: -1 }, 'simulated.start_latency'],
      [{ runnerLifetimeMs: Number.NaN }, 'simulated.runner_lifetime'],
      [{ ownerId: '' }, 'simulated.owner_id'],
      [{ runner: 'docker' as 'fake' }, 'simulated.runner'],
    ])('refuses %p naming %s', (bad, field) => {
      expect(() => new SimulatedEngine(options(bad), { eventsPath: null })).toThrow(
        expect.objectContaining({ name: 'EngineConfigError', field }) as Error,
      );
    });

    it('is what the factory builds for kind simulated', () => {
      const built = createComputeEngine({ kind: 'simulated', simulated: options() });
      engines.push(built as SimulatedEngine);

      expect(built).toBeInstanceOf(SimulatedEngine);
      expect(built.kind).toBe('simulated');
    });
  });
});

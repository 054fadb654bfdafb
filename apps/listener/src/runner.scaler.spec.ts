import pino from 'pino';
import type { JobCompleted, JobStarted, RunnerScaleSetStatistic } from '@app/scaleset';
import {
  RunnerScaler,
  desiredRunnerCount,
  type ScalerJobs,
  type ScalerRegistry,
} from './runner.scaler';

type State = 'reserved' | 'provisioning' | 'idle' | 'busy' | 'failed' | 'destroying';
const LIVE: readonly State[] = ['reserved', 'provisioning', 'idle', 'busy'];

/** An in-memory registry with the real one's rules: atomic cap, guarded moves, tombstones. */
class MemoryRegistry implements ScalerRegistry {
  readonly runners = new Map<string, { state: State; stateChangedAt: number }>();
  readonly tombstones = new Set<string>();
  private seq = 0;
  now = 1_000_000;

  reserve(_s: { id: number; name: string }, count: number, max: number): Promise<string[]> {
    const names: string[] = [];
    while (names.length < count && this.live() < max) {
      const name = `r${++this.seq}`;
      this.runners.set(name, { state: 'reserved', stateChangedAt: this.now });
      names.push(name);
    }
    return Promise.resolve(names);
  }

  transition(
    _id: number,
    name: string,
    to: 'busy' | 'destroying',
    options: { from: readonly State[] },
  ): Promise<{ outcome: 'applied' | 'unchanged'; from: string }> {
    const r = this.runners.get(name);
    if (r === undefined) {
      return Promise.reject(Object.assign(new Error('no runner'), { name: 'RunnerNotFoundError' }));
    }
    if (r.state === to) {
      return Promise.resolve({ outcome: 'unchanged', from: r.state });
    }
    if (!options.from.includes(r.state)) {
      return Promise.reject(
        Object.assign(new Error('illegal'), { name: 'IllegalTransitionError' }),
      );
    }
    const from = r.state;
    r.state = to;
    r.stateChangedAt = this.now;
    return Promise.resolve({ outcome: 'applied', from });
  }

  get(_id: number, name: string): Promise<{ state: string } | undefined> {
    return Promise.resolve(this.runners.get(name));
  }

  list(
    _id: number,
    state: 'reserved' | 'idle',
    options: { changedBefore?: number; limit?: number } = {},
  ) {
    const rows = [...this.runners.entries()]
      .filter(
        ([, r]) => r.state === state && r.stateChangedAt < (options.changedBefore ?? Infinity),
      )
      .sort((a, b) => a[1].stateChangedAt - b[1].stateChangedAt)
      .map(([name, r]) => ({ name, stateChangedAt: r.stateChangedAt }));
    return Promise.resolve(rows.slice(0, options.limit ?? rows.length));
  }

  counts(): Promise<{ live: number }> {
    return Promise.resolve({ live: this.live() });
  }

  isTombstoned(_id: number, name: string): Promise<boolean> {
    return Promise.resolve(this.tombstones.has(name));
  }

  live(): number {
    return [...this.runners.values()].filter((r) => LIVE.includes(r.state)).length;
  }

  set(name: string, state: State, at = this.now): void {
    this.runners.set(name, { state, stateChangedAt: at });
  }
}

/** A queue that deduplicates on the job id, like BullMQ. */
class MemoryJobs implements ScalerJobs {
  readonly ids = new Set<string>();
  readonly starts: string[] = [];
  readonly destroys: { name: string; reason: string }[] = [];

  /** Round trips the scaler made to enqueue starts (one per bulk call). */
  startCalls = 0;
  /** Runner names of every start enqueue, duplicates included. */
  readonly startAdds: string[] = [];
  failStarts = 0;

  enqueueStarts(payloads: readonly { runnerName: string }[]): Promise<unknown> {
    this.startCalls += 1;
    if (this.failStarts > 0) {
      this.failStarts -= 1;
      return Promise.reject(new Error('redis is down'));
    }
    this.startAdds.push(...payloads.map((p) => p.runnerName));
    for (const p of payloads) {
      const id = `start-${p.runnerName}`;
      if (!this.ids.has(id)) {
        this.ids.add(id);
        this.starts.push(p.runnerName);
      }
    }
    return Promise.resolve();
  }

  /** Round trips the scaler made to enqueue destroys (one per bulk call). */
  destroyCalls = 0;

  enqueueDestroys(payloads: readonly { runnerName: string; reason: string }[]): Promise<unknown> {
    this.destroyCalls += 1;
    for (const p of payloads) {
      const id =
        p.reason === 'scale-down'
          ? `destroy-${p.runnerName}-scale-down`
          : `destroy-${p.runnerName}`;
      if (!this.ids.has(id)) {
        this.ids.add(id);
        this.destroys.push({ name: p.runnerName, reason: p.reason });
      }
    }
    return Promise.resolve();
  }
}

function stats(assigned: number): RunnerScaleSetStatistic {
  return {
    totalAvailableJobs: 0,
    totalAcquiredJobs: 0,
    totalAssignedJobs: assigned,
    totalRunningJobs: 0,
    totalRegisteredRunners: 0,
    totalBusyRunners: 0,
    totalIdleRunners: 0,
  };
}

function setUp(min = 0, max = 5, graceMs = 1000) {
  const registry = new MemoryRegistry();
  const jobs = new MemoryJobs();
  const scaler = new RunnerScaler(
    registry,
    jobs,
    { id: 7, name: 'set', minRunners: () => min, maxRunners: () => max },
    { scaleDownGraceMs: graceMs, logger: pino({ level: 'silent' }), now: () => registry.now },
  );
  return { registry, jobs, scaler };
}

const started = (runnerName: string) =>
  ({ runnerName, jobId: 'j', jobDisplayName: 'build' }) as JobStarted;
const completed = (runnerName: string) => ({ runnerName, result: 'succeeded' }) as JobCompleted;

describe('desiredRunnerCount', () => {
  it.each([
    [0, 0, 10, 0],
    [3, 0, 10, 3],
    [3, 2, 10, 5],
    [30, 0, 8, 8],
    [30, 2, 8, 8],
    [0, 2, 8, 2],
    [-1, 0, 8, 0],
    [5, 0, 0, 0],
  ])('assigned %i, min %i, max %i → %i', (assigned, min, max, want) => {
    expect(desiredRunnerCount({ totalAssignedJobs: assigned }, min, max)).toBe(want);
  });
});

describe('RunnerScaler', () => {
  it('reserves and starts the missing runners, capped at max', async () => {
    const { registry, jobs, scaler } = setUp(0, 5);
    expect(await scaler.handleDesiredRunnerCount(stats(10), 1)).toBe(5);
    expect(registry.live()).toBe(5);
    expect(jobs.starts).toHaveLength(5);
    // All five in one bulk enqueue, not one round trip per runner.
    expect(jobs.startCalls).toBe(1);
    // The same statistics again: nothing new.
    await scaler.handleDesiredRunnerCount(stats(10), 1);
    expect(registry.live()).toBe(5);
    expect(jobs.starts).toHaveLength(5);
  });

  it('does not call the queue when no runner is reserved', async () => {
    const { jobs, scaler } = setUp();
    await scaler.handleDesiredRunnerCount(stats(0), 1);
    expect(jobs.startCalls).toBe(0);
  });

  it('re-enqueues start jobs of reserved runners whose job may have been lost', async () => {
    const { registry, jobs, scaler } = setUp();
    registry.set('orphan', 'reserved');
    await scaler.handleDesiredRunnerCount(stats(1), 1, { reenqueueReserved: true });
    expect(jobs.starts).toEqual(['orphan']);
    expect(registry.live()).toBe(1);
  });

  it('enqueues only the runners a decision reserved unless asked to repair', async () => {
    const { registry, jobs, scaler } = setUp();
    // Reserved by a leader that died before enqueueing: not re-added on every decision.
    registry.set('orphan', 'reserved');
    await scaler.handleDesiredRunnerCount(stats(2), 1);
    expect(jobs.startAdds).toEqual(['r1']);
    await scaler.handleDesiredRunnerCount(stats(2), 1);
    expect(jobs.startAdds).toEqual(['r1']);
    expect(jobs.startCalls).toBe(1);
    // The repair (lease taken, periodic re-evaluation) adds every reserved runner again.
    await scaler.handleDesiredRunnerCount(stats(2), 1, { reenqueueReserved: true });
    expect(jobs.startAdds.slice(1).sort()).toEqual(['orphan', 'r1']);
    expect(jobs.starts.sort()).toEqual(['orphan', 'r1']);
  });

  it('repairs on the next decision after a start enqueue failed', async () => {
    const { registry, jobs, scaler } = setUp();
    jobs.failStarts = 1;
    await expect(scaler.handleDesiredRunnerCount(stats(2), 1)).rejects.toThrow('redis is down');
    expect(registry.live()).toBe(2);
    expect(jobs.starts).toEqual([]);
    // The redelivered message reserves nothing new (both count as live), yet both start.
    await scaler.handleDesiredRunnerCount(stats(2), 1);
    expect(jobs.starts.sort()).toEqual(['r1', 'r2']);
    // Repaired: the decision after it adds nothing.
    await scaler.handleDesiredRunnerCount(stats(2), 1);
    expect(jobs.startCalls).toBe(2);
  });

  it('marks a runner busy on JobStarted, idempotently, and ignores unknown runners', async () => {
    const { registry, scaler } = setUp();
    registry.set('a', 'idle');
    await scaler.handleJobStarted(started('a'), 1);
    await scaler.handleJobStarted(started('a'), 1);
    await scaler.handleJobStarted(started('foreign'), 1);
    expect(registry.runners.get('a')?.state).toBe('busy');
    expect(registry.runners.has('foreign')).toBe(false);
  });

  it('destroys the runner of a completed job once, and frees its slot at once', async () => {
    const { registry, jobs, scaler } = setUp(0, 1);
    registry.set('a', 'busy');
    await scaler.handleJobsCompleted([completed('a')], 1);
    await scaler.handleJobsCompleted([completed('a')], 1);
    expect(registry.runners.get('a')?.state).toBe('destroying');
    expect(jobs.destroys).toEqual([{ name: 'a', reason: 'job-completed' }]);
    // The slot is free for the next job's runner although the old one is still being destroyed.
    await scaler.handleDesiredRunnerCount(stats(1), 1);
    expect(registry.live()).toBe(1);
  });

  it('enqueues the destroys of one envelope in one bulk add', async () => {
    const { registry, jobs, scaler } = setUp(0, 5);
    registry.set('a', 'busy');
    registry.set('b', 'idle');
    registry.set('c', 'destroying');
    await scaler.handleJobsCompleted([completed('a'), completed('b'), completed('c')], 1);
    expect(jobs.destroyCalls).toBe(1);
    expect(jobs.destroys.map((d) => d.name).sort()).toEqual(['a', 'b', 'c']);
    expect(registry.runners.get('b')?.state).toBe('destroying');
  });

  it('enqueues the destroys of the other runners when one move fails, then fails', async () => {
    const { registry, jobs, scaler } = setUp(0, 5);
    registry.set('a', 'busy');
    registry.set('b', 'busy');
    const transition = registry.transition.bind(registry);
    registry.transition = (id, name, to, options) =>
      name === 'b' ? Promise.reject(new Error('redis is down')) : transition(id, name, to, options);
    await expect(scaler.handleJobsCompleted([completed('a'), completed('b')], 1)).rejects.toThrow(
      'redis is down',
    );
    expect(jobs.destroys).toEqual([{ name: 'a', reason: 'job-completed' }]);
  });

  it('ignores JobCompleted without a runner and for tombstoned runners', async () => {
    const { registry, jobs, scaler } = setUp();
    registry.tombstones.add('gone');
    await scaler.handleJobsCompleted([completed(''), completed('gone')], 1);
    expect(jobs.destroys).toEqual([]);
    expect(jobs.destroyCalls).toBe(0);
  });

  it('scales down only idle runners beyond desired, oldest first, after the grace period', async () => {
    const { registry, jobs, scaler } = setUp(0, 10, 1000);
    registry.set('old-idle', 'idle', registry.now - 5000);
    registry.set('new-idle', 'idle', registry.now - 10);
    registry.set('older-idle', 'idle', registry.now - 9000);
    registry.set('busy', 'busy', registry.now - 99_000);
    await scaler.handleDesiredRunnerCount(stats(1), 1);
    // live 4, desired 1: three to go, but only the two idle ones past the grace qualify.
    expect(jobs.destroys).toEqual([
      { name: 'older-idle', reason: 'scale-down' },
      { name: 'old-idle', reason: 'scale-down' },
    ]);
    registry.now += 2000;
    await scaler.handleDesiredRunnerCount(stats(1), 1);
    expect(jobs.destroys.map((d) => d.name)).toContain('new-idle');
    expect(jobs.destroys.map((d) => d.name)).not.toContain('busy');
  });

  it('keeps min_runners warm', async () => {
    const { registry, jobs, scaler } = setUp(2, 10);
    await scaler.handleDesiredRunnerCount(stats(0), 1);
    expect(registry.live()).toBe(2);
    expect(jobs.destroys).toEqual([]);
  });
});

import { randomInt, randomUUID } from 'node:crypto';

import { Redis } from 'ioredis';

import { IllegalTransitionError, RunnerNotFoundError, StaleEpochError } from './errors';
import { LeaseManager } from './lease.manager';
import { RunnerRegistry, type TransitionResult } from './runner.registry';
import {
  LEGAL_TRANSITIONS,
  RUNNER_STATES,
  isLegalTransition,
  type RunnerState,
  type RunnerTransitionTarget,
} from './runner.state';

// This lib may not import @app/testing (lint boundary), so read the URL the way it does.
function redisUrl(): string {
  const url = process.env['REDIS_URL'];
  if (url === undefined || url === '') {
    throw new Error('REDIS_URL is not set: run integration tests through `npm test`');
  }
  return url;
}

async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) {
      await redis.unlink(...keys);
    }
  } while (cursor !== '0');
}

/** Legal paths from a fresh reservation to each state. */
const PATH_TO: Record<RunnerState, RunnerState[]> = {
  reserved: [],
  provisioning: ['provisioning'],
  idle: ['provisioning', 'idle'],
  busy: ['provisioning', 'idle', 'busy'],
  failed: ['failed'],
  destroying: ['destroying'],
};

describe('RunnerRegistry (real Redis)', () => {
  let prefix: string;
  let redis: Redis;
  let registry: RunnerRegistry;
  const extra: Redis[] = [];
  const scaleSet = { id: randomInt(1, 1_000_000), name: 'Linux X64' };

  const connect = (): Redis => {
    const client = new Redis(redisUrl());
    extra.push(client);
    return client;
  };

  const reserveOne = async (): Promise<string> => {
    const [name] = await registry.reserve(scaleSet, 1, 1_000);
    if (name === undefined) {
      throw new Error('reserve returned no runner');
    }
    return name;
  };

  const runnerIn = async (state: RunnerState): Promise<string> => {
    const name = await reserveOne();
    for (const step of PATH_TO[state]) {
      await registry.transition(scaleSet.id, name, step);
    }
    return name;
  };

  beforeEach(() => {
    prefix = `t-${randomUUID()}`;
    redis = new Redis(redisUrl());
    registry = new RunnerRegistry(redis, { prefix, tombstoneTtlMs: 60_000 });
  });

  afterEach(async () => {
    await deleteKeys(redis, `${prefix}:*`);
    await Promise.all(extra.splice(0).map((c) => c.quit()));
    await redis.quit();
  });

  describe('restore', () => {
    it('re-creates a lost entry as a reservation would, beyond capacity, once', async () => {
      const [kept] = await registry.reserve(scaleSet, 1, 1);
      const lost = 'linux-x64-restored01';

      expect(await registry.restore(scaleSet, lost)).toBe(true);
      expect(await registry.restore(scaleSet, lost)).toBe(false);

      const restored = await registry.get(scaleSet.id, lost);
      const reserved = await registry.get(scaleSet.id, kept ?? '');
      expect(restored).toMatchObject({ name: lost, scaleSetId: scaleSet.id, state: 'reserved' });
      // The same fields as a reservation writes.
      expect(Object.keys(restored ?? {}).sort()).toEqual(Object.keys(reserved ?? {}).sort());
      // No capacity check: the compute runs already, so both count.
      expect((await registry.counts(scaleSet.id)).live).toBe(2);
      await registry.transition(scaleSet.id, lost, 'provisioning');
      expect(await registry.get(scaleSet.id, lost)).toMatchObject({ state: 'provisioning' });
    });

    it('never brings back a runner that has a tombstone', async () => {
      const name = await runnerIn('destroying');
      await registry.transition(scaleSet.id, name, 'deleted');

      expect(await registry.restore(scaleSet, name)).toBe(false);
      expect(await registry.get(scaleSet.id, name)).toBeUndefined();
    });
  });

  describe('reserve', () => {
    it('creates reserved runners named after the scale set, up to maxRunners', async () => {
      const names = await registry.reserve(scaleSet, 5, 3);
      expect(names).toHaveLength(3);
      for (const name of names) {
        expect(name).toMatch(/^linux-x64-[a-z0-9]{10}$/);
        const record = await registry.get(scaleSet.id, name);
        expect(record).toMatchObject({
          name,
          scaleSetId: scaleSet.id,
          state: 'reserved',
          attempts: 0,
        });
      }
      expect(await registry.reserve(scaleSet, 1, 3)).toEqual([]);
      expect((await registry.counts(scaleSet.id)).live).toBe(3);
    });

    it('gives back exactly the slots freed by failed, destroying and deleted runners', async () => {
      const names = await registry.reserve(scaleSet, 7, 7);
      expect(names).toHaveLength(7);
      const [a, b, c, d] = names as [string, string, string, string];
      await registry.transition(scaleSet.id, a, 'failed');
      await registry.transition(scaleSet.id, b, 'destroying');
      await registry.transition(scaleSet.id, c, 'destroying');
      await registry.transition(scaleSet.id, c, 'deleted');
      await registry.transition(scaleSet.id, d, 'provisioning');
      const counts = await registry.counts(scaleSet.id);
      expect(counts).toEqual({
        reserved: 3,
        provisioning: 1,
        idle: 0,
        busy: 0,
        failed: 1,
        destroying: 1,
        live: 4,
      });
      const more = await registry.reserve(scaleSet, 10, 7);
      expect(more).toHaveLength(3);
      expect((await registry.counts(scaleSet.id)).live).toBe(7);
    });

    it('never exceeds maxRunners under 20 concurrent reservers (2,000 attempts)', async () => {
      const MAX = 7;
      const RESERVERS = 20;
      const ATTEMPTS = 100;
      const violations: number[] = [];
      const liveSeen = new Set<number>();
      const allNames: string[] = [];

      const reserver = async (): Promise<Map<string, RunnerState>> => {
        const client = connect();
        const mine = new RunnerRegistry(client, { prefix });
        const held = new Map<string, RunnerState>();
        for (let i = 0; i < ATTEMPTS; i++) {
          const got = await mine.reserve(scaleSet, randomInt(1, 4), MAX);
          allNames.push(...got);
          for (const name of got) {
            held.set(name, 'reserved');
          }
          const { live } = await mine.counts(scaleSet.id);
          liveSeen.add(live);
          if (live > MAX) {
            violations.push(live);
          }
          // Move one runner along its lifecycle; about half the moves free a slot.
          const candidates = [...held].filter(([, s]) => s !== 'destroying');
          const pick = candidates[randomInt(0, Math.max(1, candidates.length))];
          if (pick !== undefined) {
            const [name, state] = pick;
            const options = LEGAL_TRANSITIONS[state].filter((t) => t !== 'deleted');
            const to = options[randomInt(0, options.length)] as RunnerState;
            await mine.transition(scaleSet.id, name, to);
            if (to === 'destroying' && randomInt(0, 2) === 0) {
              await mine.transition(scaleSet.id, name, 'deleted');
              held.delete(name);
            } else {
              held.set(name, to);
            }
          }
        }
        return held;
      };

      const results = await Promise.all(Array.from({ length: RESERVERS }, reserver));

      expect(violations).toEqual([]);
      const counts = await registry.counts(scaleSet.id);
      expect(counts.live).toBeLessThanOrEqual(MAX);
      // The bookkeeping of all reservers agrees with Redis.
      const expected: Record<RunnerState, number> = {
        reserved: 0,
        provisioning: 0,
        idle: 0,
        busy: 0,
        failed: 0,
        destroying: 0,
      };
      for (const held of results) {
        for (const state of held.values()) {
          expected[state]++;
        }
      }
      expect(counts).toMatchObject(expected);
      // Freed slots were reused many times over, and names never repeat.
      expect(allNames.length).toBeGreaterThan(MAX * 5);
      expect(new Set(allNames).size).toBe(allNames.length);
      expect(Math.max(...liveSeen)).toBe(MAX);
    }, 120_000);

    it('refuses a reservation carrying a stale epoch and creates nothing', async () => {
      const leases = new LeaseManager(redis, { prefix });
      const first = await leases.acquire(scaleSet.id, 60_000);
      expect(first).toBeDefined();
      await first?.release();
      const second = await leases.acquire(scaleSet.id, 60_000);
      expect(second?.epoch).toBe((first?.epoch ?? 0) + 1);
      await expect(
        registry.reserve(scaleSet, 2, 7, { epoch: first?.epoch ?? 0 }),
      ).rejects.toBeInstanceOf(StaleEpochError);
      expect((await registry.counts(scaleSet.id)).live).toBe(0);
      expect(await registry.reserve(scaleSet, 2, 7, { epoch: second?.epoch ?? 0 })).toHaveLength(2);
      await second?.release();
    });
  });

  describe('transition', () => {
    const targets: RunnerTransitionTarget[] = [...RUNNER_STATES, 'deleted'];
    const pairs = RUNNER_STATES.flatMap((from) => targets.map((to) => [from, to] as const));

    it.each(pairs)(
      '%s -> %s is applied, unchanged or refused as the lifecycle says',
      async (from, to) => {
        const name = await runnerIn(from);
        const before = await registry.get(scaleSet.id, name);
        if (from === to) {
          await expect(registry.transition(scaleSet.id, name, to)).resolves.toEqual({
            outcome: 'unchanged',
            from,
            to,
            createdAt: before?.createdAt,
          });
          expect(await registry.get(scaleSet.id, name)).toEqual(before);
        } else if (isLegalTransition(from, to)) {
          // The reserve time comes back with the move, so callers need no read for it.
          await expect(registry.transition(scaleSet.id, name, to)).resolves.toEqual({
            outcome: 'applied',
            from,
            to,
            createdAt: before?.createdAt,
          });
          if (to === 'deleted') {
            expect(await registry.get(scaleSet.id, name)).toBeUndefined();
            expect(await registry.isTombstoned(scaleSet.id, name)).toBe(true);
          } else {
            expect((await registry.get(scaleSet.id, name))?.state).toBe(to);
            expect((await registry.list(scaleSet.id, to)).map((r) => r.name)).toEqual([name]);
          }
          expect((await registry.list(scaleSet.id, from)).map((r) => r.name)).toEqual([]);
        } else {
          const error: unknown = await registry
            .transition(scaleSet.id, name, to)
            .catch((e: unknown) => e);
          expect(error).toBeInstanceOf(IllegalTransitionError);
          expect(error).toMatchObject({ from, to, runnerName: name, scaleSetId: scaleSet.id });
          expect(await registry.get(scaleSet.id, name)).toEqual(before);
        }
      },
    );

    it('treats a deleted runner as gone: deleted again is unchanged, anything else not found', async () => {
      const name = await runnerIn('destroying');
      await registry.transition(scaleSet.id, name, 'deleted');
      await expect(registry.transition(scaleSet.id, name, 'deleted')).resolves.toEqual({
        outcome: 'unchanged',
        from: 'deleted',
        to: 'deleted',
      });
      await expect(registry.transition(scaleSet.id, name, 'destroying')).rejects.toBeInstanceOf(
        RunnerNotFoundError,
      );
      await expect(
        registry.transition(scaleSet.id, 'never-reserved', 'deleted'),
      ).rejects.toBeInstanceOf(RunnerNotFoundError);
      expect(await registry.isTombstoned(scaleSet.id, 'never-reserved')).toBe(false);
    });

    it('lets the tombstone expire after its TTL', async () => {
      const short = new RunnerRegistry(redis, { prefix, tombstoneTtlMs: 50 });
      const name = await runnerIn('destroying');
      await short.transition(scaleSet.id, name, 'deleted');
      expect(await short.isTombstoned(scaleSet.id, name)).toBe(true);
      const pttl = await redis.pttl(`${prefix}:{ss-${scaleSet.id}}:tombstone:${name}`);
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(50);
    });

    const legalPairs = RUNNER_STATES.flatMap((from) =>
      LEGAL_TRANSITIONS[from].map((to) => [from, to] as const),
    );

    it.each(legalPairs)(
      '%s -> %s is applied exactly once when 10 callers race it',
      async (from, to) => {
        const name = await runnerIn(from);
        const before = await registry.get(scaleSet.id, name);
        const callers = Array.from({ length: 10 }, () => new RunnerRegistry(connect(), { prefix }));
        const results = await Promise.all(callers.map((r) => r.transition(scaleSet.id, name, to)));
        expect(results.filter((r) => r.outcome === 'applied')).toHaveLength(1);
        expect(results.filter((r) => r.outcome === 'unchanged')).toHaveLength(9);
        const counts = await registry.counts(scaleSet.id);
        const total = RUNNER_STATES.reduce((sum, s) => sum + counts[s], 0);
        expect(total).toBe(to === 'deleted' ? 0 : 1);
        if (to !== 'deleted') {
          expect(counts[to]).toBe(1);
          const after = await registry.get(scaleSet.id, name);
          expect(after?.attempts).toBe((before?.attempts ?? 0) + (to === 'provisioning' ? 1 : 0));
        }
      },
    );

    it('lets exactly one of JobStarted (busy) and scale-down (idle only) win a race', async () => {
      const name = await runnerIn('idle');
      const calls = Array.from({ length: 20 }, (_, i) => {
        const r = new RunnerRegistry(connect(), { prefix });
        return i % 2 === 0
          ? r.transition(scaleSet.id, name, 'busy', { jobId: 'job-1' })
          : r.transition(scaleSet.id, name, 'destroying', { from: ['idle'], reason: 'scale-down' });
      });
      const settled = await Promise.allSettled(calls);
      const applied = settled.filter(
        (s): s is PromiseFulfilledResult<TransitionResult> =>
          s.status === 'fulfilled' && s.value.outcome === 'applied',
      );
      expect(applied).toHaveLength(1);
      const winner = applied[0]?.value.to;
      const record = await registry.get(scaleSet.id, name);
      expect(record?.state).toBe(winner);
      // The losers of the other kind are refused because the runner is no longer idle (scale-down)
      // or already being destroyed (JobStarted); the losers of the same kind see `unchanged`.
      const loser = winner === 'busy' ? 'destroying' : 'busy';
      const rejected = settled.filter((s) => s.status === 'rejected');
      expect(rejected).toHaveLength(10);
      for (const s of rejected) {
        expect(s.reason).toBeInstanceOf(IllegalTransitionError);
        expect(s.reason).toMatchObject({ from: winner, to: loser });
      }
    });

    it('records ids, job and reason fields with the move', async () => {
      const name = await runnerIn('reserved');
      await registry.transition(scaleSet.id, name, 'provisioning');
      expect(await registry.annotate(scaleSet.id, name, { runnerId: 123 })).toBe('provisioning');
      await registry.transition(scaleSet.id, name, 'idle', { engineId: 'container-abc' });
      await registry.transition(scaleSet.id, name, 'busy', {
        jobId: 'job-uuid-1',
        jobDisplayName: 'build (ubuntu)',
      });
      await registry.transition(scaleSet.id, name, 'destroying', { reason: 'job-completed' });
      const record = await registry.get(scaleSet.id, name);
      expect(record).toMatchObject({
        state: 'destroying',
        attempts: 1,
        runnerId: 123,
        engineId: 'container-abc',
        jobId: 'job-uuid-1',
        jobDisplayName: 'build (ubuntu)',
        reason: 'job-completed',
      });
      expect(record?.stateChangedAt).toBeGreaterThanOrEqual(record?.createdAt ?? Infinity);
    });

    it('refuses writes carrying an epoch older than the current one', async () => {
      const leases = new LeaseManager(redis, { prefix });
      const old = await leases.acquire(scaleSet.id, 60_000);
      const name = await reserveOne();
      await expect(
        registry.transition(scaleSet.id, name, 'provisioning', { epoch: old?.epoch ?? 0 }),
      ).resolves.toMatchObject({ outcome: 'applied' });
      await old?.release();
      const current = await leases.acquire(scaleSet.id, 60_000);
      const error: unknown = await registry
        .transition(scaleSet.id, name, 'destroying', { epoch: old?.epoch ?? 0 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StaleEpochError);
      expect(error).toMatchObject({ epoch: old?.epoch, currentEpoch: current?.epoch });
      await expect(
        registry.annotate(scaleSet.id, name, { runnerId: 9 }, { epoch: old?.epoch ?? 0 }),
      ).rejects.toBeInstanceOf(StaleEpochError);
      expect(await registry.get(scaleSet.id, name)).toMatchObject({ state: 'provisioning' });
      expect((await registry.get(scaleSet.id, name))?.runnerId).toBeUndefined();
      await expect(
        registry.transition(scaleSet.id, name, 'destroying', { epoch: current?.epoch ?? 0 }),
      ).resolves.toMatchObject({ outcome: 'applied' });
      await current?.release();
    });
  });

  describe('reads', () => {
    it('lists runners of a state oldest first, with limit and changedBefore', async () => {
      const names: string[] = [];
      for (let i = 0; i < 4; i++) {
        names.push(await runnerIn('idle'));
        // Distinct state-change times, so the order is defined.
        await new Promise((r) => setTimeout(r, 5));
      }
      const idle = await registry.list(scaleSet.id, 'idle');
      expect(idle.map((r) => r.name)).toEqual(names);
      expect((await registry.list(scaleSet.id, 'idle', { limit: 2 })).map((r) => r.name)).toEqual(
        names.slice(0, 2),
      );
      const third = idle[2]?.stateChangedAt ?? 0;
      expect(
        (await registry.list(scaleSet.id, 'idle', { changedBefore: third })).map((r) => r.name),
      ).toEqual(names.slice(0, 2));
      const busy = await runnerIn('busy');
      expect((await registry.list(scaleSet.id)).map((r) => r.name).sort()).toEqual(
        [...names, busy].sort(),
      );
    });

    it('returns undefined for an unknown runner', async () => {
      expect(await registry.get(scaleSet.id, 'nobody-here')).toBeUndefined();
    });
  });
});

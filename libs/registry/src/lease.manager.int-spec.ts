import { randomInt, randomUUID } from 'node:crypto';

import { Redis } from 'ioredis';

import { StaleEpochError } from './errors';
import { Lease, LeaseManager, type LeaseLostReason } from './lease.manager';
import { MessageCursor } from './message.cursor';
import { RunnerRegistry } from './runner.registry';

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

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) {
      return value;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function lostPromise(): {
  promise: Promise<{ reason: LeaseLostReason; cause: unknown }>;
  onLost: (reason: LeaseLostReason, cause?: unknown) => void;
} {
  let onLost: (reason: LeaseLostReason, cause?: unknown) => void = () => undefined;
  const promise = new Promise<{ reason: LeaseLostReason; cause: unknown }>((resolve) => {
    onLost = (reason, cause) => {
      resolve({ reason, cause });
    };
  });
  return { promise, onLost };
}

describe('LeaseManager and MessageCursor (real Redis)', () => {
  let prefix: string;
  let redis: Redis;
  let leases: LeaseManager;
  let other: LeaseManager;
  let otherRedis: Redis;
  const scaleSetId = randomInt(1, 1_000_000);
  const held: Lease[] = [];

  const acquire = async (manager: LeaseManager, ttlMs: number): Promise<Lease> => {
    const lease = await manager.acquire(scaleSetId, ttlMs);
    if (lease === undefined) {
      throw new Error('expected to acquire the lease');
    }
    held.push(lease);
    return lease;
  };

  beforeEach(() => {
    prefix = `t-${randomUUID()}`;
    redis = new Redis(redisUrl());
    otherRedis = new Redis(redisUrl());
    leases = new LeaseManager(redis, { prefix });
    other = new LeaseManager(otherRedis, { prefix });
  });

  afterEach(async () => {
    for (const lease of held.splice(0)) {
      lease.stopAutoRenew();
    }
    await deleteKeys(otherRedis, `${prefix}:*`);
    for (const client of [redis, otherRedis]) {
      // disconnect() on an ended client arms a 2 s timer in ioredis that keeps jest alive.
      if (client.status === 'ready') {
        await client.quit();
      } else if (client.status !== 'end') {
        client.disconnect();
      }
    }
  });

  it('gives the lease to one holder at a time, with a higher epoch on every acquisition', async () => {
    const first = await acquire(leases, 10_000);
    expect(first.epoch).toBe(1);
    expect(await other.acquire(scaleSetId, 10_000)).toBeUndefined();
    expect(await leases.currentEpoch(scaleSetId)).toBe(1);
    expect(await first.release()).toBe(true);
    const second = await acquire(other, 10_000);
    expect(second.epoch).toBe(2);
    expect(second.token).not.toBe(first.token);
  });

  it('lets a lease that is not renewed expire, and a contender take it with a higher epoch', async () => {
    const first = await acquire(leases, 150);
    const second = await eventually(
      () => other.acquire(scaleSetId, 10_000),
      (lease) => lease !== undefined,
    );
    expect(second).toBeDefined();
    if (second !== undefined) {
      held.push(second);
    }
    expect(second?.epoch).toBe(first.epoch + 1);
    expect(await first.renew()).toBe(false);
    expect(first.lost).toBe('taken');
  });

  it("tells a contender how long the holder's lease has left, and takes it once it expired", async () => {
    const first = await acquire(leases, 400);
    const attempt = await other.tryAcquire(scaleSetId, 10_000);
    expect(attempt.lease).toBeUndefined();
    expect(attempt.holderTtlMs).toBeGreaterThan(0);
    expect(attempt.holderTtlMs).toBeLessThanOrEqual(400);
    // Retrying right after that TTL finds the lease free.
    await new Promise((r) => setTimeout(r, (attempt.holderTtlMs ?? 0) + 20));
    const second = await other.tryAcquire(scaleSetId, 10_000);
    expect(second.lease?.epoch).toBe(first.epoch + 1);
    expect(second.holderTtlMs).toBeUndefined();
    if (second.lease !== undefined) {
      held.push(second.lease);
    }
  });

  it('refuses renew and release with a wrong token and leaves the holder in place', async () => {
    const lease = await acquire(leases, 10_000);
    expect(await other.renewLease(scaleSetId, 'not-the-token', 10_000)).toBe('taken');
    expect(await other.releaseLease(scaleSetId, 'not-the-token')).toBe('taken');
    const impostor = new Lease(other, scaleSetId, 'forged', lease.epoch, 10_000, Date.now());
    expect(await impostor.renew()).toBe(false);
    expect(await impostor.release()).toBe(false);
    expect(await redis.get(`${prefix}:{ss-${scaleSetId}}:lease`)).toBe(lease.token);
    expect(await lease.renew()).toBe(true);
    await lease.release();
    expect(await other.renewLease(scaleSetId, lease.token, 10_000)).toBe('expired');
  });

  it('keeps an auto-renewed lease beyond its TTL', async () => {
    const lease = await acquire(leases, 300);
    const { onLost, promise } = lostPromise();
    lease.startAutoRenew({ onLost });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await other.acquire(scaleSetId, 10_000)).toBeUndefined();
    expect(lease.held).toBe(true);
    expect(await lease.release()).toBe(true);
    expect(await leases.holderTtl(scaleSetId)).toBeUndefined();
    const outcome = await Promise.race([promise, new Promise((r) => setTimeout(r, 500, 'none'))]);
    expect(outcome).toBe('none');
  });

  it('reports through onLost when another holder took the lease', async () => {
    const lease = await acquire(leases, 300);
    const { onLost, promise } = lostPromise();
    lease.startAutoRenew({ onLost });
    // Simulates a long pause (GC, suspended VM) in which the lease lapsed and was taken.
    await redis.del(`${prefix}:{ss-${scaleSetId}}:lease`);
    const usurper = await acquire(other, 10_000);
    expect(await promise).toEqual({ reason: 'taken', cause: undefined });
    expect(lease.held).toBe(false);
    expect(usurper.epoch).toBe(lease.epoch + 1);
  });

  it('reports renewal errors, then onLost(unreachable), when Redis cannot be reached', async () => {
    const lease = await acquire(leases, 300);
    const { onLost, promise } = lostPromise();
    const errors: unknown[] = [];
    lease.startAutoRenew({ onLost, onRenewalError: (e) => errors.push(e) });
    redis.disconnect();
    const { reason, cause } = await promise;
    expect(reason).toBe('unreachable');
    expect(cause).toBeInstanceOf(Error);
    expect(errors.length).toBeGreaterThan(0);
  });

  it('stops a deposed leader from writing runner state, the cursor and the session slot', async () => {
    const registry = new RunnerRegistry(redis, { prefix });
    const cursor = new MessageCursor(redis, { prefix });
    const scaleSet = { id: scaleSetId, name: 'pool' };
    const old = await acquire(leases, 100);
    const [runner] = await registry.reserve(scaleSet, 1, 5, { epoch: old.epoch });
    expect(runner).toBeDefined();
    await cursor.setCursor(scaleSetId, 100, old.epoch);
    await leases.setSessionId(scaleSetId, 'session-old', old.epoch);

    const current = await eventually(
      () => other.acquire(scaleSetId, 10_000),
      (lease) => lease !== undefined,
    );
    if (current === undefined) {
      throw new Error('the new leader did not get the lease');
    }
    held.push(current);
    // The new leader reads its predecessor's session id to delete it (fast hand-over).
    expect(await other.getSessionId(scaleSetId)).toBe('session-old');

    const name = runner ?? '';
    await expect(
      registry.transition(scaleSetId, name, 'destroying', { epoch: old.epoch }),
    ).rejects.toBeInstanceOf(StaleEpochError);
    await expect(cursor.setCursor(scaleSetId, 101, old.epoch)).rejects.toBeInstanceOf(
      StaleEpochError,
    );
    await expect(
      leases.setSessionId(scaleSetId, 'session-old-2', old.epoch),
    ).rejects.toBeInstanceOf(StaleEpochError);
    await expect(leases.clearSessionId(scaleSetId, old.epoch)).rejects.toBeInstanceOf(
      StaleEpochError,
    );

    expect((await registry.get(scaleSetId, name))?.state).toBe('reserved');
    expect(await cursor.getCursor(scaleSetId)).toBe(100);
    expect(await leases.getSessionId(scaleSetId)).toBe('session-old');

    await other.setSessionId(scaleSetId, 'session-new', current.epoch);
    expect(await cursor.setCursor(scaleSetId, 101, current.epoch)).toBe(true);
    expect(await leases.getSessionId(scaleSetId)).toBe('session-new');
    await other.clearSessionId(scaleSetId, current.epoch);
    expect(await leases.getSessionId(scaleSetId)).toBeUndefined();
  });

  it('moves the cursor forward only', async () => {
    const cursor = new MessageCursor(redis, { prefix });
    const lease = await acquire(leases, 10_000);
    expect(await cursor.getCursor(scaleSetId)).toBe(0);
    expect(await cursor.setCursor(scaleSetId, 100_000_171, lease.epoch)).toBe(true);
    expect(await cursor.setCursor(scaleSetId, 100_000_170, lease.epoch)).toBe(false);
    expect(await cursor.setCursor(scaleSetId, 100_000_171, lease.epoch)).toBe(false);
    expect(await cursor.getCursor(scaleSetId)).toBe(100_000_171);
    expect(await cursor.setCursor(scaleSetId, 2 ** 53 - 1, lease.epoch)).toBe(true);
    expect(await cursor.getCursor(scaleSetId)).toBe(2 ** 53 - 1);
  });

  it('refuses a cursor write without a lease ever acquired (epoch 0)', async () => {
    const cursor = new MessageCursor(redis, { prefix });
    await expect(cursor.setCursor(scaleSetId, 5, 1)).rejects.toMatchObject({
      name: 'StaleEpochError',
      currentEpoch: 0,
    });
  });
});

import { Lease, type LeaseCheck, type LeaseLostReason, type LeaseStore } from './lease.manager';

/** A hand-written store whose answers the test scripts; records renewals. */
class FakeLeaseStore implements LeaseStore {
  renewals = 0;
  releases = 0;
  next: LeaseCheck | Error = 'ok';

  renewLease(): Promise<LeaseCheck> {
    this.renewals++;
    return this.next instanceof Error ? Promise.reject(this.next) : Promise.resolve(this.next);
  }

  releaseLease(): Promise<LeaseCheck> {
    this.releases++;
    return Promise.resolve('ok');
  }
}

const TTL = 3_000;

describe('Lease auto-renewal', () => {
  let store: FakeLeaseStore;
  let lost: { reason: LeaseLostReason; cause: unknown }[];
  let errors: unknown[];
  let lease: Lease;

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
    store = new FakeLeaseStore();
    lost = [];
    errors = [];
    lease = new Lease(store, 7, 'token', 3, TTL, Date.now());
  });

  afterEach(() => {
    lease.stopAutoRenew();
    jest.useRealTimers();
  });

  const start = (): void => {
    lease.startAutoRenew({
      onLost: (reason, cause) => lost.push({ reason, cause }),
      onRenewalError: (error) => errors.push(error),
    });
  };

  it('renews at a third of the TTL and keeps the lease valid', async () => {
    start();
    await jest.advanceTimersByTimeAsync(TTL / 3 - 1);
    expect(store.renewals).toBe(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(store.renewals).toBe(1);
    await jest.advanceTimersByTimeAsync(10 * TTL);
    expect(store.renewals).toBe(31);
    expect(lease.held).toBe(true);
    expect(lost).toEqual([]);
  });

  it.each<LeaseCheck>(['taken', 'expired'])(
    'reports a renewal that finds the lease %s, once, and stops renewing',
    async (check) => {
      start();
      await jest.advanceTimersByTimeAsync(TTL / 3);
      store.next = check;
      await jest.advanceTimersByTimeAsync(TTL / 3);
      expect(lost).toEqual([{ reason: check, cause: undefined }]);
      expect(lease.lost).toBe(check);
      expect(lease.held).toBe(false);
      const renewals = store.renewals;
      await jest.advanceTimersByTimeAsync(5 * TTL);
      expect(store.renewals).toBe(renewals);
      expect(lost).toHaveLength(1);
    },
  );

  it('reports renewal errors and declares the lease unreachable once a TTL has passed', async () => {
    start();
    const down = new Error('connection refused');
    store.next = down;
    await jest.advanceTimersByTimeAsync(TTL / 3);
    expect(errors).toEqual([down]);
    expect(lost).toEqual([]);
    await jest.advanceTimersByTimeAsync(TTL);
    expect(lost).toEqual([{ reason: 'unreachable', cause: down }]);
    expect(errors.length).toBeGreaterThanOrEqual(3);
    expect(lease.held).toBe(false);
  });

  it('recovers when Redis answers again before the TTL runs out', async () => {
    start();
    store.next = new Error('timeout');
    await jest.advanceTimersByTimeAsync(TTL / 3);
    store.next = 'ok';
    await jest.advanceTimersByTimeAsync(TTL / 3);
    await jest.advanceTimersByTimeAsync(3 * TTL);
    expect(lost).toEqual([]);
    expect(lease.held).toBe(true);
  });

  it('stops renewing on release and never reports the released lease as lost', async () => {
    start();
    await jest.advanceTimersByTimeAsync(TTL / 3);
    expect(await lease.release()).toBe(true);
    const renewals = store.renewals;
    await jest.advanceTimersByTimeAsync(5 * TTL);
    expect(store.renewals).toBe(renewals);
    expect(store.releases).toBe(1);
    expect(lost).toEqual([]);
    expect(lease.held).toBe(false);
    expect(await lease.renew()).toBe(false);
  });

  it('refuses a second auto-renewal and an interval not shorter than the TTL', () => {
    start();
    expect(start).toThrow(/already running/);
    const other = new Lease(store, 7, 't2', 4, TTL, Date.now());
    expect(() => {
      other.startAutoRenew({ onLost: () => undefined, intervalMs: TTL });
    }).toThrow(/shorter than the TTL/);
  });
});

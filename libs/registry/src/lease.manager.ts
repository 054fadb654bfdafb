import { randomBytes } from 'node:crypto';

import { InvalidRegistryArgumentError, StaleEpochError, UnexpectedRedisReplyError } from './errors';
import {
  DEFAULT_KEY_PREFIX,
  assertEpoch,
  assertValidKeyPrefix,
  scaleSetKeys,
  type ScaleSetKeys,
} from './registry.keys';
import {
  FENCED_SET_LUA,
  LEASE_ACQUIRE_LUA,
  LEASE_RELEASE_LUA,
  LEASE_RENEW_LUA,
  defineScript,
  type RedisClient,
  type ScriptRunner,
} from './registry.scripts';
import { integerReply, statusReply } from './redis.reply';

/** What renewing or releasing a lease found: `expired` = nobody holds it, `taken` = another token does. */
export type LeaseCheck = 'ok' | 'expired' | 'taken';

/** Why a lease was lost: it expired, another holder took it, or Redis could not be reached for a whole TTL. */
export type LeaseLostReason = 'expired' | 'taken' | 'unreachable';

/**
 * What {@link LeaseManager.tryAcquire} found: the lease, or the milliseconds the holder's lease
 * has left (`undefined` when it has no expiry).
 */
export type LeaseAttempt =
  | { readonly lease: Lease; readonly holderTtlMs?: undefined }
  | { readonly lease: undefined; readonly holderTtlMs: number | undefined };

/** The Redis operations a {@link Lease} needs (implemented by {@link LeaseManager}). */
export interface LeaseStore {
  renewLease(scaleSetId: number, token: string, ttlMs: number): Promise<LeaseCheck>;
  releaseLease(scaleSetId: number, token: string): Promise<LeaseCheck>;
}

/** Callbacks of {@link Lease.startAutoRenew}. */
export interface AutoRenewOptions {
  /**
   * Called once when the lease is lost; the holder must stop acting as leader at once.
   * Not called after {@link Lease.release}.
   */
  readonly onLost: (reason: LeaseLostReason, cause?: unknown) => void;
  /** Called for each renewal that failed with an error but may still succeed on the next try. */
  readonly onRenewalError?: (error: unknown) => void;
  /** Time between renewals; default a third of the TTL. */
  readonly intervalMs?: number;
}

/**
 * A held lease on one scale set. `epoch` is the fencing token: pass it with every registry,
 * cursor and session write made as leader. Obtain one from {@link LeaseManager.acquire}.
 */
export class Lease {
  private lastConfirmedAt: number;
  private timer: NodeJS.Timeout | undefined;
  private autoRenew: AutoRenewOptions | undefined;
  private lostReason: LeaseLostReason | undefined;
  private released = false;

  constructor(
    private readonly store: LeaseStore,
    readonly scaleSetId: number,
    readonly token: string,
    readonly epoch: number,
    readonly ttlMs: number,
    /** Local time the acquire request was sent, so validity estimates err on the short side. */
    acquiredAt: number,
  ) {
    this.lastConfirmedAt = acquiredAt;
  }

  /** Local estimate (epoch ms) of when the lease expires unless renewed; errs early. */
  get validUntil(): number {
    return this.lastConfirmedAt + this.ttlMs;
  }

  /** Why the lease was lost, once it has been detected as lost. */
  get lost(): LeaseLostReason | undefined {
    return this.lostReason;
  }

  /** Whether this holder still believes it holds the lease (not released, lost or past `validUntil`). */
  get held(): boolean {
    return !this.released && this.lostReason === undefined && Date.now() < this.validUntil;
  }

  /** Extends the lease by its TTL if this token still holds it. Returns false when it is lost. */
  async renew(): Promise<boolean> {
    if (this.released || this.lostReason !== undefined) {
      return false;
    }
    const sentAt = Date.now();
    const check = await this.store.renewLease(this.scaleSetId, this.token, this.ttlMs);
    if (check === 'ok') {
      this.lastConfirmedAt = sentAt;
      return true;
    }
    this.markLost(check);
    return false;
  }

  /** Stops auto-renewal and deletes the lease if this token holds it. Returns whether it did. */
  async release(): Promise<boolean> {
    this.stopAutoRenew();
    if (this.released) {
      return false;
    }
    this.released = true;
    return (await this.store.releaseLease(this.scaleSetId, this.token)) === 'ok';
  }

  /**
   * Renews every `intervalMs` (default TTL/3) until {@link release}, {@link stopAutoRenew} or
   * loss. A renewal that finds another token (or none) reports `taken`/`expired` through
   * `onLost`; renewals that fail with errors are reported through `onRenewalError` and retried
   * until a whole TTL has passed since the last confirmed renewal, then `onLost('unreachable')`.
   */
  startAutoRenew(options: AutoRenewOptions): void {
    if (this.autoRenew !== undefined) {
      throw new InvalidRegistryArgumentError(
        'startAutoRenew',
        'auto-renewal is already running',
        this.scaleSetId,
      );
    }
    const interval = options.intervalMs ?? Math.max(1, Math.floor(this.ttlMs / 3));
    if (!Number.isFinite(interval) || interval <= 0 || interval >= this.ttlMs) {
      throw new InvalidRegistryArgumentError(
        'intervalMs',
        `${interval} must be positive and shorter than the TTL (${this.ttlMs})`,
        this.scaleSetId,
      );
    }
    this.autoRenew = options;
    this.schedule(interval);
  }

  /** Stops auto-renewal without releasing the lease. */
  stopAutoRenew(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.autoRenew = undefined;
  }

  private schedule(interval: number): void {
    this.timer = setTimeout(() => {
      void this.tick(interval);
    }, interval);
    // The lease must not keep a process alive on its own; the holder's work does that.
    this.timer.unref();
  }

  private async tick(interval: number): Promise<void> {
    const options = this.autoRenew;
    if (options === undefined) {
      return;
    }
    try {
      const renewed = await this.renew();
      if (renewed && this.autoRenew === options) {
        this.schedule(interval);
      }
    } catch (error) {
      if (this.autoRenew !== options) {
        return;
      }
      options.onRenewalError?.(error);
      if (Date.now() >= this.validUntil) {
        this.markLost('unreachable', error);
        return;
      }
      this.schedule(Math.min(interval, Math.max(1, this.validUntil - Date.now())));
    }
  }

  private markLost(reason: LeaseLostReason, cause?: unknown): void {
    if (this.lostReason !== undefined || this.released) {
      return;
    }
    this.lostReason = reason;
    const options = this.autoRenew;
    this.stopAutoRenew();
    options?.onLost(reason, cause);
  }
}

/** Options of {@link LeaseManager}. */
export interface LeaseManagerOptions {
  /** Key prefix (default `scaleset`); must match the registry's. */
  readonly prefix?: string;
}

const MAX_SESSION_ID_LENGTH = 128;

/**
 * Leader leases per scale set: `SET NX PX` with a random token, compare-and-set renew and
 * release in Lua, and an epoch (`INCR` on every successful acquisition) returned as the fencing
 * token. Also keeps the current message session id next to the lease, written with the epoch
 * check, so a new leader can delete its predecessor's session (fast hand-over).
 */
export class LeaseManager implements LeaseStore {
  private readonly prefix: string;
  private readonly acquireScript: ScriptRunner;
  private readonly renewScript: ScriptRunner;
  private readonly releaseScript: ScriptRunner;
  private readonly fencedSetScript: ScriptRunner;

  constructor(
    private readonly redis: RedisClient,
    options: LeaseManagerOptions = {},
  ) {
    this.prefix = options.prefix ?? DEFAULT_KEY_PREFIX;
    assertValidKeyPrefix(this.prefix);
    this.acquireScript = defineScript(redis, 'scalesetLeaseAcquireV1', LEASE_ACQUIRE_LUA);
    this.renewScript = defineScript(redis, 'scalesetLeaseRenewV1', LEASE_RENEW_LUA);
    this.releaseScript = defineScript(redis, 'scalesetLeaseReleaseV1', LEASE_RELEASE_LUA);
    this.fencedSetScript = defineScript(redis, 'scalesetFencedSetV1', FENCED_SET_LUA);
  }

  /** Takes the scale set's lease for `ttlMs` if nobody holds it; `undefined` when someone does. */
  async acquire(scaleSetId: number, ttlMs: number): Promise<Lease | undefined> {
    return (await this.tryAcquire(scaleSetId, ttlMs)).lease;
  }

  /**
   * {@link acquire}, also telling a loser how long the holder's lease has left (read by the
   * same script, no extra round trip), so a standby can retry right when it expires.
   */
  async tryAcquire(scaleSetId: number, ttlMs: number): Promise<LeaseAttempt> {
    const keys = this.keys(scaleSetId);
    assertTtl(ttlMs, scaleSetId);
    const token = randomBytes(16).toString('hex');
    const sentAt = Date.now();
    const reply = await this.acquireScript([keys.lease, keys.epoch], [token, ttlMs]);
    if (!Array.isArray(reply) || reply.length !== 2) {
      throw new UnexpectedRedisReplyError('lease acquire', scaleSetId);
    }
    const [won, value] = reply as unknown[];
    if (integerReply(won, 'lease acquire', scaleSetId) !== 1) {
      // PTTL: -2 the lease expired since the SET NX (retry at once), -1 it has no TTL.
      const pttl = integerReply(value, 'lease acquire', scaleSetId);
      return { lease: undefined, holderTtlMs: pttl >= 0 ? pttl : pttl === -2 ? 0 : undefined };
    }
    const epoch = integerReply(value, 'lease acquire', scaleSetId);
    return { lease: new Lease(this, scaleSetId, token, epoch, ttlMs, sentAt) };
  }

  /** Extends the lease if `token` holds it. */
  async renewLease(scaleSetId: number, token: string, ttlMs: number): Promise<LeaseCheck> {
    const keys = this.keys(scaleSetId);
    assertTtl(ttlMs, scaleSetId);
    return leaseCheck(
      await this.renewScript([keys.lease], [token, ttlMs]),
      'lease renew',
      scaleSetId,
    );
  }

  /** Deletes the lease if `token` holds it. */
  async releaseLease(scaleSetId: number, token: string): Promise<LeaseCheck> {
    const keys = this.keys(scaleSetId);
    return leaseCheck(await this.releaseScript([keys.lease], [token]), 'lease release', scaleSetId);
  }

  /** The scale set's current epoch (0 before the first acquisition). */
  async currentEpoch(scaleSetId: number): Promise<number> {
    const keys = this.keys(scaleSetId);
    const value = await this.redis.get(keys.epoch);
    return value === null ? 0 : integerReply(value, 'current epoch', scaleSetId);
  }

  /** Milliseconds the current holder's lease has left, or `undefined` when nobody holds it. */
  async holderTtl(scaleSetId: number): Promise<number | undefined> {
    const keys = this.keys(scaleSetId);
    const pttl = await this.redis.pttl(keys.lease);
    return pttl >= 0 ? pttl : undefined;
  }

  /** The message session id the last leader stored, if any. */
  async getSessionId(scaleSetId: number): Promise<string | undefined> {
    const keys = this.keys(scaleSetId);
    return (await this.redis.get(keys.session)) ?? undefined;
  }

  /**
   * Stores the leader's message session id.
   *
   * @throws {@link StaleEpochError} when `epoch` is not the current epoch.
   */
  async setSessionId(scaleSetId: number, sessionId: string, epoch: number): Promise<void> {
    if (sessionId.length === 0 || sessionId.length > MAX_SESSION_ID_LENGTH) {
      throw new InvalidRegistryArgumentError(
        'session id',
        `must be 1 to ${MAX_SESSION_ID_LENGTH} characters`,
        scaleSetId,
      );
    }
    await this.fencedSet(scaleSetId, sessionId, epoch);
  }

  /**
   * Clears the session slot after the leader deleted its session.
   *
   * @throws {@link StaleEpochError} when `epoch` is not the current epoch.
   */
  async clearSessionId(scaleSetId: number, epoch: number): Promise<void> {
    await this.fencedSet(scaleSetId, '', epoch);
  }

  private async fencedSet(scaleSetId: number, value: string, epoch: number): Promise<void> {
    const keys = this.keys(scaleSetId);
    assertEpoch(epoch, scaleSetId);
    const reply = statusReply(
      await this.fencedSetScript([keys.epoch, keys.session], [String(epoch), value]),
      'session',
      scaleSetId,
    );
    if (reply.status === 'stale') {
      throw new StaleEpochError(scaleSetId, epoch, Number(reply.detail), 'session');
    }
    if (reply.status !== 'ok') {
      throw new UnexpectedRedisReplyError('session', scaleSetId);
    }
  }

  private keys(scaleSetId: number): ScaleSetKeys {
    return scaleSetKeys(this.prefix, scaleSetId);
  }
}

function leaseCheck(reply: unknown, operation: string, scaleSetId: number): LeaseCheck {
  switch (integerReply(reply, operation, scaleSetId)) {
    case 1:
      return 'ok';
    case 0:
      return 'expired';
    case -1:
      return 'taken';
    default:
      throw new UnexpectedRedisReplyError(operation, scaleSetId);
  }
}

function assertTtl(ttlMs: number, scaleSetId: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 3) {
    throw new InvalidRegistryArgumentError(
      'lease TTL',
      `${ttlMs} ms is not an integer ≥ 3`,
      scaleSetId,
    );
  }
}

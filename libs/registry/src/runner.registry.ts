import {
  IllegalTransitionError,
  InvalidRegistryArgumentError,
  RunnerNotFoundError,
  StaleEpochError,
  UnexpectedRedisReplyError,
} from './errors';
import {
  DEFAULT_KEY_PREFIX,
  assertEpoch,
  assertValidKeyPrefix,
  scaleSetKeys,
  type ScaleSetKeys,
} from './registry.keys';
import {
  ANNOTATE_LUA,
  RESERVE_LUA,
  RESTORE_LUA,
  TRANSITION_LUA,
  defineScript,
  type RedisClient,
  type ScriptRunner,
} from './registry.scripts';
import { integerReply, statusReply } from './redis.reply';
import { isValidRunnerName, runnerName } from './runner.names';
import {
  LIVE_STATES,
  RUNNER_STATES,
  isRunnerState,
  type RunnerState,
  type RunnerTransitionTarget,
} from './runner.state';

/** How long a deleted runner's tombstone lives when not configured: 1 hour. */
export const DEFAULT_TOMBSTONE_TTL_MS = 3_600_000;

/** Longest `reason` stored; longer ones are cut. Reasons are short codes, not error dumps. */
export const MAX_REASON_LENGTH = 200;

const MAX_FIELD_LENGTH = 256;

/** The scale set a reservation is for: GitHub's id and name (the name prefixes runner names). */
export interface ScaleSetRef {
  readonly id: number;
  readonly name: string;
}

/** A runner's registry entry as read back from Redis. Times are epoch milliseconds (Redis clock). */
export interface RunnerRecord {
  readonly name: string;
  readonly scaleSetId: number;
  readonly state: RunnerState;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly stateChangedAt: number;
  /** How many times the runner entered `provisioning`. */
  readonly attempts: number;
  /** The compute engine's id of the runner's container or VM, once started. */
  readonly engineId?: string;
  /** GitHub's numeric runner id, known once the JIT config is generated. */
  readonly runnerId?: number;
  /** Short reason code of the last move that gave one (e.g. `job-completed`, `startup-timeout`). */
  readonly reason?: string;
  /** The job the runner took (`JobStarted.jobId`), from `busy` on. */
  readonly jobId?: string;
  readonly jobDisplayName?: string;
}

/** Fields a transition may record along with the move. */
export interface RunnerFields {
  readonly engineId?: string;
  readonly runnerId?: number;
  readonly reason?: string;
  readonly jobId?: string;
  readonly jobDisplayName?: string;
}

/** Options of {@link RunnerRegistry.transition}. */
export interface TransitionOptions extends RunnerFields {
  /** The caller's lease epoch; the move is refused with {@link StaleEpochError} if it is not current. */
  readonly epoch?: number;
  /**
   * Only move when the runner is in one of these states (e.g. scale-down passes `['idle']` so a
   * runner that just became busy is kept). Otherwise {@link IllegalTransitionError}.
   */
  readonly from?: readonly RunnerState[];
}

/**
 * `applied`: this call made the move. `unchanged`: the runner was already in the target state
 * (or already deleted), so a duplicate message or retried job did no harm.
 */
export type TransitionOutcome = 'applied' | 'unchanged';

/** What {@link RunnerRegistry.transition} did. */
export interface TransitionResult {
  readonly outcome: TransitionOutcome;
  /** The state before the call (`deleted` when only the tombstone was left). */
  readonly from: RunnerTransitionTarget;
  readonly to: RunnerTransitionTarget;
  /**
   * When the runner was reserved (epoch ms, Redis clock), read by the same script; absent when
   * only the tombstone was left. Saves the caller a read (the worker's startup-time metric).
   */
  readonly createdAt?: number;
}

/** Runners per state, plus `live` (the states that count towards `maxRunners`). */
export type RunnerCounts = Readonly<Record<RunnerState, number>> & { readonly live: number };

/** Options of {@link RunnerRegistry.list}. */
export interface ListRunnersOptions {
  /** At most this many runners per state, oldest state change first. */
  readonly limit?: number;
  /** Only runners whose last state change is older than this time (epoch ms), for timeout scans. */
  readonly changedBefore?: number;
}

/** Options of {@link RunnerRegistry}. */
export interface RunnerRegistryOptions {
  /** Key prefix (default `scaleset`); see docs/redis.md. */
  readonly prefix?: string;
  /** How long a deleted runner's tombstone lives (default {@link DEFAULT_TOMBSTONE_TTL_MS}). */
  readonly tombstoneTtlMs?: number;
}

/**
 * The runner registry: one hash per runner plus one sorted set per state (scored by the time of
 * the last state change), per scale set. Every write is one Lua script that checks the current
 * state, and the caller's epoch when given. Nothing secret is ever written: no JIT config, no
 * token; only names, ids, states, times and reason codes.
 */
export class RunnerRegistry {
  private readonly prefix: string;
  private readonly tombstoneTtlMs: number;
  private readonly transitionScript: ScriptRunner;
  private readonly reserveScript: ScriptRunner;
  private readonly restoreScript: ScriptRunner;
  private readonly annotateScript: ScriptRunner;

  constructor(
    private readonly redis: RedisClient,
    options: RunnerRegistryOptions = {},
  ) {
    this.prefix = options.prefix ?? DEFAULT_KEY_PREFIX;
    assertValidKeyPrefix(this.prefix);
    this.tombstoneTtlMs = options.tombstoneTtlMs ?? DEFAULT_TOMBSTONE_TTL_MS;
    if (!Number.isSafeInteger(this.tombstoneTtlMs) || this.tombstoneTtlMs <= 0) {
      throw new InvalidRegistryArgumentError(
        'tombstoneTtlMs',
        `${this.tombstoneTtlMs} is not a positive integer`,
      );
    }
    this.transitionScript = defineScript(redis, 'scalesetRunnerTransitionV1', TRANSITION_LUA);
    this.reserveScript = defineScript(redis, 'scalesetRunnerReserveV1', RESERVE_LUA);
    this.restoreScript = defineScript(redis, 'scalesetRunnerRestoreV1', RESTORE_LUA);
    this.annotateScript = defineScript(redis, 'scalesetRunnerAnnotateV1', ANNOTATE_LUA);
  }

  /**
   * Atomically reserves up to `count` new runner slots while the live count (reserved +
   * provisioning + idle + busy) stays at most `maxRunners`. Returns the names of the runners
   * created, in state `reserved`; fewer than `count` (maybe none) when capacity is short.
   */
  async reserve(
    scaleSet: ScaleSetRef,
    count: number,
    maxRunners: number,
    options: { readonly epoch?: number } = {},
  ): Promise<string[]> {
    const keys = this.keys(scaleSet.id);
    assertCount('count', count, scaleSet.id);
    assertCount('maxRunners', maxRunners, scaleSet.id);
    const epoch = epochArg(options.epoch, scaleSet.id);
    const candidates = new Set<string>();
    while (candidates.size < Math.min(count, maxRunners)) {
      candidates.add(runnerName(scaleSet.name));
    }
    if (candidates.size === 0) {
      return [];
    }
    const names = [...candidates];
    const reply = statusReply(
      await this.reserveScript(
        [...LIVE_STATES.map((s) => keys.state(s)), keys.epoch, ...names.map((n) => keys.runner(n))],
        [maxRunners, count, epoch, scaleSet.id, ...names],
      ),
      'reserve',
      scaleSet.id,
    );
    if (reply.status === 'stale') {
      throw staleError(scaleSet.id, options.epoch, reply.detail, 'reserve');
    }
    if (reply.status !== 'ok') {
      throw new UnexpectedRedisReplyError('reserve', scaleSet.id);
    }
    return [...reply.rest];
  }

  /**
   * Re-creates the entry of a runner that exists outside the registry (its compute runs, its
   * entry was lost with Redis' data), in `reserved`, with the same fields a reservation
   * writes and without the capacity check. Returns false when the runner has an entry or a
   * tombstone. The caller moves it on with {@link transition}.
   */
  async restore(scaleSet: { readonly id: number }, name: string): Promise<boolean> {
    assertRunnerName(name, scaleSet.id);
    const keys = this.keys(scaleSet.id);
    const reply = await this.restoreScript(
      [keys.runner(name), keys.state('reserved'), keys.tombstone(name)],
      [name, scaleSet.id],
    );
    return integerReply(reply, 'restore', scaleSet.id) === 1;
  }

  /**
   * Moves a runner to `to` in one atomic step, recording `fields` along with the move. Entering
   * `provisioning` counts an attempt; `deleted` removes the entry and leaves a tombstone.
   *
   * @throws {@link IllegalTransitionError} when the lifecycle (or `options.from`) forbids the move.
   * @throws {@link RunnerNotFoundError} when the runner has no entry (and, for `deleted`, no tombstone).
   * @throws {@link StaleEpochError} when `options.epoch` is not the current epoch.
   */
  async transition(
    scaleSetId: number,
    name: string,
    to: RunnerTransitionTarget,
    options: TransitionOptions = {},
  ): Promise<TransitionResult> {
    const keys = this.keys(scaleSetId);
    assertRunnerName(name, scaleSetId);
    if (to !== 'deleted' && !isRunnerState(to)) {
      throw new InvalidRegistryArgumentError(
        'target state',
        `"${String(to)}" is not a state`,
        scaleSetId,
      );
    }
    const epoch = epochArg(options.epoch, scaleSetId);
    const from = options.from ?? [];
    for (const state of from) {
      if (!isRunnerState(state)) {
        throw new InvalidRegistryArgumentError(
          'from',
          `"${String(state)}" is not a state`,
          scaleSetId,
        );
      }
    }
    const reply = statusReply(
      await this.transitionScript(
        [
          keys.runner(name),
          ...RUNNER_STATES.map((s) => keys.state(s)),
          keys.epoch,
          keys.tombstone(name),
        ],
        [to, epoch, from.join(','), this.tombstoneTtlMs, ...fieldArgs(options, scaleSetId)],
      ),
      'transition',
      scaleSetId,
    );
    switch (reply.status) {
      case 'applied':
      case 'unchanged': {
        const previous = reply.detail;
        if (previous !== 'deleted' && !isRunnerState(previous)) {
          throw new UnexpectedRedisReplyError('transition', scaleSetId);
        }
        const created = reply.rest[0];
        return {
          outcome: reply.status,
          from: previous,
          to,
          ...(created === undefined || created === ''
            ? {}
            : { createdAt: integerReply(created, 'transition', scaleSetId) }),
        };
      }
      case 'illegal':
      case 'unexpected': {
        const current = reply.detail;
        if (!isRunnerState(current)) {
          throw new UnexpectedRedisReplyError('transition', scaleSetId);
        }
        throw new IllegalTransitionError(
          scaleSetId,
          name,
          current,
          to,
          reply.status === 'unexpected' ? from : undefined,
        );
      }
      case 'notfound':
        throw new RunnerNotFoundError(scaleSetId, name);
      case 'stale':
        throw staleError(scaleSetId, options.epoch, reply.detail, 'transition');
      default:
        throw new UnexpectedRedisReplyError('transition', scaleSetId);
    }
  }

  /**
   * Records ids learnt outside a move (GitHub's runner id right after the JIT config is
   * generated, so a failed start can still remove the registration) without changing the state.
   * Returns the runner's current state.
   */
  async annotate(
    scaleSetId: number,
    name: string,
    fields: Pick<RunnerFields, 'engineId' | 'runnerId'>,
    options: { readonly epoch?: number } = {},
  ): Promise<RunnerState> {
    const keys = this.keys(scaleSetId);
    assertRunnerName(name, scaleSetId);
    const epoch = epochArg(options.epoch, scaleSetId);
    const reply = statusReply(
      await this.annotateScript(
        [keys.runner(name), keys.epoch],
        [epoch, ...fieldArgs(fields, scaleSetId)],
      ),
      'annotate',
      scaleSetId,
    );
    if (reply.status === 'notfound') {
      throw new RunnerNotFoundError(scaleSetId, name);
    }
    if (reply.status === 'stale') {
      throw staleError(scaleSetId, options.epoch, reply.detail, 'annotate');
    }
    if (reply.status !== 'ok' || !isRunnerState(reply.detail)) {
      throw new UnexpectedRedisReplyError('annotate', scaleSetId);
    }
    return reply.detail;
  }

  /** The runner's entry, or `undefined` when it has none. */
  async get(scaleSetId: number, name: string): Promise<RunnerRecord | undefined> {
    const keys = this.keys(scaleSetId);
    assertRunnerName(name, scaleSetId);
    return parseRecord(await this.redis.hgetall(keys.runner(name)), scaleSetId);
  }

  /**
   * Runners in `state` (or in every state), oldest state change first within each state:
   * `list(id, 'idle', { limit: n })` gives the scale-down candidates, and `changedBefore` the
   * runners stuck in a state (startup timeout, stuck `destroying`).
   */
  async list(
    scaleSetId: number,
    state?: RunnerState,
    options: ListRunnersOptions = {},
  ): Promise<RunnerRecord[]> {
    const keys = this.keys(scaleSetId);
    const states = state === undefined ? RUNNER_STATES : [state];
    const max = options.changedBefore === undefined ? '+inf' : `(${options.changedBefore}`;
    const limit = options.limit;
    if (limit !== undefined) {
      assertCount('limit', limit, scaleSetId);
    }
    const names: string[] = [];
    for (const s of states) {
      const found =
        limit === undefined
          ? await this.redis.zrangebyscore(keys.state(s), '-inf', max)
          : await this.redis.zrangebyscore(keys.state(s), '-inf', max, 'LIMIT', 0, limit);
      names.push(...found);
    }
    if (names.length === 0) {
      return [];
    }
    const pipeline = this.redis.pipeline();
    for (const name of names) {
      pipeline.hgetall(keys.runner(name));
    }
    const results = (await pipeline.exec()) ?? [];
    const records: RunnerRecord[] = [];
    for (const [err, value] of results) {
      if (err) {
        throw new UnexpectedRedisReplyError('list', scaleSetId, { cause: err });
      }
      // A runner deleted between the range read and the hash read is simply gone.
      const record = parseRecord(value, scaleSetId);
      if (record !== undefined) {
        records.push(record);
      }
    }
    return records;
  }

  /** Runners per state, read in one MULTI so `live` is a consistent snapshot. O(1) per state. */
  async counts(scaleSetId: number): Promise<RunnerCounts> {
    const keys = this.keys(scaleSetId);
    const multi = this.redis.multi();
    for (const s of RUNNER_STATES) {
      multi.zcard(keys.state(s));
    }
    const results = await multi.exec();
    if (results?.length !== RUNNER_STATES.length) {
      throw new UnexpectedRedisReplyError('counts', scaleSetId);
    }
    const counts: Record<RunnerState, number> = {
      reserved: 0,
      provisioning: 0,
      idle: 0,
      busy: 0,
      failed: 0,
      destroying: 0,
    };
    RUNNER_STATES.forEach((s, i) => {
      const [err, value] = results[i] ?? [];
      if (err) {
        throw new UnexpectedRedisReplyError('counts', scaleSetId, { cause: err });
      }
      counts[s] = integerReply(value, 'counts', scaleSetId);
    });
    const live = LIVE_STATES.reduce((sum, s) => sum + counts[s], 0);
    return { ...counts, live };
  }

  /** Whether the runner was deleted within the tombstone TTL (so a duplicate `JobCompleted` is ignored). */
  async isTombstoned(scaleSetId: number, name: string): Promise<boolean> {
    const keys = this.keys(scaleSetId);
    assertRunnerName(name, scaleSetId);
    return (await this.redis.exists(keys.tombstone(name))) === 1;
  }

  private keys(scaleSetId: number): ScaleSetKeys {
    return scaleSetKeys(this.prefix, scaleSetId);
  }
}

function assertRunnerName(name: string, scaleSetId: number): void {
  if (!isValidRunnerName(name)) {
    throw new InvalidRegistryArgumentError(
      'runner name',
      `"${name}" is not a runner name (lower-case letters, digits, hyphens; at most 63)`,
      scaleSetId,
    );
  }
}

function assertCount(argument: string, value: number, scaleSetId: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidRegistryArgumentError(
      argument,
      `${value} is not a non-negative integer`,
      scaleSetId,
    );
  }
}

function epochArg(epoch: number | undefined, scaleSetId: number): string {
  if (epoch === undefined) {
    return '';
  }
  assertEpoch(epoch, scaleSetId);
  return String(epoch);
}

function staleError(
  scaleSetId: number,
  epoch: number | undefined,
  current: string,
  operation: string,
): StaleEpochError {
  return new StaleEpochError(scaleSetId, epoch ?? 0, Number(current), operation);
}

function boundedText(argument: string, value: string, max: number, scaleSetId: number): string {
  if (value.length === 0) {
    throw new InvalidRegistryArgumentError(argument, 'must not be empty', scaleSetId);
  }
  return value.length > max ? value.slice(0, max) : value;
}

function fieldArgs(fields: RunnerFields, scaleSetId: number): string[] {
  const args: string[] = [];
  if (fields.engineId !== undefined) {
    args.push('engineId', boundedText('engineId', fields.engineId, MAX_FIELD_LENGTH, scaleSetId));
  }
  if (fields.runnerId !== undefined) {
    if (!Number.isSafeInteger(fields.runnerId) || fields.runnerId <= 0) {
      throw new InvalidRegistryArgumentError(
        'runnerId',
        `${fields.runnerId} is not a positive integer`,
        scaleSetId,
      );
    }
    args.push('runnerId', String(fields.runnerId));
  }
  if (fields.reason !== undefined) {
    args.push('reason', boundedText('reason', fields.reason, MAX_REASON_LENGTH, scaleSetId));
  }
  if (fields.jobId !== undefined) {
    args.push('jobId', boundedText('jobId', fields.jobId, MAX_FIELD_LENGTH, scaleSetId));
  }
  if (fields.jobDisplayName !== undefined) {
    args.push(
      'jobDisplayName',
      boundedText('jobDisplayName', fields.jobDisplayName, MAX_FIELD_LENGTH, scaleSetId),
    );
  }
  return args;
}

function parseRecord(hash: unknown, scaleSetId: number): RunnerRecord | undefined {
  if (typeof hash !== 'object' || hash === null) {
    throw new UnexpectedRedisReplyError('get', scaleSetId);
  }
  const h = hash as Record<string, string | undefined>;
  if (h['state'] === undefined) {
    return undefined;
  }
  const state = h['state'];
  const name = h['name'];
  if (!isRunnerState(state) || name === undefined) {
    throw new UnexpectedRedisReplyError('get', scaleSetId);
  }
  const num = (field: string): number => integerReply(h[field], 'get', scaleSetId);
  return {
    name,
    scaleSetId: num('scaleSetId'),
    state,
    createdAt: num('createdAt'),
    updatedAt: num('updatedAt'),
    stateChangedAt: num('stateChangedAt'),
    attempts: num('attempts'),
    ...(h['engineId'] === undefined ? {} : { engineId: h['engineId'] }),
    ...(h['runnerId'] === undefined ? {} : { runnerId: num('runnerId') }),
    ...(h['reason'] === undefined ? {} : { reason: h['reason'] }),
    ...(h['jobId'] === undefined ? {} : { jobId: h['jobId'] }),
    ...(h['jobDisplayName'] === undefined ? {} : { jobDisplayName: h['jobDisplayName'] }),
  };
}

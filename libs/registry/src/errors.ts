import type { RunnerState, RunnerTransitionTarget } from './runner.state';

/** Base class of every error the registry lib throws, so callers can catch them as one family. */
export abstract class RegistryError extends Error {}

/** A registry write was refused because it asked for a move the runner lifecycle does not allow. */
export class IllegalTransitionError extends RegistryError {
  override readonly name = 'IllegalTransitionError';

  constructor(
    readonly scaleSetId: number,
    readonly runnerName: string,
    readonly from: RunnerState,
    readonly to: RunnerTransitionTarget,
    /** The states the caller required the runner to be in, when it passed `from`. */
    readonly expectedFrom?: readonly RunnerState[],
  ) {
    super(
      expectedFrom === undefined
        ? `Runner ${runnerName} of scale set ${scaleSetId} cannot move from ${from} to ${to}. ` +
            'See docs/redis.md for the legal transitions; the runner was left unchanged.'
        : `Runner ${runnerName} of scale set ${scaleSetId} is ${from}, not ${expectedFrom.join(' or ')}, ` +
            `so the move to ${to} was refused and the runner was left unchanged.`,
    );
  }
}

/** The runner has no registry entry (never reserved, or already deleted). */
export class RunnerNotFoundError extends RegistryError {
  override readonly name = 'RunnerNotFoundError';

  constructor(
    readonly scaleSetId: number,
    readonly runnerName: string,
  ) {
    super(
      `Runner ${runnerName} of scale set ${scaleSetId} is not in the registry. ` +
        'It was never reserved or has been deleted; check isTombstoned() to tell the two apart.',
    );
  }
}

/**
 * A write made on behalf of a leader carried an epoch older than the current one: another
 * listener has acquired the lease since. The deposed leader must stop writing.
 */
export class StaleEpochError extends RegistryError {
  override readonly name = 'StaleEpochError';

  constructor(
    readonly scaleSetId: number,
    /** The epoch the caller passed. */
    readonly epoch: number,
    /** The scale set's epoch in Redis when the write was refused. */
    readonly currentEpoch: number,
    /** What the refused write was, e.g. `transition`, `cursor`, `session`. */
    readonly operation: string,
  ) {
    super(
      `Refused ${operation} for scale set ${scaleSetId}: epoch ${epoch} is not the current epoch ` +
        `${currentEpoch}. Another listener holds (or held) the lease; stop acting as leader and ` +
        'acquire the lease again.',
    );
  }
}

/** An argument was rejected before anything was sent to Redis (bad id, name, count or TTL). */
export class InvalidRegistryArgumentError extends RegistryError {
  override readonly name = 'InvalidRegistryArgumentError';

  constructor(
    readonly argument: string,
    readonly problem: string,
    readonly scaleSetId?: number,
  ) {
    super(`Invalid ${argument}: ${problem}.`);
  }
}

/** Redis answered a registry script with something the code does not understand (version skew?). */
export class UnexpectedRedisReplyError extends RegistryError {
  override readonly name = 'UnexpectedRedisReplyError';

  constructor(
    readonly operation: string,
    readonly scaleSetId: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      `Redis returned an unexpected reply to ${operation}. Are two versions of scaleset with ` +
        'different key layouts sharing this Redis prefix?',
      options,
    );
  }
}

import { InvalidRegistryArgumentError } from './errors';
import type { RunnerState } from './runner.state';

/** Key prefix used when none is configured. */
export const DEFAULT_KEY_PREFIX = 'scaleset';

const PREFIX_PATTERN = /^[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)*$/;

/**
 * The Redis keys of one scale set. Every key carries the hash tag `{ss-<id>}`, so on Redis
 * Cluster they all live in one slot and a Lua script may touch any of them.
 */
export interface ScaleSetKeys {
  /** `<prefix>:{ss-<id>}`: every key of the scale set starts with it. */
  readonly base: string;
  /** A `SCAN MATCH` pattern for every key of the scale set. */
  readonly pattern: string;
  readonly lease: string;
  readonly epoch: string;
  readonly cursor: string;
  readonly session: string;
  runner(name: string): string;
  state(state: RunnerState): string;
  tombstone(name: string): string;
}

/** Rejects prefixes that would break the hash tag (braces) or key parsing. */
export function assertValidKeyPrefix(prefix: string): void {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new InvalidRegistryArgumentError(
      'key prefix',
      `"${prefix}" must be letters, digits, '_', '.', '-' in ':'-separated parts (no braces)`,
    );
  }
}

/** Scale set ids are GitHub's positive integer runner scale set ids. */
export function assertValidScaleSetId(scaleSetId: number): void {
  if (!Number.isSafeInteger(scaleSetId) || scaleSetId <= 0) {
    throw new InvalidRegistryArgumentError(
      'scale set id',
      `${scaleSetId} is not a positive integer`,
    );
  }
}

/** Epochs come from INCR on lease acquisition, so they are positive integers. */
export function assertEpoch(epoch: number, scaleSetId: number): void {
  if (!Number.isSafeInteger(epoch) || epoch <= 0) {
    throw new InvalidRegistryArgumentError(
      'epoch',
      `${epoch} is not a positive integer`,
      scaleSetId,
    );
  }
}

/** The keys of scale set `scaleSetId` under `prefix` (see docs/redis.md). */
export function scaleSetKeys(prefix: string, scaleSetId: number): ScaleSetKeys {
  assertValidKeyPrefix(prefix);
  assertValidScaleSetId(scaleSetId);
  const base = `${prefix}:{ss-${scaleSetId}}`;
  return {
    base,
    pattern: `${base}:*`,
    lease: `${base}:lease`,
    epoch: `${base}:epoch`,
    cursor: `${base}:cursor`,
    session: `${base}:session`,
    runner: (name) => `${base}:runner:${name}`,
    state: (state) => `${base}:state:${state}`,
    tombstone: (name) => `${base}:tombstone:${name}`,
  };
}

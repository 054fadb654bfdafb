/**
 * Redis state of scaleset: the runner registry, leader leases with fencing epochs, the message
 * cursor and the session slot. Key layout and lifecycle: docs/redis.md.
 *
 * @packageDocumentation
 */

/** Errors: {@link IllegalTransitionError}, {@link RunnerNotFoundError}, {@link StaleEpochError}, … */
export {
  IllegalTransitionError,
  InvalidRegistryArgumentError,
  RegistryError,
  RunnerNotFoundError,
  StaleEpochError,
  UnexpectedRedisReplyError,
} from './errors';

/** The runner lifecycle: states, live states and the legal transitions table. */
export {
  LEGAL_TRANSITIONS,
  LIVE_STATES,
  RUNNER_STATES,
  isLegalTransition,
  isRunnerState,
  type RunnerState,
  type RunnerTransitionTarget,
} from './runner.state';

/** Runner name generation (`<scale set name>-<random>`, ≤ 63 chars, RFC 1035 safe). */
export {
  MAX_RUNNER_NAME_LENGTH,
  RUNNER_NAME_PATTERN,
  RUNNER_NAME_SUFFIX_LENGTH,
  isValidRunnerName,
  randomRunnerSuffix,
  runnerName,
  runnerNamePrefix,
} from './runner.names';

/** Key layout: every key of a scale set shares the hash tag `{ss-<id>}`. */
export { DEFAULT_KEY_PREFIX, scaleSetKeys, type ScaleSetKeys } from './registry.keys';

/** The ioredis client type the registry classes accept (single node, Sentinel or Cluster). */
export type { RedisClient } from './registry.scripts';

/** The runner registry and its types. */
export {
  DEFAULT_TOMBSTONE_TTL_MS,
  MAX_REASON_LENGTH,
  RunnerRegistry,
  type ListRunnersOptions,
  type RunnerCounts,
  type RunnerFields,
  type RunnerRecord,
  type RunnerRegistryOptions,
  type ScaleSetRef,
  type TransitionOptions,
  type TransitionOutcome,
  type TransitionResult,
} from './runner.registry';

/** Leader leases with fencing epochs, auto-renewal, and the session slot. */
export {
  Lease,
  LeaseManager,
  type AutoRenewOptions,
  type LeaseAttempt,
  type LeaseCheck,
  type LeaseLostReason,
  type LeaseManagerOptions,
  type LeaseStore,
} from './lease.manager';

/** The per-scale-set message cursor (`lastMessageId`). */
export { MessageCursor, type MessageCursorOptions } from './message.cursor';

/** Nest wiring: {@link RegistryModule.forRoot}. */
export { REGISTRY_REDIS, RegistryModule, type RegistryModuleOptions } from './registry.module';

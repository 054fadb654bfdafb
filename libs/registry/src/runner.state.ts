/**
 * The states a runner's registry entry can be in. `deleted` is not stored: deleting a runner
 * removes its entry and leaves a short-lived tombstone.
 */
export const RUNNER_STATES = [
  'reserved',
  'provisioning',
  'idle',
  'busy',
  'failed',
  'destroying',
] as const;

/** A state a runner's registry entry can be in. */
export type RunnerState = (typeof RUNNER_STATES)[number];

/** A state a transition can move a runner to: any stored state, or `deleted`. */
export type RunnerTransitionTarget = RunnerState | 'deleted';

/**
 * States that count towards `maxRunners`. `failed` and `destroying` do not: a runner that is
 * failing or going away must never block its replacement (field lessons 6).
 */
export const LIVE_STATES = [
  'reserved',
  'provisioning',
  'idle',
  'busy',
] as const satisfies readonly RunnerState[];

/**
 * The legal moves of the runner lifecycle (design brief, "Runner lifecycle"). Moving a runner
 * to the state it is already in is not a move: the registry reports it as `unchanged`.
 *
 * - `reserved`/`provisioning` → `destroying` exist for scale-down and startup timeouts.
 * - `busy` never goes to `failed`: a busy runner is only destroyed after its job.
 */
export const LEGAL_TRANSITIONS: Readonly<Record<RunnerState, readonly RunnerTransitionTarget[]>> = {
  reserved: ['provisioning', 'failed', 'destroying'],
  // A fast runner can take its job (JobStarted) before the worker records it as idle.
  provisioning: ['idle', 'busy', 'failed', 'destroying'],
  idle: ['busy', 'failed', 'destroying'],
  busy: ['destroying'],
  failed: ['destroying'],
  destroying: ['deleted'],
};

/** Whether the lifecycle allows moving a runner from `from` to `to` (a no-op move is not legal). */
export function isLegalTransition(from: RunnerState, to: RunnerTransitionTarget): boolean {
  return LEGAL_TRANSITIONS[from].includes(to);
}

/** Type guard for strings read back from Redis or taken from user input. */
export function isRunnerState(value: unknown): value is RunnerState {
  return typeof value === 'string' && (RUNNER_STATES as readonly string[]).includes(value);
}

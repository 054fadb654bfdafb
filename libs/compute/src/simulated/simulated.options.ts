import type { SimulatedEngineConfig } from '@app/config';
import { EngineConfigError } from '../errors';

/** Settings of the simulated engine: the validated config section plus the owner id. */
export interface SimulatedEngineOptions extends SimulatedEngineConfig {
  /** Deployment id written as the owner label on every simulated instance. */
  readonly ownerId: string;
}

/**
 * Checks options built by hand (the config lib's schema already checks the YAML), naming the
 * YAML field of the offending value. Throws {@link EngineConfigError}.
 */
export function assertSimulatedEngineOptions(options: SimulatedEngineOptions): void {
  const fail = (field: string, problem: string): never => {
    throw new EngineConfigError(`simulated.${field}`, problem, { engine: 'simulated' });
  };
  if (options.ownerId === '') {
    fail('owner_id', 'must not be empty (it is the deployment id)');
  }
  const durations = [
    ['start_latency', options.startLatencyMs],
    ['destroy_latency', options.destroyLatencyMs],
    ['runner_lifetime', options.runnerLifetimeMs],
  ] as const;
  for (const [field, ms] of durations) {
    if (!Number.isFinite(ms) || ms < 0) {
      fail(field, 'must be 0 or more milliseconds');
    }
  }
  const fractions = [
    ['jitter', options.jitter],
    ['failure_rate', options.failureRate],
  ] as const;
  for (const [field, value] of fractions) {
    if (!Number.isFinite(value) || value < 0 || value > 1) {
      fail(field, 'must be between 0 and 1');
    }
  }
  if (!Number.isSafeInteger(options.capacity) || options.capacity < 0) {
    fail('capacity', 'must be a whole number, 0 or more (0 = no limit)');
  }
  // Widened: options built from untyped input (a benchmark's JSON) may hold anything.
  const runner: string = options.runner;
  if (runner !== 'fake' && runner !== 'none') {
    fail('runner', 'must be fake or none');
  }
}

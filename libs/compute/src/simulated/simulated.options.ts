import type { SimulatedEngineConfig } from '@app/config';

/** Settings of the simulated engine: the validated config section plus the owner id. */
export interface SimulatedEngineOptions extends SimulatedEngineConfig {
  /** Deployment id written as the owner label on every simulated instance. */
  readonly ownerId: string;
}

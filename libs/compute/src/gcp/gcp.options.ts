import type { GcpEngineConfig } from '@app/config';

/** Settings of the GCP Compute Engine engine: the validated config section plus the owner id. */
export interface GcpEngineOptions extends GcpEngineConfig {
  /** Deployment id written as the owner label on every VM. */
  readonly ownerId: string;
}

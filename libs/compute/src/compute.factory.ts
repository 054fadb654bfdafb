import type { ComputeEngine } from './compute.engine';
import { DockerEngine } from './docker/docker.engine';
import type { DockerEngineOptions } from './docker/docker.options';
import { EngineNotImplementedError } from './errors';
import { GcpEngine } from './gcp/gcp.engine';
import type { GcpEngineOptions } from './gcp/gcp.options';
import { SimulatedEngine } from './simulated/simulated.engine';
import type { SimulatedEngineOptions } from './simulated/simulated.options';

/**
 * Which engine to run and its settings, one variant per engine kind. The aws and azure variants
 * are placeholders until their engines exist; choosing one fails at startup.
 */
export type ComputeEngineConfig =
  | { readonly kind: 'docker'; readonly docker: DockerEngineOptions }
  | { readonly kind: 'gcp'; readonly gcp: GcpEngineOptions }
  | { readonly kind: 'simulated'; readonly simulated: SimulatedEngineOptions }
  | { readonly kind: 'aws'; readonly aws?: Readonly<Record<string, unknown>> }
  | { readonly kind: 'azure'; readonly azure?: Readonly<Record<string, unknown>> };

/**
 * Builds the configured engine (style.md 5). Throws `EngineConfigError` for invalid options and
 * `EngineNotImplementedError` for kinds without an engine yet, so wiring fails at boot.
 */
export function createComputeEngine(config: ComputeEngineConfig): ComputeEngine {
  switch (config.kind) {
    case 'docker':
      return new DockerEngine(config.docker);
    case 'simulated':
      return new SimulatedEngine(config.simulated);
    case 'gcp':
      return new GcpEngine(config.gcp);
    case 'aws':
    case 'azure':
      throw new EngineNotImplementedError(config.kind);
  }
}

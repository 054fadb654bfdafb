import type { EngineConfig, ScaleSetConfig } from '@app/config';
import type { ComputeEngine } from './compute.engine';
import { createComputeEngine, type ComputeEngineConfig } from './compute.factory';

/** Maps one scale set's validated engine section to the engine factory's config. */
export function computeEngineConfigFor(
  engine: EngineConfig,
  deploymentId: string,
): ComputeEngineConfig {
  switch (engine.kind) {
    case 'docker': {
      const d = engine.docker;
      return {
        kind: 'docker',
        docker: {
          ownerId: deploymentId,
          image: d.image,
          pullPolicy: d.pullPolicy,
          dind: d.dind,
          env: d.env,
          labels: d.labels,
          volumes: d.volumes,
          privileged: d.privileged,
          ...(d.command !== undefined && { command: d.command }),
          ...(d.network !== undefined && { network: d.network }),
          ...(d.cpus !== undefined && { cpus: d.cpus }),
          ...(d.memory !== undefined && { memory: d.memory }),
          ...(d.dockerHost !== undefined && { dockerHost: d.dockerHost }),
        },
      };
    }
    case 'gcp':
      return { kind: 'gcp', gcp: { ownerId: deploymentId, ...engine.gcp } };
    case 'simulated':
      return { kind: 'simulated', simulated: { ownerId: deploymentId, ...engine.simulated } };
  }
}

/**
 * The engines of a deployment, one per scale set: scale sets whose engine sections are
 * identical share one engine (one Docker client, one image pull).
 */
export class ComputeEngines {
  private readonly byScaleSet = new Map<string, ComputeEngine>();
  private readonly all: ComputeEngine[] = [];

  constructor(
    scaleSets: readonly ScaleSetConfig[],
    deploymentId: string,
    create: (config: ComputeEngineConfig) => ComputeEngine = createComputeEngine,
  ) {
    const byKey = new Map<string, ComputeEngine>();
    for (const s of scaleSets) {
      const config = computeEngineConfigFor(s.engine, deploymentId);
      const key = JSON.stringify(config);
      let engine = byKey.get(key);
      if (engine === undefined) {
        engine = create(config);
        byKey.set(key, engine);
        this.all.push(engine);
      }
      this.byScaleSet.set(s.name, engine);
    }
  }

  /** The engine of a configured scale set; throws for an unknown name (a wiring bug). */
  for(scaleSetName: string): ComputeEngine {
    const engine = this.byScaleSet.get(scaleSetName);
    if (engine === undefined) {
      throw new Error(
        `no compute engine for scale set "${scaleSetName}": it is not in this deployment's configuration`,
      );
    }
    return engine;
  }

  /** Every distinct engine (for reconciliation across scale sets and for shutdown). */
  engines(): readonly ComputeEngine[] {
    return this.all;
  }

  /** Closes every engine. */
  async close(): Promise<void> {
    await Promise.all(this.all.map((e) => (e.close ? e.close() : Promise.resolve())));
  }
}

import type { EngineKind } from './errors';

/** What an engine needs to start one ephemeral runner. */
export interface RunnerSpec {
  /** Runner name; also the compute resource's name, which makes `start` idempotent. */
  readonly name: string;
  /**
   * The encoded JIT runner config. Secret: engines deliver it to the runner and never put it
   * in labels, logs, errors or anything they return.
   */
  readonly jitConfig: string;
  /** Id of the runner scale set the runner belongs to. */
  readonly scaleSetId: number;
  /** Name of the runner scale set, recorded as a label for operators. */
  readonly scaleSetName: string;
  /** Extra labels for this runner; keys under the reserved `io.scaleset.` prefix are refused. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** Selects this deployment's resources: the owner label, optionally narrowed to a scale set. */
export interface OwnerLabels {
  /** Deployment id written as the owner label on every resource. */
  readonly owner: string;
  /** Only resources of this scale set. */
  readonly scaleSetId?: number;
}

/**
 * Lifecycle of a runner's compute resource, common to all engines:
 * `starting` (created or booting), `running`, `stopping` (being removed or shut down),
 * `exited` (the runner process ended; a used runner that must be destroyed) and `gone`
 * (terminated, only still visible while the provider cleans up).
 */
export type EngineState = 'starting' | 'running' | 'stopping' | 'exited' | 'gone';

/** Handle returned by `start`. */
export interface EngineRef {
  /** Runner and resource name. */
  readonly name: string;
  /** The engine's own id of the resource (for Docker: the container id). */
  readonly engineId: string;
  /** True when the resource already existed and was adopted instead of created. */
  readonly adopted: boolean;
  /**
   * State right after the call. An adopted resource may already be `exited`: it is a used
   * runner, and `start` never restarts it; the caller decides what to do.
   */
  readonly state: EngineState;
}

/** Which resource `destroy` should remove; the name is authoritative. */
export interface EngineTarget {
  /** Runner and resource name. */
  readonly name: string;
  /** The engine id, when known (informational; resources are found by name). */
  readonly engineId?: string;
}

/** One of this deployment's resources, as `list` and `inspect` report it. */
export interface EngineInstance {
  /** Resource name (equal to the runner name for resources scaleset created). */
  readonly name: string;
  /** The engine's own id of the resource. */
  readonly engineId: string;
  /** Current state. */
  readonly state: EngineState;
  /** Owner label (deployment id). */
  readonly owner: string;
  /** Scale set id from the labels, or `null` when the label is missing or malformed. */
  readonly scaleSetId: number | null;
  /** Scale set name from the labels, or `null` when missing. */
  readonly scaleSetName: string | null;
  /** Runner name from the labels (falls back to the resource name). */
  readonly runnerName: string;
  /** When the resource was created. */
  readonly createdAt: Date;
  /** Exit code of the runner process, when the engine knows it (state `exited`). */
  readonly exitCode?: number;
  /** All labels of the resource. */
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * The port every compute engine implements (style.md 4, 5): the worker depends on this
 * abstract class, which is also the Nest DI token. Every call is idempotent by runner name,
 * takes an optional `AbortSignal`, has its own timeout, and throws only `EngineError`s.
 * Resources without this deployment's owner label are never returned nor touched.
 */
export abstract class ComputeEngine {
  /** Which engine this is. */
  abstract readonly kind: EngineKind;

  /**
   * Whether `list` and `inspect` see every resource of the deployment, whichever process
   * created it. True for real providers; false for engines whose state is per process (the
   * simulated engine), where "not found" does not mean "gone" and the reconciler must not act
   * on absence.
   */
  readonly seesAllInstances: boolean = true;

  /**
   * Creates and starts the runner's resource, named `spec.name`. If a resource of this
   * deployment with that name already exists, it is adopted (`adopted: true`) and never
   * restarted once it has run.
   */
  abstract start(spec: RunnerSpec, signal?: AbortSignal): Promise<EngineRef>;

  /** Permanently removes the runner's resource (never just stops it). Missing is success. */
  abstract destroy(target: EngineTarget, signal?: AbortSignal): Promise<void>;

  /** This deployment's resources (including exited ones), for reconciliation. */
  abstract list(owner: OwnerLabels, signal?: AbortSignal): Promise<EngineInstance[]>;

  /** One resource by name, or `null` when it does not exist or is not this deployment's. */
  abstract inspect(name: string, signal?: AbortSignal): Promise<EngineInstance | null>;

  /** Releases the engine's resources and aborts calls in flight. Optional. */
  close?(): Promise<void>;
}

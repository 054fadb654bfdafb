import type { EngineInstance, EngineRef, EngineTarget, RunnerSpec } from '@app/compute';
import type {
  RunnerRecord,
  RunnerState,
  RunnerTransitionTarget,
  TransitionOptions,
  TransitionResult,
} from '@app/registry';
import type { RunnerReference, RunnerScaleSetJitRunnerConfig } from '@app/scaleset';

// The narrow interfaces the worker's runner lifecycle needs (style.md 4). In production
// RunnerRegistry, ScaleSetClient and ComputeEngines satisfy them as they are; unit tests use
// hand-written fakes.

/** The runner registry calls the worker makes. The worker never passes an epoch. */
export interface RunnerStore {
  get(scaleSetId: number, name: string): Promise<RunnerRecord | undefined>;
  isTombstoned(scaleSetId: number, name: string): Promise<boolean>;
  transition(
    scaleSetId: number,
    name: string,
    to: RunnerTransitionTarget,
    options?: TransitionOptions,
  ): Promise<TransitionResult>;
  annotate(
    scaleSetId: number,
    name: string,
    fields: { readonly engineId?: string; readonly runnerId?: number },
  ): Promise<RunnerState>;
}

/** The GitHub calls the worker makes: JIT config generation and runner removal. */
export interface RunnerRegistrations {
  generateJitRunnerConfig(
    scaleSetId: number,
    setting: { readonly name: string },
    signal?: AbortSignal,
  ): Promise<RunnerScaleSetJitRunnerConfig>;
  getRunnerByName(name: string, signal?: AbortSignal): Promise<RunnerReference | null>;
  removeRunner(runnerId: number, signal?: AbortSignal): Promise<void>;
}

/** The compute calls the worker makes on one scale set's engine. */
export interface RunnerCompute {
  start(spec: RunnerSpec, signal?: AbortSignal): Promise<EngineRef>;
  destroy(target: EngineTarget, signal?: AbortSignal): Promise<void>;
  inspect(name: string, signal?: AbortSignal): Promise<EngineInstance | null>;
}

/** The engines of the deployment, one per configured scale set (ComputeEngines). */
export interface RunnerComputeByScaleSet {
  /** Throws for a scale set this deployment does not serve. */
  for(scaleSetName: string): RunnerCompute;
}

/** Structured logging (pino's call shape). Never pass a JIT config or token. */
export interface WorkerLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

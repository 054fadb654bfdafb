/**
 * Compute: the engine port every runner backend implements, its errors and labels, the
 * Docker engine, the factory that picks an engine from config and the thin Nest module.
 */
export {
  ComputeEngine,
  type EngineInstance,
  type EngineRef,
  type EngineState,
  type EngineTarget,
  type OwnerLabels,
  type RunnerSpec,
} from './compute.engine';
export { createComputeEngine, type ComputeEngineConfig } from './compute.factory';
export { ComputeModule, type ComputeModuleAsyncOptions } from './compute.module';
export { DockerEngine, dockerState } from './docker/docker.engine';
export {
  DEFAULT_RUNNER_COMMAND,
  DEFAULT_RUNNER_IMAGE,
  JIT_CONFIG_ENV,
  cpusToNanoCpus,
  parseMemory,
  resolveDockerEngineOptions,
  type DockerEngineOptions,
  type DockerPullPolicy,
  type ResolvedDockerEngineOptions,
} from './docker/docker.options';
export {
  EngineConfigError,
  EngineError,
  EngineImageNotFoundError,
  EngineNameConflictError,
  EngineNotImplementedError,
  EnginePermanentError,
  EngineTimeoutError,
  EngineTransientError,
  EngineUnavailableError,
  isEngineError,
  isPermanentEngineError,
  type EngineErrorCode,
  type EngineErrorContext,
  type EngineKind,
} from './errors';
export {
  RUNNER_LABELS,
  RUNNER_LABEL_PREFIX,
  buildRunnerLabels,
  matchesOwner,
  ownerLabelSelector,
  readRunnerLabels,
  type RunnerLabelName,
  type RunnerLabelValues,
} from './runner.labels';
export { computeEngineConfigFor, ComputeEngines } from './compute.config';

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
  EngineCapacityError,
  EngineConfigError,
  EngineError,
  EngineImageNotFoundError,
  EngineNameConflictError,
  EngineNotImplementedError,
  EnginePermanentError,
  EngineQuotaExceededError,
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
export { GcpEngine, type GcpEngineDeps } from './gcp/gcp.engine';
export {
  gcpEndpointOptions,
  resolveGcpEngineOptions,
  type GcpEndpointOptions,
  type GcpEngineOptions,
  type ResolvedGcpEngineOptions,
} from './gcp/gcp.options';
export { GCP_METADATA_KEYS, GCP_RUNNER_LABELS, gcpLabelValue } from './gcp/gcp.labels';
export { gcpState } from './gcp/gcp.instance';
export type { GcpComputeApi } from './gcp/gcp.api';
export {
  SIMULATED_EXIT_CODES,
  SimulatedEngine,
  type FakeRunnerFn,
  type SimulatedEngineDeps,
  type SimulatedEngineLogger,
} from './simulated/simulated.engine';
export {
  assertSimulatedEngineOptions,
  type SimulatedEngineOptions,
} from './simulated/simulated.options';
export {
  SIMULATED_EVENTS_ENV,
  SIMULATED_EVENTS_FLUSH_MS,
  SimulatedEventLog,
  type SimulatedEvent,
  type SimulatedEventName,
} from './simulated/simulated.events';
/** The in-process fake runner (simulated engine `runner: fake`; re-exported by libs/testing). */
export {
  runFakeRunner,
  type FakeRunnerOutcome,
  type RunFakeRunnerOptions,
} from './simulated/fake-runner.client';
export {
  decodeFakeJitConfig,
  encodeFakeJitConfig,
  type FakeJitConfig,
} from './simulated/fake-jit-config.codec';

/**
 * Configuration: one schema, validated once at boot into a frozen {@link ScalesetConfig}.
 * Sources, lowest to highest precedence: defaults, the YAML file, `SCALESET_…` environment
 * variables, command-line flags.
 */
export {
  loadConfig,
  checkGitHubUrl,
  isLoopbackHost,
  type LoadConfigOptions,
} from './config.loader';
export {
  CONFIG_SOURCES,
  CONFIG_PATH_ENV,
  DEFAULT_CONFIG_PATH,
  convertRaw,
  type ConfigSource,
  type ValueKind,
} from './config.sources';
export type {
  ScalesetConfig,
  GitHubConfig,
  GitHubAuthConfig,
  ScaleSetConfig,
  EngineConfig,
  DockerEngineConfig,
  GcpEngineConfig,
  SimulatedEngineConfig,
  RedisConfig,
  LoggingConfig,
  OtelConfig,
  PrometheusConfig,
  ListenerConfig,
  WorkerConfig,
  ReconcileConfig,
  UiConfig,
} from './config.types';
export { ConfigValidationError, type ConfigIssue } from './errors';
export { redactedConfig, redactUrl, REDACTED } from './config.redact';
export { configJsonSchema } from './config.schema-json';
export {
  configFileSchema,
  DEFAULT_DOCKER_IMAGE,
  DEFAULT_RUNNER_GROUP,
  type ConfigFile,
  type ConfigFileInput,
} from './file.schema';
export { ConfigModule, SCALESET_CONFIG } from './config.module';
export { redisClientOptions, bullPrefix, type RedisClientOptions } from './redis.options';

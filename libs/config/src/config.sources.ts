// Every environment variable and command-line flag that sets a configuration field is
// declared here, once (style.md 8). docs/configuration.md mirrors this table; a test
// keeps the two in step.

/** How a raw string from the environment or a flag becomes a YAML-like value. */
export type ValueKind = 'string' | 'int' | 'number' | 'bool' | 'list';

/** One field that can be set from the environment and/or a flag. */
export interface ConfigSource {
  /** Path in the configuration file, e.g. `github.app.client_id`. */
  readonly path: string;
  readonly kind: ValueKind;
  /** Environment variable, always `SCALESET_…`. */
  readonly env: string;
  /** Long command-line flag without dashes, when there is one. */
  readonly flag?: string;
  readonly description: string;
  /** The value is a credential: never printed, never logged. */
  readonly secret?: boolean;
}

/** All settable sources, in the order the documentation lists them. */
export const CONFIG_SOURCES: readonly ConfigSource[] = [
  {
    path: 'github.url',
    kind: 'string',
    env: 'SCALESET_GITHUB_URL',
    flag: 'url',
    description: 'GitHub URL for scale set registration (repository, organization or enterprise)',
  },
  {
    path: 'github.token',
    kind: 'string',
    env: 'SCALESET_GITHUB_TOKEN',
    flag: 'token',
    description: 'Personal access token',
    secret: true,
  },
  {
    path: 'github.token_file',
    kind: 'string',
    env: 'SCALESET_GITHUB_TOKEN_FILE',
    description: 'File holding the personal access token',
  },
  {
    path: 'github.app.client_id',
    kind: 'string',
    env: 'SCALESET_GITHUB_APP_CLIENT_ID',
    flag: 'app-client-id',
    description: 'GitHub App client ID',
  },
  {
    path: 'github.app.installation_id',
    kind: 'int',
    env: 'SCALESET_GITHUB_APP_INSTALLATION_ID',
    flag: 'app-installation-id',
    description: 'GitHub App installation ID',
  },
  {
    path: 'github.app.private_key',
    kind: 'string',
    env: 'SCALESET_GITHUB_APP_PRIVATE_KEY',
    flag: 'app-private-key',
    description: 'GitHub App private key (PEM, inline)',
    secret: true,
  },
  {
    path: 'github.app.private_key_path',
    kind: 'string',
    env: 'SCALESET_GITHUB_APP_PRIVATE_KEY_PATH',
    flag: 'app-private-key-path',
    description: 'Path to the GitHub App private key PEM file',
  },
  {
    path: 'github.ca_cert_path',
    kind: 'string',
    env: 'SCALESET_GITHUB_CA_CERT_PATH',
    description: 'PEM bundle of extra trusted CAs (GHES, TLS-inspecting proxies)',
  },
  {
    path: 'scaleset.name',
    kind: 'string',
    env: 'SCALESET_SCALESET_NAME',
    flag: 'name',
    description: 'Scale set name',
  },
  {
    path: 'scaleset.labels',
    kind: 'list',
    env: 'SCALESET_SCALESET_LABELS',
    flag: 'labels',
    description: 'Extra labels, comma-separated',
  },
  {
    path: 'scaleset.runner_group',
    kind: 'string',
    env: 'SCALESET_SCALESET_RUNNER_GROUP',
    flag: 'runner-group',
    description: 'Runner group name',
  },
  {
    path: 'scaleset.min_runners',
    kind: 'int',
    env: 'SCALESET_SCALESET_MIN_RUNNERS',
    flag: 'min-runners',
    description: 'Minimum number of runners',
  },
  {
    path: 'scaleset.max_runners',
    kind: 'int',
    env: 'SCALESET_SCALESET_MAX_RUNNERS',
    flag: 'max-runners',
    description: 'Maximum number of runners',
  },
  {
    path: 'engine.docker.image',
    kind: 'string',
    env: 'SCALESET_ENGINE_DOCKER_IMAGE',
    description: 'Docker runner image',
  },
  {
    path: 'engine.docker.docker_host',
    kind: 'string',
    env: 'SCALESET_ENGINE_DOCKER_HOST',
    description: 'Docker daemon address',
  },
  {
    path: 'redis.url',
    kind: 'string',
    env: 'SCALESET_REDIS_URL',
    flag: 'redis-url',
    description: 'Redis URL (redis:// or rediss://)',
  },
  {
    path: 'redis.username',
    kind: 'string',
    env: 'SCALESET_REDIS_USERNAME',
    description: 'Redis ACL user name',
  },
  {
    path: 'redis.password',
    kind: 'string',
    env: 'SCALESET_REDIS_PASSWORD',
    description: 'Redis password',
    secret: true,
  },
  {
    path: 'redis.password_file',
    kind: 'string',
    env: 'SCALESET_REDIS_PASSWORD_FILE',
    description: 'File holding the Redis password',
  },
  {
    path: 'redis.prefix',
    kind: 'string',
    env: 'SCALESET_REDIS_PREFIX',
    description: 'Key prefix in Redis',
  },
  {
    path: 'logging.level',
    kind: 'string',
    env: 'SCALESET_LOG_LEVEL',
    flag: 'log-level',
    description: 'Log level (debug, info, warn, error)',
  },
  {
    path: 'logging.format',
    kind: 'string',
    env: 'SCALESET_LOG_FORMAT',
    flag: 'log-format',
    description: 'Log format (text, json)',
  },
  {
    path: 'otel.enabled',
    kind: 'bool',
    env: 'SCALESET_OTEL_ENABLED',
    description: 'Export OpenTelemetry traces and metrics',
  },
  {
    path: 'otel.endpoint',
    kind: 'string',
    env: 'SCALESET_OTEL_ENDPOINT',
    description: 'OTLP endpoint',
  },
  {
    path: 'prometheus.enable',
    kind: 'bool',
    env: 'SCALESET_PROMETHEUS_ENABLE',
    description: 'Serve Prometheus /metrics',
  },
  {
    path: 'prometheus.port',
    kind: 'int',
    env: 'SCALESET_PROMETHEUS_PORT',
    description: 'Port of /metrics',
  },
  {
    path: 'deployment.id',
    kind: 'string',
    env: 'SCALESET_DEPLOYMENT_ID',
    description: 'Owner id put on every runner resource',
  },
  {
    path: 'ui.username',
    kind: 'string',
    env: 'SCALESET_UI_USERNAME',
    description: 'Bull Board basic auth user name',
  },
  {
    path: 'ui.password',
    kind: 'string',
    env: 'SCALESET_UI_PASSWORD',
    description: 'Bull Board basic auth password',
    secret: true,
  },
  {
    path: 'ui.token',
    kind: 'string',
    env: 'SCALESET_UI_TOKEN',
    description: 'Bull Board bearer token (instead of basic auth)',
    secret: true,
  },
];

/** Environment variable naming the configuration file (the `--config` flag wins over it). */
export const CONFIG_PATH_ENV = 'SCALESET_CONFIG';
/** The configuration file read when neither `--config` nor `SCALESET_CONFIG` is given. */
export const DEFAULT_CONFIG_PATH = 'config.yaml';

/**
 * Converts a raw string to the kind a field expects. A string that does not convert is
 * returned unchanged, so that schema validation reports it against the field's path.
 */
export function convertRaw(kind: ValueKind, raw: string): unknown {
  switch (kind) {
    case 'string':
      return raw;
    case 'int':
      return /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
    case 'number':
      return raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) {
        return true;
      }
      if (['false', '0', 'no', 'off'].includes(v)) {
        return false;
      }
      return raw;
    }
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
  }
}

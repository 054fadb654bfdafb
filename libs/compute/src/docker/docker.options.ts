import type Dockerode from 'dockerode';
import { EngineConfigError } from '../errors';
import { assertNoReservedLabels } from '../runner.labels';

/** When the Docker engine pulls the runner image (once per engine lifetime at most). */
export type DockerPullPolicy = 'always' | 'if-not-present' | 'never';

/** Settings of the Docker engine; the config lib maps the YAML `engine.docker` section here. */
export interface DockerEngineOptions {
  /** Deployment id written as the owner label on every container. Required. */
  readonly ownerId: string;
  /** Runner image. Default `ghcr.io/actions/actions-runner:latest`. */
  readonly image?: string;
  /** Default `if-not-present`. `never` with a missing image fails permanently. */
  readonly pullPolicy?: DockerPullPolicy;
  /**
   * Container command. Default `['/home/runner/run.sh']` (the official image's runner).
   * `null` or `[]` keeps the image's own entrypoint and cmd.
   */
  readonly command?: readonly string[] | null;
  /**
   * Bind-mount the host's Docker socket into every runner so jobs can use Docker. Gives jobs
   * full control of the host (see docs/engines/docker.md). Default false.
   */
  readonly dind?: boolean;
  /** Host path of the Docker socket mounted when `dind` is on. Default `/var/run/docker.sock`. */
  readonly dindHostSocket?: string;
  /** Network mode or network name (`host`, `bridge`, `my-net`). Default: Docker's default. */
  readonly network?: string;
  /** CPU limit in cores (`1.5`), mapped to NanoCpus. Default: no limit. */
  readonly cpus?: number;
  /** Memory limit: bytes, or a string like `512m`, `2g`, `1.5GiB`. Default: no limit. */
  readonly memory?: string | number;
  /** Extra environment variables for the runner. */
  readonly env?: Readonly<Record<string, string>>;
  /** Extra labels for every container (the `io.scaleset.` prefix is reserved). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Bind mounts, `host-path-or-volume:/container/path[:ro]`. */
  readonly volumes?: readonly string[];
  /** Daemon address, `unix:///path` or `tcp://host:port`. Default: `DOCKER_HOST` or the local socket. */
  readonly dockerHost?: string;
  /** Run runners privileged. Default false. */
  readonly privileged?: boolean;
  /** User to run as. Default: the image's user (`runner` in the official image; root with `dind`). */
  readonly user?: string;
  /** Timeout of each Docker API call except pulls, in ms. Default 30 000. */
  readonly apiTimeoutMs?: number;
  /** Timeout of an image pull, in ms. Default 900 000 (runner images are large). */
  readonly pullTimeoutMs?: number;
}

/** {@link DockerEngineOptions} with defaults applied and every value checked. */
export interface ResolvedDockerEngineOptions {
  readonly ownerId: string;
  readonly image: string;
  readonly pullPolicy: DockerPullPolicy;
  readonly command: readonly string[] | null;
  readonly dind: boolean;
  readonly dindHostSocket: string;
  readonly network: string | null;
  readonly nanoCpus: number | null;
  readonly memoryBytes: number | null;
  readonly env: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly volumes: readonly string[];
  readonly dockerHost: string | null;
  readonly privileged: boolean;
  readonly user: string | null;
  readonly apiTimeoutMs: number;
  readonly pullTimeoutMs: number;
}

/** Image used when none is configured. */
export const DEFAULT_RUNNER_IMAGE = 'ghcr.io/actions/actions-runner:latest';
/** Command used when none is configured: the official runner image's entry script. */
export const DEFAULT_RUNNER_COMMAND: readonly string[] = ['/home/runner/run.sh'];
/** The environment variable through which the runner reads its JIT config. */
export const JIT_CONFIG_ENV = 'ACTIONS_RUNNER_INPUT_JITCONFIG';

const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
// Docker refuses memory limits below 6 MiB; failing at boot beats failing every start.
const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
const OWNER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MEMORY = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i;
const MOUNT_MODES = new Set([
  'ro',
  'rw',
  'z',
  'Z',
  'nocopy',
  'shared',
  'rshared',
  'slave',
  'rslave',
  'private',
  'rprivate',
  'consistent',
  'cached',
  'delegated',
]);
const UNITS: Record<string, number> = {
  '': 1,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
  p: 2 ** 50,
};

/**
 * Parses a memory size the way Docker's CLI does (binary units, case-insensitive, optional
 * `b`/`ib` suffix): `512m`, `2g`, `1.5GiB`, `1048576`. A number is taken as bytes.
 * Throws {@link EngineConfigError} on anything else; the message never echoes the value.
 */
export function parseMemory(value: string | number, field = 'docker.memory'): number {
  let bytes: number;
  if (typeof value === 'number') {
    bytes = value;
  } else {
    const match = MEMORY.exec(value.trim());
    if (!match) {
      throw new EngineConfigError(field, 'expected bytes or a size like 512m, 2g or 1.5GiB');
    }
    const [, amount = '', unit = ''] = match;
    bytes = Math.floor(Number(amount) * (UNITS[unit.toLowerCase()] ?? 1));
  }
  if (!Number.isSafeInteger(bytes) || bytes < MIN_MEMORY_BYTES) {
    throw new EngineConfigError(field, 'must be a whole number of bytes, at least 6 MiB');
  }
  return bytes;
}

/** Maps a CPU count (cores, fractional allowed) to Docker's NanoCpus. */
export function cpusToNanoCpus(cpus: number, field = 'docker.cpus'): number {
  if (!Number.isFinite(cpus) || cpus <= 0) {
    throw new EngineConfigError(field, 'must be a positive number of cores, like 1 or 0.5');
  }
  const nano = Math.round(cpus * 1e9);
  if (nano < 1e6) {
    throw new EngineConfigError(field, 'must be at least 0.001 cores');
  }
  return nano;
}

/** Checks one bind mount `source:/container/path[:mode]`. */
export function assertValidVolume(volume: string, field: string): void {
  const parts = volume.split(':');
  const [source = '', target = '', mode] = parts;
  if (parts.length < 2 || parts.length > 3 || source === '' || !target.startsWith('/')) {
    throw new EngineConfigError(
      field,
      'expected "host-path-or-volume:/container/path" optionally followed by ":ro"',
    );
  }
  if (mode !== undefined && !mode.split(',').every((m) => MOUNT_MODES.has(m))) {
    throw new EngineConfigError(field, 'unknown mount mode; use ro or rw (plus z, Z, nocopy)');
  }
}

/**
 * Turns the `dockerHost` setting into dockerode connection options. `undefined` keeps
 * dockerode's defaults (`DOCKER_HOST`, `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`, local socket).
 */
export function dockerConnectionOptions(dockerHost: string | null): Dockerode.DockerOptions {
  if (dockerHost === null) {
    return {};
  }
  if (dockerHost.startsWith('unix://') || dockerHost.startsWith('/')) {
    const socketPath = dockerHost.startsWith('unix://') ? dockerHost.slice(7) : dockerHost;
    if (!socketPath.startsWith('/')) {
      throw new EngineConfigError('docker.docker_host', 'unix:// needs an absolute socket path');
    }
    // dockerode merges DOCKER_HOST from the environment under these options and prefers its
    // host over socketPath; an empty host makes the explicit socket win.
    return { socketPath, host: '', protocol: 'http' };
  }
  if (dockerHost.startsWith('tcp://')) {
    let url: URL;
    try {
      url = new URL(`http://${dockerHost.slice(6)}`);
    } catch {
      throw new EngineConfigError('docker.docker_host', 'expected tcp://host:port');
    }
    if (url.hostname === '' || url.port === '') {
      throw new EngineConfigError('docker.docker_host', 'expected tcp://host:port');
    }
    return { host: url.hostname, port: Number(url.port), protocol: 'http' };
  }
  throw new EngineConfigError(
    'docker.docker_host',
    'expected unix:///path/to/docker.sock or tcp://host:port (for TLS, leave it unset and use DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH)',
  );
}

/** Human-readable daemon address for error messages. */
export function describeDockerHost(dockerHost: string | null): string {
  return dockerHost ?? process.env['DOCKER_HOST'] ?? `unix://${DEFAULT_DOCKER_SOCKET}`;
}

function positiveMs(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) {
    return fallback;
  }
  if (!Number.isInteger(value) || value <= 0) {
    throw new EngineConfigError(field, 'must be a positive whole number of milliseconds');
  }
  return value;
}

/** Applies defaults and validates every option; throws {@link EngineConfigError}. */
export function resolveDockerEngineOptions(
  options: DockerEngineOptions,
): ResolvedDockerEngineOptions {
  if (!OWNER_ID.test(options.ownerId)) {
    throw new EngineConfigError(
      'docker.owner_id',
      'must be 1-63 characters of letters, digits, "_", "." or "-", starting with a letter or digit',
    );
  }
  const image = options.image ?? DEFAULT_RUNNER_IMAGE;
  if (image.trim() === '' || /\s/.test(image)) {
    throw new EngineConfigError('docker.image', 'must be an image reference like repo/name:tag');
  }
  const env = options.env ?? {};
  for (const key of Object.keys(env)) {
    if (!ENV_NAME.test(key)) {
      throw new EngineConfigError(`docker.env.${key}`, 'is not a valid environment variable name');
    }
    if (key === JIT_CONFIG_ENV) {
      throw new EngineConfigError(`docker.env.${key}`, 'is set by scaleset for every runner');
    }
  }
  assertNoReservedLabels(options.labels, 'docker.labels');
  const volumes = options.volumes ?? [];
  volumes.forEach((v, i) => {
    assertValidVolume(v, `docker.volumes[${i}]`);
  });
  const command = options.command === undefined ? DEFAULT_RUNNER_COMMAND : options.command;
  if (command?.some((part) => typeof part !== 'string')) {
    throw new EngineConfigError('docker.command', 'must be a list of strings');
  }
  const dindHostSocket = options.dindHostSocket ?? DEFAULT_DOCKER_SOCKET;
  if (!dindHostSocket.startsWith('/')) {
    throw new EngineConfigError('docker.dind_host_socket', 'must be an absolute path');
  }
  if (options.network?.trim() === '') {
    throw new EngineConfigError('docker.network', 'must not be empty; leave it unset instead');
  }
  const dockerHost = options.dockerHost ?? null;
  dockerConnectionOptions(dockerHost);
  return {
    ownerId: options.ownerId,
    image,
    pullPolicy: options.pullPolicy ?? 'if-not-present',
    command: command === null || command.length === 0 ? null : [...command],
    dind: options.dind ?? false,
    dindHostSocket,
    network: options.network ?? null,
    nanoCpus: options.cpus === undefined ? null : cpusToNanoCpus(options.cpus),
    memoryBytes: options.memory === undefined ? null : parseMemory(options.memory),
    env: { ...env },
    labels: { ...options.labels },
    volumes: [...volumes],
    dockerHost,
    privileged: options.privileged ?? false,
    user: options.user ?? null,
    apiTimeoutMs: positiveMs(options.apiTimeoutMs, 30_000, 'docker.api_timeout_ms'),
    pullTimeoutMs: positiveMs(options.pullTimeoutMs, 900_000, 'docker.pull_timeout_ms'),
  };
}

/** Splits an image reference into the `fromImage`/`tag` pair the pull API wants. */
export function imagePullParams(image: string): { fromImage: string; tag?: string } {
  if (image.includes('@')) {
    return { fromImage: image };
  }
  const lastSlash = image.lastIndexOf('/');
  const lastColon = image.lastIndexOf(':');
  if (lastColon > lastSlash) {
    return { fromImage: image.slice(0, lastColon), tag: image.slice(lastColon + 1) };
  }
  // Without a tag the pull API fetches every tag of the repository.
  return { fromImage: image, tag: 'latest' };
}

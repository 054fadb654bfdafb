import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isIP } from 'node:net';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { CONFIG_PATH_ENV, CONFIG_SOURCES, DEFAULT_CONFIG_PATH, convertRaw } from './config.sources';
import type {
  EngineConfig,
  GitHubAuthConfig,
  ScaleSetConfig,
  ScalesetConfig,
  UiConfig,
} from './config.types';
import { ConfigValidationError, type ConfigIssue } from './errors';
import { configFileSchema, simulatedEngineSchema, type ConfigFile } from './file.schema';

/** Where configuration comes from; all parts optional so tests can give exactly what they need. */
export interface LoadConfigOptions {
  /** `--config`; when set the file must exist. */
  readonly configPath?: string;
  /** Parsed command-line flags by long name without dashes (`url`, `max-runners`, …). */
  readonly flags?: Readonly<Record<string, string | undefined>>;
  /** Environment (default: `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Base directory for relative paths (default: the current directory). */
  readonly cwd?: string;
  /** File reader, replaceable in tests. */
  readonly readFile?: (path: string) => string;
}

type Raw = Record<string, unknown>;

const ENGINE_KINDS = ['docker', 'gcp', 'aws', 'azure', 'simulated'] as const;
type EngineKind = (typeof ENGINE_KINDS)[number];
const IMPLEMENTED_ENGINES: readonly EngineKind[] = ['docker', 'gcp', 'simulated'];

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// The original tool's files write unset values as "" (and installation_id as 0); treat
// them as absent so such files load unchanged.
function stripEmpty(value: unknown): unknown {
  if (Array.isArray(value)) {
    return (value as unknown[]).map((v) => (isObject(v) ? stripEmpty(v) : v));
  }
  if (!isObject(value)) {
    return value;
  }
  const out: Raw = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === '' || v === null) {
      continue;
    }
    out[k] = isObject(v) || Array.isArray(v) ? stripEmpty(v) : v;
  }
  return out;
}

const ALTERNATIVES: Readonly<Record<string, string>> = {
  'github.token': 'github.token_file',
  'github.token_file': 'github.token',
  'github.app.private_key': 'github.app.private_key_path',
  'github.app.private_key_path': 'github.app.private_key',
  'redis.password': 'redis.password_file',
  'redis.password_file': 'redis.password',
};

function deletePath(target: Raw, path: string): void {
  const parts = path.split('.');
  let node: unknown = target;
  for (const part of parts.slice(0, -1)) {
    node = isObject(node) ? node[part] : undefined;
  }
  if (isObject(node)) {
    Reflect.deleteProperty(node, parts[parts.length - 1] ?? path);
  }
}

function setPath(target: Raw, path: string, value: unknown): void {
  const parts = path.split('.');
  let node: Raw = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (isObject(next)) {
      node = next;
    } else {
      const created: Raw = {};
      node[part] = created;
      node = created;
    }
  }
  node[parts[parts.length - 1] ?? path] = value;
}

/** Formats a zod path the way users read it: `scalesets[1].engine.docker.image`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') {
      out += `[${p}]`;
    } else {
      out += out === '' ? String(p) : `.${String(p)}`;
    }
  }
  return out === '' ? '(root)' : out;
}

function zodIssues(error: z.ZodError): ConfigIssue[] {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const base = formatPath(issue.path);
        return issue.keys.map((key) => ({
          path: base === '(root)' ? key : `${base}.${key}`,
          message: 'unknown field (check the spelling; see config.example.yaml)',
        }));
      }
      let message = issue.message;
      if (issue.code === 'invalid_type' && issue.input === undefined) {
        message = 'is required';
      } else if (issue.code === 'invalid_type' && !/must|required/.test(message)) {
        message = `must be ${issue.expected === 'int' ? 'a whole number' : `a ${issue.expected}`}`;
      }
      return [{ path: formatPath(issue.path), message }];
    })
    .flat();
}

function readYaml(path: string, readFile: (p: string) => string, explicit: boolean): Raw {
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) {
      return {};
    }
    throw new ConfigValidationError([
      { path: 'config', message: `cannot read ${path} (${code ?? 'unknown error'})` },
    ]);
  }
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // The YAML library's messages quote the offending source line, which may hold a
    // token; report positions and error codes only.
    throw new ConfigValidationError(
      doc.errors.map((e) => ({
        path: 'config',
        message: `${path} is not valid YAML at line ${e.linePos?.[0].line ?? '?'}, column ${e.linePos?.[0].col ?? '?'} (${e.code})`,
      })),
    );
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) {
    return {};
  }
  if (!isObject(value)) {
    throw new ConfigValidationError([
      { path: 'config', message: `${path} must hold a YAML mapping` },
    ]);
  }
  return value;
}

function readSecretFile(
  path: string,
  field: string,
  readFile: (p: string) => string,
  issues: ConfigIssue[],
): string | undefined {
  try {
    const content = readFile(path).trim();
    if (content === '') {
      issues.push({ path: field, message: 'the file is empty' });
      return undefined;
    }
    return content;
  } catch (err) {
    issues.push({
      path: field,
      message: `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'unknown error'})`,
    });
    return undefined;
  }
}

const LOOPBACK_NAMES = new Set(['localhost', 'ip6-localhost', 'ip6-loopback']);

/**
 * True for loopback hosts: `localhost` (and `*.localhost`), 127.0.0.0/8, `::1` in any spelling
 * and IPv4-mapped 127.0.0.0/8 (`::ffff:127.0.0.1`, which URL parsing turns into
 * `::ffff:7f00:1`). Brackets around IPv6 addresses, as `URL.hostname` has them, are allowed.
 * The one loopback check of the project: config validation and the GitHub client both use it.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (LOOPBACK_NAMES.has(host) || host.endsWith('.localhost')) {
    return true;
  }
  switch (isIP(host)) {
    case 4:
      return host.startsWith('127.');
    case 6:
      return (
        /^(?:0{0,4}:){2,7}0{0,3}1$/.test(host) ||
        /^(?:0{0,4}:){1,5}ffff:127\./.test(host) ||
        /^(?:0{0,4}:){1,5}ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(host)
      );
    default:
      return false;
  }
}

/** Checks a GitHub config URL as protocol §1 requires; returns problems, never the URL. */
export function checkGitHubUrl(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw.replace(/^\/+|\/+$/g, ''));
  } catch {
    return 'must be an absolute URL such as https://github.com/<org>';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return 'must use https://';
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    return 'must use https:// (plain http:// is allowed only for loopback hosts, for local testing)';
  }
  if (url.username !== '' || url.password !== '') {
    return 'must not contain credentials; use github.token or github.app';
  }
  const segments = url.pathname.replace(/^\/+|\/+$/g, '').split('/');
  if (segments.length === 1 && segments[0] !== '') {
    return undefined;
  }
  if (segments.length === 2) {
    return undefined;
  }
  return 'must point to an organization (/<org>), a repository (/<org>/<repo>) or an enterprise (/enterprises/<name>)';
}

function engineKindsEnabled(engine: ConfigFile['engine']): EngineKind[] {
  if (engine === undefined) {
    return [];
  }
  const legacy = engine.type === 'ec2' ? 'aws' : engine.type;
  return ENGINE_KINDS.filter((kind) => {
    const section = engine[kind];
    if (section?.enable !== undefined) {
      return section.enable;
    }
    return legacy === kind;
  });
}

function buildEngine(
  engine: ConfigFile['engine'],
  at: string,
  issues: ConfigIssue[],
): EngineConfig | undefined {
  const enabled = engineKindsEnabled(engine);
  if (enabled.length === 0) {
    issues.push({
      path: at,
      message: 'no engine is enabled; enable exactly one, e.g. engine.docker.enable: true',
    });
    return undefined;
  }
  if (enabled.length > 1) {
    issues.push({
      path: at,
      message: `more than one engine is enabled (${enabled.join(', ')}); enable exactly one`,
    });
    return undefined;
  }
  const kind = enabled[0] as EngineKind;
  const required: Record<EngineKind, readonly string[]> = {
    docker: [],
    gcp: ['project', 'image'],
    aws: ['region', 'image', 'instance_type'],
    azure: ['subscription_id', 'resource_group', 'image'],
    simulated: [],
  };
  const section = (engine?.[kind] ?? {}) as Raw;
  for (const field of required[kind]) {
    if (section[field] === undefined) {
      issues.push({
        path: `${at}.${kind}.${field}`,
        message: `is required for the ${kind} engine`,
      });
    }
  }
  if (!IMPLEMENTED_ENGINES.includes(kind)) {
    issues.push({
      path: `${at}.${kind}`,
      message: `the ${kind} engine is not implemented yet (available: ${IMPLEMENTED_ENGINES.join(', ')})`,
    });
    return undefined;
  }
  if (kind === 'gcp') {
    return buildGcpEngine(engine?.gcp, `${at}.gcp`, issues);
  }
  if (kind === 'simulated') {
    // Absent when enabled through the legacy `type: simulated`: the schema's defaults apply.
    const sim = engine?.simulated ?? simulatedEngineSchema.parse({});
    return {
      kind: 'simulated',
      simulated: {
        startLatencyMs: sim.start_latency,
        destroyLatencyMs: sim.destroy_latency,
        jitter: sim.jitter,
        failureRate: sim.failure_rate,
        capacity: sim.capacity,
        runner: sim.runner,
        runnerLifetimeMs: sim.runner_lifetime,
      },
    };
  }
  const d = engine?.docker;
  if (d === undefined) {
    // docker enabled through the legacy `type: docker` without a docker section.
    return {
      kind: 'docker',
      docker: {
        image: 'ghcr.io/actions/actions-runner:latest',
        dind: false,
        pullPolicy: 'if-not-present',
        env: {},
        labels: {},
        volumes: [],
        privileged: false,
      },
    };
  }
  return {
    kind: 'docker',
    docker: {
      image: d.image,
      dind: d.dind,
      pullPolicy: d.pull_policy,
      env: d.env ?? {},
      labels: d.labels ?? {},
      volumes: d.volumes ?? [],
      privileged: d.privileged,
      ...(d.network !== undefined && { network: d.network }),
      ...(d.cpus !== undefined && { cpus: d.cpus }),
      ...(d.memory !== undefined && { memory: d.memory }),
      ...(d.docker_host !== undefined && { dockerHost: d.docker_host }),
      ...(d.command !== undefined && { command: d.command }),
    },
  };
}

/** Metadata keys the GCP engine writes itself; user metadata may not set them. */
const GCP_RESERVED_METADATA = /^(startup-script|startup-script-url|scaleset-.*)$/;

function buildGcpEngine(
  g: NonNullable<ConfigFile['engine']>['gcp'],
  at: string,
  issues: ConfigIssue[],
): EngineConfig | undefined {
  if (g === undefined || g.project === undefined || g.image === undefined) {
    return undefined; // the missing required fields are already reported
  }
  const zones = [...new Set([...(g.zone === undefined ? [] : [g.zone]), ...(g.zones ?? [])])];
  if (zones.length === 0) {
    issues.push({ path: `${at}.zone`, message: 'is required for the gcp engine (or give zones)' });
  }
  if (g.spot !== undefined && g.provisioning_model !== undefined) {
    if (g.spot !== (g.provisioning_model === 'SPOT')) {
      issues.push({
        path: `${at}.spot`,
        message: `contradicts provisioning_model: ${g.provisioning_model}; set only one`,
      });
    }
  }
  for (const key of Object.keys(g.metadata ?? {})) {
    if (GCP_RESERVED_METADATA.test(key)) {
      issues.push({
        path: `${at}.metadata.${key}`,
        message: 'is set by scaleset; use startup_script for the startup script',
      });
    }
  }
  for (const key of Object.keys(g.labels ?? {})) {
    if (key.startsWith('scaleset-')) {
      issues.push({
        path: `${at}.labels.${key}`,
        message: 'label keys starting with "scaleset-" are reserved for scaleset',
      });
    }
  }
  if (g.api_endpoint !== undefined) {
    try {
      const u = new URL(
        g.api_endpoint.includes('://') ? g.api_endpoint : `https://${g.api_endpoint}`,
      );
      if (u.protocol !== 'https:' && u.protocol !== 'http:') {
        throw new Error('scheme');
      }
      if (u.protocol === 'http:' && !isLoopbackHost(u.hostname)) {
        issues.push({
          path: `${at}.api_endpoint`,
          message: 'plain http is allowed only for a loopback address (a local fake)',
        });
      }
    } catch {
      issues.push({ path: `${at}.api_endpoint`, message: 'must be a host name or an http(s) URL' });
    }
  }
  if (zones.length === 0) {
    return undefined;
  }
  return {
    kind: 'gcp',
    gcp: {
      project: g.project,
      zones,
      image: g.image,
      machineType: g.machine_type,
      diskSizeGb: g.disk_size_gb,
      diskType: g.disk_type,
      network: g.network,
      publicIp: g.public_ip,
      scopes: g.scopes,
      labels: g.labels ?? {},
      tags: g.tags ?? [],
      provisioningModel: g.provisioning_model ?? (g.spot === true ? 'SPOT' : 'STANDARD'),
      metadata: g.metadata ?? {},
      operationTimeoutMs: g.operation_timeout,
      ...(g.subnet !== undefined && { subnet: g.subnet }),
      ...(g.service_account !== undefined && { serviceAccount: g.service_account }),
      ...(g.startup_script !== undefined && { startupScript: g.startup_script }),
      ...(g.api_endpoint !== undefined && { apiEndpoint: g.api_endpoint }),
    },
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) {
      deepFreeze(v);
    }
    Object.freeze(value);
  }
  return value;
}

function redisUrlWithoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * Loads the configuration: defaults < YAML file < `SCALESET_…` environment < flags,
 * validates it and returns one frozen object. Throws {@link ConfigValidationError}
 * listing every problem, before anything connects anywhere.
 */
export function loadConfig(options: LoadConfigOptions = {}): ScalesetConfig {
  const env = options.env ?? process.env;
  const flags = options.flags ?? {};
  const cwd = options.cwd ?? process.cwd();
  const readFile = options.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const abs = (p: string): string => resolve(cwd, p);

  const explicitPath = options.configPath ?? env[CONFIG_PATH_ENV];
  const path = explicitPath ?? DEFAULT_CONFIG_PATH;
  const raw = stripEmpty(readYaml(abs(path), readFile, explicitPath !== undefined)) as Raw;

  const issues: ConfigIssue[] = [];
  const usesList = raw['scalesets'] !== undefined;
  for (const layer of ['env', 'flag'] as const) {
    for (const source of CONFIG_SOURCES) {
      const value = layer === 'env' ? env[source.env] : source.flag && flags[source.flag];
      if (value === undefined || value === '') {
        continue;
      }
      if (usesList && source.path.startsWith('scaleset.')) {
        issues.push({
          path: layer === 'env' ? source.env : `--${source.flag ?? ''}`,
          message: 'sets the single scaleset block, but the configuration uses a scalesets: list',
        });
        continue;
      }
      // A value from a higher layer replaces its alternative form from a lower one
      // (`--token` wins over the file's token_file).
      const sibling = ALTERNATIVES[source.path];
      if (sibling !== undefined) {
        deletePath(raw, sibling);
      }
      setPath(raw, source.path, convertRaw(source.kind, value));
    }
  }
  if (issues.length > 0) {
    throw new ConfigValidationError(issues);
  }

  // reportInput lets the issue tell a missing field from a wrong one; inputs are only
  // compared with undefined, never printed.
  const parsed = configFileSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    const schemaIssues = zodIssues(parsed.error);
    const github = raw['github'];
    const url = isObject(github) ? github['url'] : undefined;
    const urlProblem = typeof url === 'string' ? checkGitHubUrl(url) : undefined;
    if (urlProblem !== undefined) {
      schemaIssues.unshift({ path: 'github.url', message: urlProblem });
    }
    throw new ConfigValidationError(schemaIssues);
  }
  const file = parsed.data;

  const auth = buildAuth(file, abs, readFile, issues);
  const urlProblem = checkGitHubUrl(file.github.url);
  if (urlProblem !== undefined) {
    issues.push({ path: 'github.url', message: urlProblem });
  }
  let caCert: string | undefined;
  if (file.github.ca_cert_path !== undefined) {
    caCert = readSecretFile(abs(file.github.ca_cert_path), 'github.ca_cert_path', readFile, issues);
  }

  const scaleSets: ScaleSetConfig[] = [];
  const entries: { at: string; s: NonNullable<ConfigFile['scaleset']> }[] = [];
  if (file.scaleset !== undefined && file.scalesets !== undefined) {
    issues.push({
      path: 'scalesets',
      message: 'use either scaleset: (one) or scalesets: (a list), not both',
    });
  } else if (file.scaleset !== undefined) {
    entries.push({ at: 'scaleset', s: file.scaleset });
  } else if (file.scalesets !== undefined) {
    file.scalesets.forEach((s, i) => entries.push({ at: `scalesets[${i}]`, s }));
  } else {
    issues.push({
      path: 'scaleset',
      message: 'is required: a scale set name (scaleset.name or --name)',
    });
  }
  const seen = new Set<string>();
  for (const { at, s } of entries) {
    if (s.max_runners < s.min_runners) {
      issues.push({
        path: `${at}.max_runners`,
        message: 'must be greater than or equal to min_runners',
      });
    }
    if (seen.has(s.name.toLowerCase())) {
      issues.push({ path: `${at}.name`, message: 'duplicate scale set name' });
    }
    seen.add(s.name.toLowerCase());
    const engineAt = s.engine !== undefined ? `${at}.engine` : 'engine';
    const engine = buildEngine(s.engine ?? file.engine, engineAt, issues);
    if (engine !== undefined) {
      scaleSets.push({
        name: s.name,
        labels: [...new Set(s.labels)],
        runnerGroup: s.runner_group,
        minRunners: s.min_runners,
        maxRunners: s.max_runners,
        engine,
      });
    }
  }

  let redisPassword = file.redis.password;
  if (file.redis.password_file !== undefined) {
    if (redisPassword !== undefined) {
      issues.push({
        path: 'redis.password_file',
        message: 'set either redis.password or redis.password_file, not both',
      });
    }
    redisPassword = readSecretFile(
      abs(file.redis.password_file),
      'redis.password_file',
      readFile,
      issues,
    );
  }
  const tls = file.redis.tls;
  const tlsFile = (p: string | undefined, field: string): string | undefined =>
    p === undefined ? undefined : readSecretFile(abs(p), field, readFile, issues);
  const tlsConfig =
    tls?.enabled === true || file.redis.url.startsWith('rediss://')
      ? {
          rejectUnauthorized: tls?.reject_unauthorized ?? true,
          ...optional('ca', tlsFile(tls?.ca_path, 'redis.tls.ca_path')),
          ...optional('cert', tlsFile(tls?.cert_path, 'redis.tls.cert_path')),
          ...optional('key', tlsFile(tls?.key_path, 'redis.tls.key_path')),
        }
      : undefined;

  if (file.listener.lease_ttl < 1000) {
    issues.push({ path: 'listener.lease_ttl', message: 'must be at least 1s' });
  }
  if (file.reconcile.interval < 1000) {
    issues.push({ path: 'reconcile.interval', message: 'must be at least 1s' });
  }
  if (file.otel.enabled && file.otel.endpoint === undefined && !file.otel.stdout) {
    issues.push({
      path: 'otel.endpoint',
      message: 'is required when otel.enabled is true (or set otel.stdout: true)',
    });
  }

  const ui = buildUi(file, issues);

  if (issues.length > 0 || auth === undefined) {
    throw new ConfigValidationError(issues);
  }

  const deploymentId =
    file.deployment.id ??
    createHash('sha256')
      .update(
        `${file.github.url}|${redisUrlWithoutCredentials(file.redis.url)}|${file.redis.prefix}`,
      )
      .digest('hex')
      .slice(0, 12);

  return deepFreeze<ScalesetConfig>({
    github: {
      url: file.github.url.replace(/\/+$/, ''),
      auth,
      ...optional('caCert', caCert),
      ...optional('caCertPath', file.github.ca_cert_path),
    },
    scaleSets,
    redis: {
      url: file.redis.url,
      prefix: file.redis.prefix,
      ...optional('username', file.redis.username),
      ...optional('password', redisPassword),
      ...optional('tls', tlsConfig),
    },
    logging: { level: file.logging.level, format: file.logging.format },
    otel: {
      enabled: file.otel.enabled,
      insecure: file.otel.insecure,
      stdout: file.otel.stdout,
      ...optional('endpoint', file.otel.endpoint),
    },
    prometheus: { enable: file.prometheus.enable, port: file.prometheus.port },
    deployment: { id: deploymentId },
    listener: {
      leaseTtlMs: file.listener.lease_ttl,
      scaleDownGraceMs: file.listener.scale_down_grace,
      reevaluateIntervalMs: file.listener.reevaluate_interval,
      healthPort: file.listener.health_port,
      healthHost: file.listener.health_host,
      healthStaleAfterMs: file.listener.health_stale_after,
    },
    worker: {
      concurrency: file.worker.concurrency,
      startAttempts: file.worker.start_attempts,
      destroyAttempts: file.worker.destroy_attempts,
      shutdownTimeoutMs: file.worker.shutdown_timeout,
      jobLockMs: file.worker.job_lock,
      healthPort: file.worker.health_port,
      healthHost: file.worker.health_host,
    },
    reconcile: {
      intervalMs: file.reconcile.interval,
      orphanGraceMs: file.reconcile.orphan_grace,
      startupTimeoutMs: file.reconcile.startup_timeout,
      maxLifetimeMs: file.reconcile.max_lifetime,
    },
    ui,
  });
}

/**
 * The `ui:` section. Bull Board can retry and remove jobs, so it needs credentials unless the
 * HTTP server is reachable from this host only.
 */
function buildUi(file: ConfigFile, issues: ConfigIssue[]): UiConfig {
  const { enable, path, username, password, token } = file.ui;
  if (username !== undefined && password === undefined) {
    issues.push({ path: 'ui.password', message: 'is required when ui.username is set' });
  }
  if (password !== undefined && username === undefined) {
    issues.push({ path: 'ui.username', message: 'is required when ui.password is set' });
  }
  if (token !== undefined && /\s/.test(token)) {
    issues.push({ path: 'ui.token', message: 'must not contain whitespace' });
  }
  if (enable) {
    if (file.listener.health_port === 0) {
      issues.push({
        path: 'ui.enable',
        message: 'needs the listener HTTP server: set listener.health_port to a port (not 0)',
      });
    }
    if (
      password === undefined &&
      token === undefined &&
      !isLoopbackHost(file.listener.health_host)
    ) {
      issues.push({
        path: 'ui.password',
        message:
          'is required when ui.enable is true (or ui.token), unless listener.health_host is a loopback address such as 127.0.0.1',
      });
    }
  }
  return {
    enable,
    path,
    ...(username !== undefined && password !== undefined && { basic: { username, password } }),
    ...optional('token', token),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]: V });
}

function buildAuth(
  file: ConfigFile,
  abs: (p: string) => string,
  readFile: (p: string) => string,
  issues: ConfigIssue[],
): GitHubAuthConfig | undefined {
  const gh = file.github;
  const app = gh.app ?? {};
  const hasToken = gh.token !== undefined || gh.token_file !== undefined;
  const appFields = [app.client_id, app.installation_id, app.private_key, app.private_key_path];
  const hasApp = appFields.some((v) => v !== undefined && v !== 0);
  if (!hasToken && !hasApp) {
    issues.push({
      path: 'github',
      message:
        'no credentials: set github.app (client_id, installation_id, private_key_path) or github.token',
    });
    return undefined;
  }
  if (hasToken && hasApp) {
    issues.push({
      path: 'github',
      message: 'both github.token and github.app are set; use exactly one kind of credentials',
    });
    return undefined;
  }
  if (hasToken) {
    if (gh.token !== undefined && gh.token_file !== undefined) {
      issues.push({
        path: 'github.token_file',
        message: 'set either github.token or github.token_file, not both',
      });
      return undefined;
    }
    const token =
      gh.token ?? readSecretFile(abs(gh.token_file ?? ''), 'github.token_file', readFile, issues);
    if (token === undefined) {
      return undefined;
    }
    if (/\s/.test(token)) {
      issues.push({ path: 'github.token', message: 'must not contain whitespace' });
      return undefined;
    }
    return { kind: 'pat', token };
  }
  let ok = true;
  if (app.client_id === undefined) {
    issues.push({
      path: 'github.app.client_id',
      message: 'is required when using GitHub App authentication',
    });
    ok = false;
  }
  if (app.installation_id === undefined || app.installation_id === 0) {
    issues.push({
      path: 'github.app.installation_id',
      message: 'is required when using GitHub App authentication (a positive number)',
    });
    ok = false;
  }
  if (app.private_key !== undefined && app.private_key_path !== undefined) {
    issues.push({
      path: 'github.app.private_key',
      message: 'set either github.app.private_key or github.app.private_key_path, not both',
    });
    return undefined;
  }
  let key = app.private_key;
  if (key === undefined && app.private_key_path !== undefined) {
    key = readSecretFile(
      abs(app.private_key_path),
      'github.app.private_key_path',
      readFile,
      issues,
    );
    if (key === undefined) {
      return undefined;
    }
  }
  if (key === undefined) {
    issues.push({
      path: 'github.app.private_key_path',
      message: 'is required when using GitHub App authentication (or github.app.private_key)',
    });
    return undefined;
  }
  if (!/-----BEGIN (RSA )?PRIVATE KEY-----/.test(key)) {
    issues.push({
      path:
        app.private_key_path !== undefined
          ? 'github.app.private_key_path'
          : 'github.app.private_key',
      message:
        'is not a PEM private key (expected -----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----)',
    });
    return undefined;
  }
  if (!ok || app.client_id === undefined || app.installation_id === undefined) {
    return undefined;
  }
  return {
    kind: 'app',
    clientId: app.client_id,
    installationId: app.installation_id,
    privateKey: key,
  };
}

/** How scaleset authenticates to GitHub: a personal access token or a GitHub App. */
export type GitHubAuthConfig =
  | { readonly kind: 'pat'; readonly token: string }
  | {
      readonly kind: 'app';
      readonly clientId: string;
      readonly installationId: number;
      readonly privateKey: string;
    };

/** GitHub connection settings. */
export interface GitHubConfig {
  /** Repository, organization or enterprise URL the scale sets register with. */
  readonly url: string;
  readonly auth: GitHubAuthConfig;
  /** Extra trusted CAs (PEM), read from `github.ca_cert_path`. */
  readonly caCert?: string;
  readonly caCertPath?: string;
}

/** Docker engine settings (see docs/engines/docker.md). */
export interface DockerEngineConfig {
  readonly image: string;
  readonly dind: boolean;
  readonly pullPolicy: 'always' | 'if-not-present' | 'never';
  readonly network?: string;
  readonly cpus?: number;
  readonly memory?: string;
  readonly env: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly volumes: readonly string[];
  readonly dockerHost?: string;
  readonly privileged: boolean;
  /** `undefined`: the default `/home/runner/run.sh`; `[]`: the image's own entrypoint/cmd. */
  readonly command?: readonly string[];
}

/** GCP Compute Engine settings (see docs/gcp/README.md); durations in milliseconds. */
export interface GcpEngineConfig {
  readonly project: string;
  /** Zones tried in order: `zone` first, then `zones` (deduplicated); never empty. */
  readonly zones: readonly string[];
  readonly image: string;
  readonly machineType: string;
  readonly diskSizeGb: number;
  readonly diskType: string;
  readonly network: string;
  readonly subnet?: string;
  readonly publicIp: boolean;
  readonly serviceAccount?: string;
  readonly scopes: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly tags: readonly string[];
  readonly provisioningModel: 'STANDARD' | 'SPOT';
  readonly metadata: Readonly<Record<string, string>>;
  readonly startupScript?: string;
  readonly apiEndpoint?: string;
  readonly operationTimeoutMs: number;
}

/** Simulated engine settings (dry runs, capacity planning, benchmarks); durations in ms. */
export interface SimulatedEngineConfig {
  readonly startLatencyMs: number;
  readonly destroyLatencyMs: number;
  /** Fraction 0..1 by which each latency varies uniformly. */
  readonly jitter: number;
  /** Fraction 0..1 of starts that fail with a retryable error. */
  readonly failureRate: number;
  /** Most instances alive at once; 0 = no limit. */
  readonly capacity: number;
  readonly runner: 'fake' | 'none';
  /** With `runner: none`, an instance exits after this long; 0 = never. */
  readonly runnerLifetimeMs: number;
}

/** The one compute engine of a scale set. */
export type EngineConfig =
  | { readonly kind: 'docker'; readonly docker: DockerEngineConfig }
  | { readonly kind: 'gcp'; readonly gcp: GcpEngineConfig }
  | { readonly kind: 'simulated'; readonly simulated: SimulatedEngineConfig };

/** One runner scale set served by this deployment. */
export interface ScaleSetConfig {
  readonly name: string;
  /** Extra labels; the scale set name is always a label too. */
  readonly labels: readonly string[];
  readonly runnerGroup: string;
  readonly minRunners: number;
  readonly maxRunners: number;
  readonly engine: EngineConfig;
}

/** Redis connection settings. */
export interface RedisConfig {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** Key prefix; BullMQ uses `{<prefix>}` so keys hash to one slot per queue on Redis Cluster. */
  readonly prefix: string;
  readonly tls?: {
    readonly ca?: string;
    readonly cert?: string;
    readonly key?: string;
    readonly rejectUnauthorized: boolean;
  };
}

/** Logging settings. */
export interface LoggingConfig {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly format: 'text' | 'json';
}

/** OpenTelemetry settings. */
export interface OtelConfig {
  readonly enabled: boolean;
  readonly endpoint?: string;
  readonly insecure: boolean;
  readonly stdout: boolean;
}

/** Prometheus `/metrics` settings. */
export interface PrometheusConfig {
  readonly enable: boolean;
  readonly port: number;
}

/** Listener settings; durations in milliseconds. */
export interface ListenerConfig {
  readonly leaseTtlMs: number;
  readonly scaleDownGraceMs: number;
  readonly reevaluateIntervalMs: number;
  /** 0 = no health server. */
  readonly healthPort: number;
  /** Address the health (and ui) server binds to. */
  readonly healthHost: string;
  readonly healthStaleAfterMs: number;
}

/** Worker settings; durations in milliseconds. */
export interface WorkerConfig {
  readonly concurrency: number;
  readonly startAttempts: number;
  readonly destroyAttempts: number;
  readonly shutdownTimeoutMs: number;
  /** BullMQ lock duration of a running job, also the stalled-job check interval. */
  readonly jobLockMs: number;
  /** Port of the worker's /healthz and /readyz; 0 = no health server. */
  readonly healthPort: number;
  /** Address the worker health server binds to. */
  readonly healthHost: string;
}

/** Reconciler settings; durations in milliseconds (0 = off where noted). */
export interface ReconcileConfig {
  readonly intervalMs: number;
  readonly orphanGraceMs: number;
  readonly startupTimeoutMs: number;
  /** 0 = no maximum lifetime. */
  readonly maxLifetimeMs: number;
}

/**
 * Bull Board, served by the listener on its health port. Credentials are absent only when
 * the health server binds to loopback (checked at boot).
 */
export interface UiConfig {
  readonly enable: boolean;
  /** URL path, e.g. `/ui`. */
  readonly path: string;
  /** Basic auth; user name and password are set together or not at all. */
  readonly basic?: { readonly username: string; readonly password: string };
  /** Bearer token accepted instead of basic auth. */
  readonly token?: string;
}

/** The validated, frozen configuration every part of scaleset reads. */
export interface ScalesetConfig {
  readonly github: GitHubConfig;
  readonly scaleSets: readonly ScaleSetConfig[];
  readonly redis: RedisConfig;
  readonly logging: LoggingConfig;
  readonly otel: OtelConfig;
  readonly prometheus: PrometheusConfig;
  /** Owner id put on every compute resource (guarantee 5). */
  readonly deployment: { readonly id: string };
  readonly listener: ListenerConfig;
  readonly worker: WorkerConfig;
  readonly reconcile: ReconcileConfig;
  readonly ui: UiConfig;
}

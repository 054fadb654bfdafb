import type { EngineConfig, ScalesetConfig } from './config.types';

/** What replaces every secret in printed configuration. */
export const REDACTED = '[REDACTED]';

/**
 * The effective configuration as a plain object in the file's snake_case form, with every
 * secret replaced by {@link REDACTED}: safe to print (`scaleset config validate`) or log.
 */
export function redactedConfig(config: ScalesetConfig): Record<string, unknown> {
  const auth = config.github.auth;
  return {
    github: {
      url: config.github.url,
      ...(auth.kind === 'pat'
        ? { token: REDACTED }
        : {
            app: {
              client_id: auth.clientId,
              installation_id: auth.installationId,
              private_key: REDACTED,
            },
          }),
      ...(config.github.caCertPath !== undefined && { ca_cert_path: config.github.caCertPath }),
    },
    scalesets: config.scaleSets.map((s) => ({
      name: s.name,
      labels: [...s.labels],
      runner_group: s.runnerGroup,
      min_runners: s.minRunners,
      max_runners: s.maxRunners,
      engine: redactedEngine(s.engine),
    })),
    redis: {
      url: redactUrl(config.redis.url),
      username: config.redis.username,
      password: config.redis.password === undefined ? undefined : REDACTED,
      prefix: config.redis.prefix,
      tls:
        config.redis.tls === undefined
          ? undefined
          : {
              enabled: true,
              reject_unauthorized: config.redis.tls.rejectUnauthorized,
              ca: config.redis.tls.ca === undefined ? undefined : '(from file)',
              cert: config.redis.tls.cert === undefined ? undefined : '(from file)',
              key: config.redis.tls.key === undefined ? undefined : REDACTED,
            },
    },
    logging: { ...config.logging },
    otel: { ...config.otel },
    prometheus: { ...config.prometheus },
    deployment: { ...config.deployment },
    listener: {
      lease_ttl: `${config.listener.leaseTtlMs}ms`,
      scale_down_grace: `${config.listener.scaleDownGraceMs}ms`,
      reevaluate_interval: `${config.listener.reevaluateIntervalMs}ms`,
      health_port: config.listener.healthPort,
      health_host: config.listener.healthHost,
      health_stale_after: `${config.listener.healthStaleAfterMs}ms`,
    },
    worker: {
      concurrency: config.worker.concurrency,
      start_attempts: config.worker.startAttempts,
      destroy_attempts: config.worker.destroyAttempts,
      shutdown_timeout: `${config.worker.shutdownTimeoutMs}ms`,
      job_lock: `${config.worker.jobLockMs}ms`,
      health_port: config.worker.healthPort,
      health_host: config.worker.healthHost,
    },
    reconcile: {
      interval: `${config.reconcile.intervalMs}ms`,
      orphan_grace: `${config.reconcile.orphanGraceMs}ms`,
      startup_timeout: `${config.reconcile.startupTimeoutMs}ms`,
      max_lifetime: `${config.reconcile.maxLifetimeMs}ms`,
    },
    ui: {
      enable: config.ui.enable,
      path: config.ui.path,
      username: config.ui.basic?.username,
      password: config.ui.basic === undefined ? undefined : REDACTED,
      token: config.ui.token === undefined ? undefined : REDACTED,
    },
  };
}

/** Replaces a password embedded in a URL (`redis://:secret@host`) with {@link REDACTED}. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') {
      u.password = REDACTED;
    }
    return u.toString();
  } catch {
    return REDACTED;
  }
}

function redactedEngine(engine: EngineConfig): Record<string, unknown> {
  switch (engine.kind) {
    case 'docker': {
      const d = engine.docker;
      return {
        docker: {
          enable: true,
          image: d.image,
          dind: d.dind,
          pull_policy: d.pullPolicy,
          network: d.network,
          cpus: d.cpus,
          memory: d.memory,
          // Runner env values may be credentials for the job's tools.
          env: Object.fromEntries(Object.keys(d.env).map((k) => [k, REDACTED])),
          labels: { ...d.labels },
          volumes: [...d.volumes],
          docker_host: d.dockerHost,
          privileged: d.privileged,
          command: d.command ? [...d.command] : undefined,
        },
      };
    }
    case 'gcp': {
      const g = engine.gcp;
      return {
        gcp: {
          enable: true,
          project: g.project,
          zone: g.zones[0],
          zones: [...g.zones],
          image: g.image,
          machine_type: g.machineType,
          disk_size_gb: g.diskSizeGb,
          disk_type: g.diskType,
          network: g.network,
          subnet: g.subnet,
          public_ip: g.publicIp,
          service_account: g.serviceAccount,
          scopes: [...g.scopes],
          labels: { ...g.labels },
          tags: [...g.tags],
          provisioning_model: g.provisioningModel,
          // Metadata values and the startup script may carry credentials.
          metadata: Object.fromEntries(Object.keys(g.metadata).map((k) => [k, REDACTED])),
          startup_script: g.startupScript === undefined ? undefined : REDACTED,
          api_endpoint: g.apiEndpoint,
          operation_timeout: `${g.operationTimeoutMs}ms`,
        },
      };
    }
    case 'simulated': {
      const m = engine.simulated;
      return {
        simulated: {
          enable: true,
          start_latency: `${m.startLatencyMs}ms`,
          destroy_latency: `${m.destroyLatencyMs}ms`,
          jitter: m.jitter,
          failure_rate: m.failureRate,
          capacity: m.capacity,
          runner: m.runner,
          runner_lifetime: `${m.runnerLifetimeMs}ms`,
        },
      };
    }
  }
}

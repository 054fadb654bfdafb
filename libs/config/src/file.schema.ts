import { z } from 'zod';

// The configuration file's schema: the YAML format of the original Go tool (snake_case keys)
// plus what a distributed deployment needs. Every object is strict, so a typo in a key is an
// error that names the key instead of a silently ignored setting.

/** Default runner image, as in the original tool. */
export const DEFAULT_DOCKER_IMAGE = 'ghcr.io/actions/actions-runner:latest';
/** Default runner group (GitHub's built-in group; id 1). */
export const DEFAULT_RUNNER_GROUP = 'Default';

const nonEmpty = (what: string) =>
  z
    .string()
    .trim()
    .min(1, { error: `${what} must not be empty` });

const port = z
  .int({ error: 'must be an integer port number' })
  .min(1, { error: 'must be between 1 and 65535' })
  .max(65535, { error: 'must be between 1 and 65535' });

const nonNegativeInt = z
  .int({ error: 'must be a whole number' })
  .min(0, { error: 'must be 0 or more' })
  .max(100_000, { error: 'must be at most 100000' });

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** A duration: `500ms`, `30s`, `10m`, `1h`, or a plain number of seconds. Parsed to milliseconds. */
const duration = z
  .union([z.number(), z.string()], { error: 'must be a duration such as 500ms, 30s, 10m or 1h' })
  .transform((value, ctx) => {
    if (typeof value === 'number') {
      if (value < 0 || !Number.isFinite(value)) {
        ctx.addIssue({ code: 'custom', message: 'must be 0 or more seconds' });
        return z.NEVER;
      }
      return Math.round(value * 1000);
    }
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
    if (m === null) {
      ctx.addIssue({ code: 'custom', message: 'must be a duration such as 500ms, 30s, 10m or 1h' });
      return z.NEVER;
    }
    return Math.round(Number(m[1]) * (DURATION_UNITS[m[2] ?? 's'] ?? 1000));
  });

const labelList = z.array(nonEmpty('a label'), { error: 'must be a list of label names' });

const stringMap = z.record(z.string(), z.string(), {
  error: 'must be a map of string keys to string values',
});

export const githubAppSchema = z.strictObject({
  client_id: z.string().optional().describe('GitHub App client ID (or numeric App ID).'),
  installation_id: z
    .int({ error: 'must be a whole number' })
    .min(0, { error: 'must be a positive number' })
    .optional()
    .describe('Installation ID of the App on the organization, repository or enterprise.'),
  private_key: z.string().optional().describe('PEM private key, inline. Prefer private_key_path.'),
  private_key_path: z.string().optional().describe('Path to the PEM private key file.'),
});

export const githubSchema = z.strictObject({
  url: z
    .string({ error: 'is required: the repository, organization or enterprise URL' })
    .describe(
      'Registration target: https://github.com/<org>, https://github.com/<org>/<repo> or https://github.com/enterprises/<enterprise> (or the same on GHE.com / GitHub Enterprise Server).',
    ),
  token: z
    .string()
    .optional()
    .describe('Personal access token. Prefer token_file or SCALESET_GITHUB_TOKEN.'),
  token_file: z.string().optional().describe('Path to a file holding the personal access token.'),
  app: githubAppSchema.optional().describe('GitHub App credentials (recommended over a PAT).'),
  ca_cert_path: z
    .string()
    .optional()
    .describe('PEM bundle of extra CAs trusted for GitHub/GHES and HTTPS proxies.'),
});

export const dockerEngineSchema = z.strictObject({
  enable: z.boolean({ error: 'must be true or false' }).optional(),
  image: nonEmpty('image').default(DEFAULT_DOCKER_IMAGE),
  dind: z
    .boolean({ error: 'must be true or false' })
    .default(false)
    .describe('Bind-mount the host Docker socket into runners. Gives jobs root on the host.'),
  pull_policy: z
    .enum(['always', 'if-not-present', 'never'], {
      error: 'must be one of: always, if-not-present, never',
    })
    .default('if-not-present'),
  network: z
    .string()
    .optional()
    .describe('Docker network for runners, e.g. host or a named network.'),
  cpus: z
    .number({ error: 'must be a number' })
    .positive({ error: 'must be more than 0' })
    .optional(),
  memory: z
    .string()
    .regex(/^\d+(\.\d+)?\s*([kmgt]i?b?)?$/i, { error: 'must look like 512m, 2g or a byte count' })
    .optional(),
  env: stringMap.optional().describe('Extra environment variables for runner containers.'),
  labels: stringMap.optional().describe('Extra Docker labels for runner containers.'),
  volumes: z
    .array(nonEmpty('a volume'), { error: 'must be a list of host:container[:ro]' })
    .optional(),
  docker_host: z
    .string()
    .optional()
    .describe('Docker daemon address; default: DOCKER_HOST or the local socket.'),
  privileged: z.boolean({ error: 'must be true or false' }).default(false),
  command: z
    .array(z.string(), { error: 'must be a list of strings' })
    .optional()
    .describe("Runner command; default /home/runner/run.sh. An empty list uses the image's own."),
});

// GCP label rules: keys start with a lowercase letter; keys and values are at most 63
// characters of lowercase letters, digits, "_" and "-".
const gcpLabelMap = z
  .record(
    z.string(),
    z.string().regex(/^[a-z0-9_-]{0,63}$/, {
      error: 'label values may hold at most 63 lowercase letters, digits, "_" or "-"',
    }),
    { error: 'must be a map of GCP labels' },
  )
  .superRefine((labels, ctx) => {
    for (const key of Object.keys(labels)) {
      if (!/^[a-z][a-z0-9_-]{0,62}$/.test(key)) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message:
            'label keys must start with a lowercase letter and hold at most 63 lowercase letters, digits, "_" or "-"',
        });
      }
    }
    if (Object.keys(labels).length > 48) {
      ctx.addIssue({
        code: 'custom',
        message: 'at most 48 labels (GCP allows 64; scaleset keeps some for its own)',
      });
    }
  });

const gcpZone = z.string().regex(/^[a-z]+-[a-z]+\d+-[a-z]$/, {
  error: 'must be a zone name such as us-central1-a',
});

export const gcpEngineSchema = z.strictObject({
  enable: z.boolean({ error: 'must be true or false' }).optional(),
  project: z
    .string()
    .regex(/^(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/, {
      error: 'must be a project id such as my-project-123 (6-30 lowercase letters, digits, "-")',
    })
    .optional()
    .describe('Project id the runner VMs are created in.'),
  zone: gcpZone.optional().describe('Zone of the runner VMs (the first zone tried).'),
  zones: z
    .array(gcpZone, { error: 'must be a list of zone names' })
    .optional()
    .describe('Ordered fallback zones tried after `zone` when a zone is out of capacity or quota.'),
  image: z
    .string()
    .optional()
    .describe(
      'Boot image: a self-link, projects/<p>/global/images/<name> or .../images/family/<family>.',
    ),
  machine_type: nonEmpty('machine_type').default('e2-medium'),
  disk_size_gb: z
    .int({ error: 'must be a whole number' })
    .min(10, { error: 'must be at least 10' })
    .default(50),
  disk_type: nonEmpty('disk_type')
    .default('pd-balanced')
    .describe('Boot disk type: pd-standard, pd-balanced, pd-ssd, hyperdisk-balanced, ...'),
  network: nonEmpty('network').default('default'),
  subnet: z
    .string()
    .optional()
    .describe('Subnetwork name or self-link (needed for custom-mode VPCs).'),
  public_ip: z.boolean({ error: 'must be true or false' }).default(true),
  service_account: z
    .string()
    .optional()
    .describe('Service account email of the runner VMs; none when unset.'),
  scopes: z
    .array(nonEmpty('a scope'), { error: 'must be a list of OAuth scopes' })
    .default(['https://www.googleapis.com/auth/cloud-platform'])
    .describe('OAuth scopes of the service account (IAM roles do the real limiting).'),
  labels: gcpLabelMap.optional().describe('Extra labels for runner VMs (GCP label rules).'),
  tags: z
    .array(
      z.string().regex(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/, {
        error: 'network tags are 1-63 lowercase letters, digits or "-", starting with a letter',
      }),
      { error: 'must be a list of network tags' },
    )
    .optional()
    .describe('Network tags (firewall rules select VMs by these).'),
  spot: z
    .boolean({ error: 'must be true or false' })
    .optional()
    .describe('Spot VMs (cheaper, can be preempted); same as provisioning_model: SPOT.'),
  provisioning_model: z
    .enum(['STANDARD', 'SPOT'], { error: 'must be STANDARD or SPOT' })
    .optional(),
  metadata: stringMap
    .optional()
    .describe(
      'Extra instance metadata; keys used by scaleset (startup-script, scaleset-*) are refused.',
    ),
  startup_script: z
    .string()
    .optional()
    .describe(
      "Hook run by scaleset's startup script with ACTIONS_RUNNER_INPUT_JITCONFIG set, instead of /home/runner/run.sh as user runner (see docs/gcp).",
    ),
  api_endpoint: z
    .string()
    .optional()
    .describe('Compute Engine API endpoint, for Private Service Connect or a local fake.'),
  operation_timeout: duration
    .prefault('5m')
    .describe('How long to wait for one insert or delete operation to finish.'),
});

export const simulatedEngineSchema = z.strictObject({
  enable: z.boolean({ error: 'must be true or false' }).optional(),
  start_latency: duration.prefault(0).describe('Time one start takes.'),
  destroy_latency: duration.prefault(0).describe('Time one destroy takes.'),
  jitter: z
    .number({ error: 'must be a number' })
    .min(0, { error: 'must be between 0 and 1' })
    .max(1, { error: 'must be between 0 and 1' })
    .default(0)
    .describe('Each latency varies uniformly by up to this fraction (0.2 = ±20 %).'),
  failure_rate: z
    .number({ error: 'must be a number' })
    .min(0, { error: 'must be between 0 and 1' })
    .max(1, { error: 'must be between 0 and 1' })
    .default(0)
    .describe('Fraction of starts that fail with a retryable error.'),
  capacity: z
    .int({ error: 'must be a whole number' })
    .min(0, { error: 'must be 0 or more' })
    .default(0)
    .describe(
      'Most simulated instances alive at once; a start beyond it fails as a stockout (0 = no limit).',
    ),
  runner: z
    .enum(['fake', 'none'], { error: 'must be fake or none' })
    .default('fake')
    .describe(
      'fake: each instance runs an in-process fake runner against the fake GitHub service named in its JIT config; none: instances only exist (dry runs).',
    ),
  runner_lifetime: duration
    .prefault(0)
    .describe('With runner: none, an instance exits after this long (0 = never).'),
});

export const awsEngineSchema = z.strictObject({
  enable: z.boolean({ error: 'must be true or false' }).optional(),
  region: z.string().optional(),
  image: z.string().optional(),
  instance_type: z.string().optional(),
  disk_size_gb: z
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' })
    .optional(),
});

export const azureEngineSchema = z.strictObject({
  enable: z.boolean({ error: 'must be true or false' }).optional(),
  subscription_id: z.string().optional(),
  resource_group: z.string().optional(),
  image: z.string().optional(),
  vm_size: z.string().optional(),
  disk_size_gb: z
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' })
    .optional(),
});

export const engineSchema = z.strictObject({
  type: z
    .enum(['docker', 'gcp', 'aws', 'azure', 'ec2', 'simulated'], {
      error: 'must be one of: docker, gcp, aws, azure, simulated',
    })
    .optional()
    .describe('Legacy selector of the original tool; prefer <engine>.enable.'),
  docker: dockerEngineSchema.optional(),
  gcp: gcpEngineSchema.optional(),
  aws: awsEngineSchema.optional(),
  azure: azureEngineSchema.optional(),
  simulated: simulatedEngineSchema
    .optional()
    .describe('Simulated compute for dry runs, capacity planning and benchmarks.'),
});

export const scaleSetSchema = z.strictObject({
  name: z
    .string({ error: 'is required' })
    .trim()
    .min(1, { error: 'is required' })
    .max(45, { error: 'must be at most 45 characters' })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
      error: 'may contain letters, digits, ".", "_" and "-", starting with a letter or digit',
    }),
  labels: labelList.default([]),
  runner_group: nonEmpty('runner_group').default(DEFAULT_RUNNER_GROUP),
  min_runners: nonNegativeInt.default(0),
  max_runners: nonNegativeInt.default(10),
  engine: engineSchema
    .optional()
    .describe('Engine of this scale set; defaults to the top-level engine.'),
});

export const redisSchema = z.strictObject({
  url: z
    .string()
    .regex(/^rediss?:\/\/[^\s]+$/, { error: 'must be a redis:// or rediss:// URL' })
    .default('redis://127.0.0.1:6379'),
  username: z.string().optional(),
  password: z.string().optional().describe('Prefer password_file or SCALESET_REDIS_PASSWORD.'),
  password_file: z.string().optional(),
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, { error: 'must be 1-32 letters, digits, "_" or "-"' })
    .default('scaleset'),
  tls: z
    .strictObject({
      enabled: z.boolean({ error: 'must be true or false' }).default(false),
      ca_path: z.string().optional(),
      cert_path: z.string().optional(),
      key_path: z.string().optional(),
      reject_unauthorized: z.boolean({ error: 'must be true or false' }).default(true),
    })
    .optional(),
});

export const loggingSchema = z.strictObject({
  level: z
    .enum(['debug', 'info', 'warn', 'error'], { error: 'must be one of: debug, info, warn, error' })
    .default('info'),
  format: z.enum(['text', 'json'], { error: 'must be one of: text, json' }).default('text'),
});

export const otelSchema = z.strictObject({
  enabled: z.boolean({ error: 'must be true or false' }).default(false),
  endpoint: z.string().optional().describe('OTLP/HTTP endpoint, e.g. localhost:4318'),
  insecure: z.boolean({ error: 'must be true or false' }).default(false),
  stdout: z.boolean({ error: 'must be true or false' }).default(false),
});

export const prometheusSchema = z.strictObject({
  enable: z.boolean({ error: 'must be true or false' }).default(false),
  port: port.default(9090),
});

export const deploymentSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,30}$/, {
      error: 'must be 1-31 lower-case letters, digits or "-", starting with a letter or digit',
    })
    .optional()
    .describe(
      'Owner label put on every runner resource; default: derived from github.url and redis.url/prefix.',
    ),
});

export const listenerSchema = z.strictObject({
  lease_ttl: duration
    .prefault(15)
    .describe('Lease of a scale set; a standby takes over this long after a leader dies.'),
  scale_down_grace: duration
    .prefault(60)
    .describe('Idle runners beyond the desired count are destroyed after this long.'),
  reevaluate_interval: duration
    .prefault(15)
    .describe('Re-evaluation of the last statistics when no message arrives.'),
  health_port: z
    .int({ error: 'must be an integer port number' })
    .min(0, { error: 'must be between 0 (off) and 65535' })
    .max(65535, { error: 'must be between 0 (off) and 65535' })
    .default(8080)
    .describe('HTTP port of /healthz and /readyz (0 = off); Bull Board (ui) is served here too.'),
  health_host: nonEmpty('health_host')
    .default('0.0.0.0')
    .describe(
      'Address the health (and ui) HTTP server binds to; 127.0.0.1 or ::1 keeps it on loopback.',
    ),
  health_stale_after: duration
    .prefault(180)
    .describe('Liveness fails when the poll loop has not completed a cycle for this long.'),
});

export const workerSchema = z.strictObject({
  concurrency: z
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' })
    .max(1000, { error: 'must be at most 1000' })
    .default(4)
    .describe('Start/destroy jobs run in parallel by one worker process.'),
  start_attempts: z
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' })
    .default(5),
  destroy_attempts: z
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' })
    .default(10),
  shutdown_timeout: duration
    .prefault(30)
    .describe('How long in-flight jobs may finish on SIGTERM.'),
  job_lock: duration
    .prefault(30)
    .refine((ms) => ms >= 1000, { error: 'must be at least 1s' })
    .describe(
      'Lock on a running job (renewed at half this); a job of a worker that died is handed to another worker within about twice this.',
    ),
  health_port: z
    .int({ error: 'must be an integer port number' })
    .min(0, { error: 'must be between 0 (off) and 65535' })
    .max(65535, { error: 'must be between 0 (off) and 65535' })
    .default(0)
    .describe(
      'HTTP port of the worker /healthz and /readyz, e.g. 8081 (0 = off, the default: several workers may share a host).',
    ),
  health_host: nonEmpty('health_host')
    .default('0.0.0.0')
    .describe(
      'Address the worker health HTTP server binds to; 127.0.0.1 or ::1 keeps it on loopback.',
    ),
});

export const reconcileSchema = z.strictObject({
  interval: duration.prefault(60).describe('Period of the reconcile job of each scale set.'),
  orphan_grace: duration
    .prefault(120)
    .describe('Age before an unknown container or registration is treated as orphaned.'),
  startup_timeout: duration
    .prefault(600)
    .describe('A runner not online and idle by then is destroyed and replaced.'),
  max_lifetime: duration
    .prefault(0)
    .describe('Runners alive longer are destroyed unless busy (0 = off).'),
});

export const uiSchema = z.strictObject({
  enable: z
    .boolean({ error: 'must be true or false' })
    .default(false)
    .describe('Serve Bull Board (the queues dashboard) on the listener health port.'),
  path: z
    .string()
    .regex(/^(\/[A-Za-z0-9._~-]+)+$/, {
      error: 'must be a URL path such as /ui (letters, digits, ".", "_", "~", "-")',
    })
    .refine((p) => !/^\/(healthz|readyz|metrics)(\/|$)/i.test(p), {
      error: 'must not overlap /healthz, /readyz or /metrics',
    })
    .default('/ui')
    .describe('URL path of Bull Board.'),
  username: z.string().optional().describe('Basic auth user name (with password).'),
  password: z.string().optional().describe('Basic auth password. Prefer SCALESET_UI_PASSWORD.'),
  token: z
    .string()
    .optional()
    .describe('Bearer token accepted instead of basic auth. Prefer SCALESET_UI_TOKEN.'),
});

/** The whole configuration file. */
export const configFileSchema = z.strictObject({
  github: githubSchema,
  scaleset: scaleSetSchema.optional().describe('A single scale set (the original format).'),
  scalesets: z
    .array(scaleSetSchema, { error: 'must be a list of scale sets' })
    .min(1, { error: 'must list at least one scale set' })
    .optional()
    .describe('Several scale sets served by one deployment.'),
  engine: engineSchema.optional(),
  redis: redisSchema.prefault({}),
  logging: loggingSchema.prefault({}),
  otel: otelSchema.prefault({}),
  prometheus: prometheusSchema.prefault({}),
  deployment: deploymentSchema.prefault({}),
  listener: listenerSchema.prefault({}),
  worker: workerSchema.prefault({}),
  reconcile: reconcileSchema.prefault({}),
  ui: uiSchema.prefault({}),
});

/** The configuration file after defaults are applied. */
export type ConfigFile = z.output<typeof configFileSchema>;
/** The configuration file as written by a user. */
export type ConfigFileInput = z.input<typeof configFileSchema>;

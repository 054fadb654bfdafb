import { TelemetryAttributes as A, type TelemetryAttribute } from './telemetry.attributes';

/**
 * - `counter`: only goes up (`add`).
 * - `histogram`: a distribution of recorded values (`record`).
 * - `gauge`: a value set by the process that knows it (`set`).
 * - `observed`: a gauge read at collection time (a Prometheus scrape or an OTLP export) by the
 *   collectors registered with {@link Meter.addCollector}, e.g. from Redis, so every replica
 *   reports the same truth.
 */
export type MetricKind = 'counter' | 'histogram' | 'gauge' | 'observed';

/** One metric: its OpenTelemetry name, kind, unit, help text and the labels it may carry. */
export interface MetricDefinition {
  /** OpenTelemetry instrument name (dotted); the Prometheus name derives from it. */
  readonly name: string;
  readonly kind: MetricKind;
  /** UCUM unit: `1` (a count) or `s` (seconds). */
  readonly unit: '1' | 's';
  readonly description: string;
  readonly labels: readonly TelemetryAttribute[];
  /** Histogram bucket boundaries (seconds). */
  readonly buckets?: readonly number[];
}

/** Buckets of the original tool's startup histogram (seconds). */
const STARTUP_BUCKETS = [1, 5, 10, 30, 60, 120, 300] as const;
/** Buckets of remote calls (seconds): a Docker start is ~0.3 s, a VM start is minutes. */
const CALL_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300] as const;

/**
 * Every metric scaleset exports, in one place. The first seven are the original Go tool's
 * (same names, same meaning); the rest are new. Prometheus names: dots become underscores,
 * histograms in seconds get `_seconds`, counters `_total` ({@link prometheusName}).
 */
export const METRICS = {
  runnersIdle: {
    name: 'scaleset.runners.idle',
    kind: 'observed',
    unit: '1',
    description: 'Current number of idle runners (from the Redis registry)',
    labels: [A.labelScaleSet],
  },
  runnersBusy: {
    name: 'scaleset.runners.busy',
    kind: 'observed',
    unit: '1',
    description: 'Current number of busy runners (from the Redis registry)',
    labels: [A.labelScaleSet],
  },
  runnersStarted: {
    name: 'scaleset.runners.started',
    kind: 'counter',
    unit: '1',
    description: 'Total number of runners started (compute up, runner idle)',
    labels: [A.labelScaleSet],
  },
  runnersDestroyed: {
    name: 'scaleset.runners.destroyed',
    kind: 'counter',
    unit: '1',
    description: 'Total number of runners destroyed (compute and registration removed)',
    labels: [A.labelScaleSet, A.labelReason],
  },
  jobsCompleted: {
    name: 'scaleset.jobs.completed',
    kind: 'counter',
    unit: '1',
    description: 'Total number of jobs completed, by result',
    labels: [A.labelScaleSet, A.labelResult],
  },
  scaleEvents: {
    name: 'scaleset.scale.events',
    kind: 'counter',
    unit: '1',
    description: 'Total number of scaling decisions, by action (up, down, none)',
    labels: [A.labelScaleSet, A.labelAction],
  },
  runnerStartupDuration: {
    name: 'scaleset.runner.startup.duration',
    kind: 'histogram',
    unit: 's',
    description: 'Time from reservation to an idle runner (seconds)',
    labels: [A.labelScaleSet],
    buckets: STARTUP_BUCKETS,
  },

  runners: {
    name: 'scaleset.runners',
    kind: 'observed',
    unit: '1',
    description: 'Runners per registry state (from the Redis registry)',
    labels: [A.labelScaleSet, A.labelState],
  },
  runnersMax: {
    name: 'scaleset.runners.max',
    kind: 'observed',
    unit: '1',
    description: 'Configured maximum number of runners',
    labels: [A.labelScaleSet],
  },
  runnersDesired: {
    name: 'scaleset.runners.desired',
    kind: 'gauge',
    unit: '1',
    description: 'Desired number of runners at the last decision of the lease holder',
    labels: [A.labelScaleSet],
  },
  queueDepth: {
    name: 'scaleset.queue.depth',
    kind: 'observed',
    unit: '1',
    description: 'Jobs waiting in a queue (waiting, prioritized and delayed)',
    labels: [A.labelQueue],
  },
  queueActive: {
    name: 'scaleset.queue.active',
    kind: 'observed',
    unit: '1',
    description: 'Jobs being processed',
    labels: [A.labelQueue],
  },
  queueFailed: {
    name: 'scaleset.queue.failed',
    kind: 'observed',
    unit: '1',
    description: 'Failed jobs kept in a queue',
    labels: [A.labelQueue],
  },
  engineCallDuration: {
    name: 'scaleset.engine.call.duration',
    kind: 'histogram',
    unit: 's',
    description: 'Duration of compute engine calls (seconds)',
    labels: [A.labelEngine, A.labelOperation],
    buckets: CALL_BUCKETS,
  },
  engineCallErrors: {
    name: 'scaleset.engine.call.errors',
    kind: 'counter',
    unit: '1',
    description: 'Failed compute engine calls, by error code',
    labels: [A.labelEngine, A.labelOperation, A.labelCode],
  },
  githubRequests: {
    name: 'scaleset.github.requests',
    kind: 'counter',
    unit: '1',
    description: 'GitHub API calls (after retries), by endpoint and status',
    labels: [A.labelMethod, A.labelEndpoint, A.labelStatus],
  },
  githubRequestErrors: {
    name: 'scaleset.github.request.errors',
    kind: 'counter',
    unit: '1',
    description: 'GitHub API calls that failed (4xx, 5xx or no response), by endpoint and status',
    labels: [A.labelMethod, A.labelEndpoint, A.labelStatus],
  },
  githubRequestDuration: {
    name: 'scaleset.github.request.duration',
    kind: 'histogram',
    unit: 's',
    description: 'Duration of GitHub API calls including retries (seconds)',
    labels: [A.labelMethod, A.labelEndpoint],
    buckets: CALL_BUCKETS,
  },
  githubRateLimitRemaining: {
    name: 'scaleset.github.ratelimit.remaining',
    kind: 'gauge',
    unit: '1',
    description: 'Requests left in the current GitHub rate limit window (x-ratelimit-remaining)',
    labels: [A.labelResource],
  },
  reconcileActions: {
    name: 'scaleset.reconcile.actions',
    kind: 'counter',
    unit: '1',
    description: 'Repairs made by the reconciler, by rule',
    labels: [A.labelScaleSet, A.labelReason],
  },
  leaseHolder: {
    name: 'scaleset.lease.holder',
    kind: 'gauge',
    unit: '1',
    description: '1 while this replica holds the scale set lease (leads), else 0',
    labels: [A.labelScaleSet],
  },
  leaseAcquired: {
    name: 'scaleset.lease.acquired',
    kind: 'counter',
    unit: '1',
    description: 'Times this replica gained leadership of the scale set (failovers and restarts)',
    labels: [A.labelScaleSet],
  },
  leaseEpoch: {
    name: 'scaleset.lease.epoch',
    kind: 'gauge',
    unit: '1',
    description: 'Lease epoch (fencing token) of the leadership this replica last held',
    labels: [A.labelScaleSet],
  },
} as const satisfies Record<string, MetricDefinition>;

/** A metric of {@link METRICS}. */
export type MetricKey = keyof typeof METRICS;

type KeysOfKind<K extends MetricKind> = {
  [M in MetricKey]: (typeof METRICS)[M]['kind'] extends K ? M : never;
}[MetricKey];

/** Metrics that `add`. */
export type CounterKey = KeysOfKind<'counter'>;
/** Metrics that `record`. */
export type HistogramKey = KeysOfKind<'histogram'>;
/** Metrics that `set`. */
export type GaugeKey = KeysOfKind<'gauge'>;
/** Metrics reported by collectors. */
export type ObservedKey = KeysOfKind<'observed'>;

/** The Prometheus name of a metric: `scaleset.runners.started` → `scaleset_runners_started_total`. */
export function prometheusName(definition: MetricDefinition): string {
  let name = definition.name.replace(/[^a-zA-Z0-9_]/g, '_');
  if (definition.unit === 's' && !name.endsWith('_seconds')) {
    name += '_seconds';
  }
  if (definition.kind === 'counter') {
    name += '_total';
  }
  return name;
}

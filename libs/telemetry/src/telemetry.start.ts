import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import {
  defaultResource,
  hostDetector,
  osDetector,
  resourceAttributesEnvDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
  serviceNameEnvDetector,
} from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  ConsoleMetricExporter,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { OtelConfig, PrometheusConfig } from '@app/config';
import type { Logger } from './logger';
import { FanOutMeter, OtelMeter, OtelTracer } from './otel.telemetry';
import { PrometheusMeter, serveMetrics, type MetricsServer } from './prometheus.meter';
import { NOOP_TELEMETRY, Telemetry, type Meter, type Tracer } from './telemetry';

/** Which scaleset role a process runs; recorded as the `scaleset.role` resource attribute. */
export type TelemetryRole = 'all' | 'listener' | 'worker';

/** Options of {@link startTelemetry}. */
export interface StartTelemetryOptions {
  readonly role: TelemetryRole;
  /** Receives one line about what was started (never a header or credential). */
  readonly logger?: Pick<Logger, 'info' | 'warn'>;
  /** `OTEL_*` variables; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Interface `/metrics` binds to; default all interfaces. */
  readonly metricsHost?: string;
  /** `service.version`. */
  readonly version?: string;
  /**
   * Builds the OTLP exporters from the signal's URL (`undefined`: from `OTEL_EXPORTER_OTLP_*`).
   * Default: the OTLP/HTTP JSON exporters. Tests replace them: jest's module sandbox cannot run
   * the exporters' lazy `import('http')`.
   */
  readonly otlpExporters?: OtlpExporterFactories;
}

/** See {@link StartTelemetryOptions.otlpExporters}. */
export interface OtlpExporterFactories {
  spans(url: string | undefined): SpanExporter;
  metrics(url: string | undefined): PushMetricExporter;
}

/** OTLP/HTTP with protobuf bodies: the default of the specification and of collectors. */
const OTLP_PROTOBUF_EXPORTERS: OtlpExporterFactories = {
  spans: (url) => new ProtoTraceExporter(url === undefined ? {} : { url }),
  metrics: (url) => new ProtoMetricExporter(url === undefined ? {} : { url }),
};

/** OTLP/HTTP with JSON bodies (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`). */
const OTLP_JSON_EXPORTERS: OtlpExporterFactories = {
  spans: (url) => new JsonTraceExporter(url === undefined ? {} : { url }),
  metrics: (url) => new JsonMetricExporter(url === undefined ? {} : { url }),
};

/**
 * The OTLP/HTTP encoding from `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` (default) or
 * `http/json`. `grpc` is not bundled; it falls back to `http/protobuf` with a warning.
 */
export function otlpProtocol(
  env: Readonly<Record<string, string | undefined>>,
): 'http/protobuf' | 'http/json' | { readonly unsupported: string } {
  const value = env['OTEL_EXPORTER_OTLP_PROTOCOL']?.trim().toLowerCase() ?? '';
  if (value === '' || value === 'http/protobuf') {
    return 'http/protobuf';
  }
  if (value === 'http/json') {
    return 'http/json';
  }
  return { unsupported: value };
}

/** What {@link startTelemetry} started. */
export interface TelemetryHandle {
  /** Hand this to the apps; {@link NOOP_TELEMETRY} when both exports are off. */
  readonly telemetry: Telemetry;
  /** The port `/metrics` listens on, when Prometheus is enabled. */
  readonly metricsPort: number | undefined;
  /** Whether OTLP (or console) export runs. */
  readonly otlp: boolean;
  /** Flushes pending spans and metrics, stops the exporters and `/metrics`. Idempotent. */
  shutdown(): Promise<void>;
}

class ConfiguredTelemetry extends Telemetry {
  constructor(
    readonly tracer: Tracer,
    readonly meter: Meter,
  ) {
    super();
  }
}

/**
 * The OTLP/HTTP base URL from `otel.endpoint`: the original tool's `host:port` form gets
 * `http://` when `insecure`, else `https://`; a full URL is taken as it is.
 */
export function otlpBaseUrl(otel: Pick<OtelConfig, 'endpoint' | 'insecure'>): string | undefined {
  const endpoint = otel.endpoint?.trim();
  if (endpoint === undefined || endpoint === '') {
    return undefined;
  }
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)
    ? endpoint
    : `${otel.insecure ? 'http' : 'https'}://${endpoint}`;
  return withScheme.replace(/\/+$/, '');
}

function envNumber(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') {
    return undefined;
  }
  const value = Number(raw);
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

function defined<T extends object>(values: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

/**
 * Starts telemetry once per process, from the `otel` and `prometheus` sections (the original
 * tool's four combinations):
 *
 * | `otel.enabled` | `prometheus.enable` | result                                   |
 * | -------------- | ------------------- | ---------------------------------------- |
 * | false          | false               | nothing (no-op telemetry)                 |
 * | false          | true                | `/metrics` on `prometheus.port`, no traces |
 * | true           | false               | OTLP traces and metrics, no `/metrics`    |
 * | true           | true                | both                                      |
 *
 * OTLP goes over HTTP (protobuf bodies, or JSON with `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) to
 * `otel.endpoint` (`/v1/traces`, `/v1/metrics`), or to
 * `OTEL_EXPORTER_OTLP_ENDPOINT` when no endpoint is configured; `otel.stdout` adds console
 * exporters. The exporters read the other standard `OTEL_*` variables (headers, timeout), and
 * `OTEL_SDK_DISABLED`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`,
 * `OTEL_BSP_*` and `OTEL_METRIC_EXPORT_INTERVAL` are honoured. In the all-in-one process the
 * listener and the worker share the returned telemetry: one registry, one port.
 */
export async function startTelemetry(
  config: { readonly otel: OtelConfig; readonly prometheus: PrometheusConfig },
  options: StartTelemetryOptions,
): Promise<TelemetryHandle> {
  const env = options.env ?? process.env;
  const meters: Meter[] = [];
  const stops: (() => Promise<void>)[] = [];
  let tracer: Tracer | undefined;
  let metricsPort: number | undefined;

  try {
    if (config.otel.enabled) {
      const otel = startOtel(config.otel, options, env);
      if (otel !== undefined) {
        tracer = otel.tracer;
        meters.push(otel.meter);
        stops.push(otel.shutdown);
      }
    }
    if (config.prometheus.enable) {
      const meter = new PrometheusMeter();
      const server: MetricsServer = await serveMetrics(meter, {
        port: config.prometheus.port,
        ...(options.metricsHost === undefined ? {} : { host: options.metricsHost }),
      });
      metricsPort = server.port;
      meters.push(meter);
      stops.push(() => server.close());
      options.logger?.info(
        { port: server.port },
        `Prometheus metrics on http://0.0.0.0:${server.port}/metrics`,
      );
    }
  } catch (err) {
    await Promise.allSettled(stops.map((stop) => stop()));
    throw err;
  }

  const [first] = meters;
  const telemetry =
    tracer === undefined && first === undefined
      ? NOOP_TELEMETRY
      : new ConfiguredTelemetry(
          tracer ?? NOOP_TELEMETRY.tracer,
          meters.length > 1 ? new FanOutMeter(meters) : (first ?? NOOP_TELEMETRY.meter),
        );
  let stopped: Promise<void> | undefined;
  return {
    telemetry,
    metricsPort,
    otlp: tracer !== undefined,
    shutdown: () =>
      (stopped ??= Promise.allSettled(stops.reverse().map((stop) => stop())).then(() => undefined)),
  };
}

function startOtel(
  otel: OtelConfig,
  options: StartTelemetryOptions,
  env: Readonly<Record<string, string | undefined>>,
): { tracer: Tracer; meter: Meter; shutdown: () => Promise<void> } | undefined {
  if (/^(true|1)$/i.test(env['OTEL_SDK_DISABLED']?.trim() ?? '')) {
    options.logger?.warn({}, 'OTEL_SDK_DISABLED is set: OpenTelemetry export stays off');
    return undefined;
  }
  const base = otlpBaseUrl(otel);
  const fromEnv =
    base === undefined &&
    [
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
      'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
    ].some((name) => (env[name]?.trim() ?? '') !== '');
  const protocol = otlpProtocol(env);
  if (typeof protocol !== 'string') {
    options.logger?.warn(
      { protocol: protocol.unsupported },
      'unsupported OTEL_EXPORTER_OTLP_PROTOCOL; using http/protobuf',
    );
  }
  const exporters =
    options.otlpExporters ??
    (protocol === 'http/json' ? OTLP_JSON_EXPORTERS : OTLP_PROTOBUF_EXPORTERS);
  const spanProcessors: SpanProcessor[] = [];
  const metricExporters: PushMetricExporter[] = [];
  if (base !== undefined || fromEnv) {
    spanProcessors.push(
      new BatchSpanProcessor({
        exporter: exporters.spans(base === undefined ? undefined : `${base}/v1/traces`),
        ...defined({
          scheduledDelayMillis: envNumber(env, 'OTEL_BSP_SCHEDULE_DELAY'),
          maxQueueSize: envNumber(env, 'OTEL_BSP_MAX_QUEUE_SIZE'),
          maxExportBatchSize: envNumber(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
          exportTimeoutMillis: envNumber(env, 'OTEL_BSP_EXPORT_TIMEOUT'),
        }),
      }),
    );
    metricExporters.push(exporters.metrics(base === undefined ? undefined : `${base}/v1/metrics`));
  }
  if (otel.stdout) {
    spanProcessors.push(new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }));
    metricExporters.push(new ConsoleMetricExporter());
  }
  const interval = envNumber(env, 'OTEL_METRIC_EXPORT_INTERVAL') ?? 60_000;
  const timeout = Math.min(envNumber(env, 'OTEL_METRIC_EXPORT_TIMEOUT') ?? 30_000, interval);
  const sdk = new NodeSDK({
    resource: defaultResource().merge(
      resourceFromAttributes({
        'service.name': 'scaleset',
        'scaleset.role': options.role,
        ...(options.version === undefined ? {} : { 'service.version': options.version }),
      }),
    ),
    // No processDetector: `process.command_args` would carry a `--token` flag.
    resourceDetectors: [
      serviceInstanceIdDetector,
      hostDetector,
      osDetector,
      resourceAttributesEnvDetector,
      serviceNameEnvDetector,
    ],
    textMapPropagator: new W3CTraceContextPropagator(),
    spanProcessors,
    metricReaders: metricExporters.map(
      (exporter) =>
        new PeriodicExportingMetricReader({
          exporter,
          exportIntervalMillis: interval,
          exportTimeoutMillis: timeout,
        }),
    ),
    // Logs stay with pino (stderr); no OTLP log export.
    logRecordProcessors: [],
  });
  sdk.start();
  options.logger?.info(
    {
      endpoint: base ?? (fromEnv ? 'OTEL_EXPORTER_OTLP_*' : undefined),
      protocol: typeof protocol === 'string' ? protocol : 'http/protobuf',
      stdout: otel.stdout,
    },
    'OpenTelemetry export started',
  );
  return {
    tracer: new OtelTracer(trace.getTracer('scaleset')),
    meter: new OtelMeter(metrics.getMeter('scaleset')),
    shutdown: async () => {
      try {
        await sdk.shutdown();
      } finally {
        // Frees the globals, so a later start in the same process (tests) registers again.
        trace.disable();
        metrics.disable();
        propagation.disable();
        context.disable();
      }
    },
  };
}

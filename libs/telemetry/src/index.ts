/**
 * Telemetry: the process logger (pino, secrets redacted) and its adapter for Nest, and traces
 * and metrics behind a small interface (style.md 17): {@link Telemetry} with a no-op default,
 * OpenTelemetry (OTLP/HTTP) and Prometheus (`/metrics`) behind it. See docs/telemetry.md.
 *
 * @packageDocumentation
 */
export { createLogger, REDACTED_LOG_PATHS, type Logger, type LoggingOptions } from './logger';
export { NestLogger } from './nest-logger';

/** The interface domain code uses, and its no-op default. */
export {
  NOOP_TELEMETRY,
  Telemetry,
  type ActiveSpan,
  type Collector,
  type Counter,
  type Gauge,
  type Histogram,
  type Meter,
  type Observe,
  type SpanOptions,
  type Tracer,
} from './telemetry';

/** Attribute and label names, in one `as const` object. */
export {
  TelemetryAttributes,
  type AttributeValue,
  type Attributes,
  type TelemetryAttribute,
} from './telemetry.attributes';

/** Every metric: names, kinds, units, labels; and the Prometheus naming rule. */
export {
  METRICS,
  prometheusName,
  type CounterKey,
  type GaugeKey,
  type HistogramKey,
  type MetricDefinition,
  type MetricKey,
  type MetricKind,
  type ObservedKey,
} from './metric.definitions';

/** W3C `traceparent` parsing and formatting. */
export { formatTraceParent, parseTraceParent, type TraceParent } from './traceparent';

/** Collectors, engine-call and GitHub-request instruments for scaleset's own sources. */
export {
  COLLECTOR_KEYS,
  RUNNER_STATE_NAMES,
  engineSpanName,
  githubRequestObserver,
  instrumentEngineCall,
  queueCollector,
  registerQueueCollectors,
  runnerStateCollector,
  type EngineOperation,
  type GitHubRequestEvent,
  type JobCountsSource,
  type RunnerCountsSource,
} from './scaleset.instruments';

/** The backends: OpenTelemetry and Prometheus, and the collector registry they share. */
export { FanOutMeter, OtelMeter, OtelTracer, errorType } from './otel.telemetry';
export { PrometheusMeter, serveMetrics, type MetricsServer } from './prometheus.meter';
export { CollectorRegistry, type CollectionSnapshot, type Observation } from './collector.registry';

/** Starting telemetry once per process from the `otel` and `prometheus` config sections. */
export {
  otlpBaseUrl,
  otlpProtocol,
  startTelemetry,
  type OtlpExporterFactories,
  type StartTelemetryOptions,
  type TelemetryHandle,
  type TelemetryRole,
} from './telemetry.start';

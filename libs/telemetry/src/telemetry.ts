import type { CounterKey, GaugeKey, HistogramKey, ObservedKey } from './metric.definitions';
import type { Attributes } from './telemetry.attributes';

/** A span in progress, handed to the function {@link Tracer.withSpan} runs. */
export interface ActiveSpan {
  /** Adds attributes (never secrets). */
  setAttributes(attributes: Attributes): void;
  /** Marks the span failed with the error's name and code (the message is not recorded). */
  recordError(err: unknown): void;
  /** This span's W3C `traceparent`, or `undefined` when it is not recorded (no-op telemetry). */
  traceparent(): string | undefined;
}

/** Options of {@link Tracer.withSpan}. */
export interface SpanOptions {
  /**
   * Continue the trace of this W3C `traceparent` (from a job payload). Malformed values are
   * ignored.
   */
  readonly traceparent?: string | undefined;
  /**
   * Without a (valid) `traceparent`, start a new trace instead of a child of the active span.
   * Job processors set it: a job belongs to the trace that enqueued it, or to its own.
   */
  readonly newTrace?: boolean;
  /** The span's role: `internal` (default), `producer`, `consumer`, `client`, `server`. */
  readonly kind?: 'internal' | 'producer' | 'consumer' | 'client' | 'server';
}

/** Traces, like bullmq's `Tracer` and OpenTelemetry's `startActiveSpan`, reduced to what we use. */
export interface Tracer {
  /**
   * Runs `fn` inside a new span that is active for everything `fn` awaits, ends it when `fn`
   * settles, and marks it failed (and rethrows) when `fn` throws.
   */
  withSpan<T>(
    name: string,
    attributes: Attributes,
    fn: (span: ActiveSpan) => Promise<T>,
    options?: SpanOptions,
  ): Promise<T>;
  /** The active span's `traceparent`, to put into a job payload; `undefined` when none. */
  traceparent(): string | undefined;
}

/** A monotonic counter. */
export interface Counter {
  add(value: number, attributes?: Attributes): void;
}

/** A distribution of values (seconds for durations). */
export interface Histogram {
  record(value: number, attributes?: Attributes): void;
}

/** A value the process sets. */
export interface Gauge {
  set(value: number, attributes?: Attributes): void;
}

/** Reports one value of an observed gauge during a collection. */
export type Observe = (metric: ObservedKey, value: number, attributes?: Attributes) => void;

/**
 * Reads current values (from Redis, queues…) at collection time and reports them with
 * `observe`. It may throw (Redis down): its values are then left out of that collection.
 */
export type Collector = (observe: Observe) => Promise<void>;

/** Metrics, like bullmq's `Meter`, with the metric names fixed in {@link METRICS}. */
export interface Meter {
  counter(metric: CounterKey): Counter;
  histogram(metric: HistogramKey): Histogram;
  gauge(metric: GaugeKey): Gauge;
  /**
   * Registers a collector of observed gauges. Collectors with the same `key` stand for the
   * same source (one scale set's registry, one queue): only the latest registered one runs,
   * so the listener and the worker in one process report a scale set once. Returns a function
   * that unregisters it.
   */
  addCollector(key: string, collect: Collector): () => void;
}

/**
 * What domain code sees of telemetry (style.md 17): a tracer and a meter. The abstract class is
 * also the Nest injection token (style.md 5). {@link NOOP_TELEMETRY} is the default wherever
 * telemetry is optional, so code never checks whether telemetry is on. No call ever throws.
 */
export abstract class Telemetry {
  abstract readonly tracer: Tracer;
  abstract readonly meter: Meter;
}

const NOOP_SPAN: ActiveSpan = Object.freeze({
  setAttributes: () => undefined,
  recordError: () => undefined,
  traceparent: () => undefined,
});

const NOOP_INSTRUMENT = Object.freeze({
  add: () => undefined,
  record: () => undefined,
  set: () => undefined,
});

class NoopTelemetry extends Telemetry {
  readonly tracer: Tracer = {
    withSpan: (_name, _attributes, fn) => fn(NOOP_SPAN),
    traceparent: () => undefined,
  };
  readonly meter: Meter = {
    counter: () => NOOP_INSTRUMENT,
    histogram: () => NOOP_INSTRUMENT,
    gauge: () => NOOP_INSTRUMENT,
    addCollector: () => () => undefined,
  };
}

/** Telemetry that records nothing: the default when neither OTLP nor Prometheus is enabled. */
export const NOOP_TELEMETRY: Telemetry = new NoopTelemetry();

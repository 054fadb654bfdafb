import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  isSpanContextValid,
  trace,
  type Attributes as OtelAttributes,
  type Context,
  type Meter as OtelMeterApi,
  type ObservableGauge,
  type Span,
  type Tracer as OtelTracerApi,
} from '@opentelemetry/api';
import { CollectorRegistry } from './collector.registry';
import {
  METRICS,
  type CounterKey,
  type GaugeKey,
  type HistogramKey,
  type MetricDefinition,
  type MetricKey,
  type ObservedKey,
} from './metric.definitions';
import { TelemetryAttributes, type Attributes } from './telemetry.attributes';
import type {
  ActiveSpan,
  Collector,
  Counter,
  Gauge,
  Histogram,
  Meter,
  SpanOptions,
  Tracer,
} from './telemetry';
import { formatTraceParent, parseTraceParent } from './traceparent';

const KINDS = {
  internal: SpanKind.INTERNAL,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
  client: SpanKind.CLIENT,
  server: SpanKind.SERVER,
} as const;

function otelAttributes(attributes: Attributes | undefined): OtelAttributes {
  const out: OtelAttributes = {};
  for (const [key, value] of Object.entries(attributes ?? {}) as [string, unknown][]) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      out[key] = value;
    }
  }
  return out;
}

/** The error's name and, when it has one, its code: never its message (it may carry data). */
export function errorType(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const { code, name } = err as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && code !== '') {
      return code;
    }
    if (typeof name === 'string' && name !== '') {
      return name;
    }
  }
  return 'Error';
}

function traceparentOf(span: Span | undefined): string | undefined {
  const sc = span?.spanContext();
  return sc !== undefined && isSpanContextValid(sc) ? formatTraceParent(sc) : undefined;
}

function wrap(span: Span): ActiveSpan {
  return {
    setAttributes: (attributes) => {
      span.setAttributes(otelAttributes(attributes));
    },
    recordError: (err) => {
      const type = errorType(err);
      span.setAttribute(TelemetryAttributes.errorCode, type);
      span.setStatus({ code: SpanStatusCode.ERROR, message: type });
    },
    traceparent: () => traceparentOf(span),
  };
}

/** A {@link Tracer} on an OpenTelemetry tracer. */
export class OtelTracer implements Tracer {
  constructor(private readonly tracer: OtelTracerApi) {}

  withSpan<T>(
    name: string,
    attributes: Attributes,
    fn: (span: ActiveSpan) => Promise<T>,
    options: SpanOptions = {},
  ): Promise<T> {
    return this.tracer.startActiveSpan(
      name,
      { attributes: otelAttributes(attributes), kind: KINDS[options.kind ?? 'internal'] },
      parentContext(options),
      async (span) => {
        const active = wrap(span);
        try {
          return await fn(active);
        } catch (err) {
          active.recordError(err);
          throw err;
        } finally {
          span.end();
        }
      },
    );
  }

  traceparent(): string | undefined {
    return traceparentOf(trace.getActiveSpan());
  }
}

function parentContext(options: SpanOptions): Context {
  const parent = parseTraceParent(options.traceparent);
  if (parent !== undefined) {
    return trace.setSpanContext(ROOT_CONTEXT, { ...parent, isRemote: true });
  }
  return options.newTrace === true ? ROOT_CONTEXT : context.active();
}

/**
 * A {@link Meter} on an OpenTelemetry meter. Observed gauges are asynchronous instruments fed
 * by one batch callback, which runs the collectors once per export.
 */
export class OtelMeter implements Meter {
  private readonly collectors = new CollectorRegistry({ reuseMs: 0 });
  private readonly counters = new Map<CounterKey, Counter>();
  private readonly histograms = new Map<HistogramKey, Histogram>();
  private readonly gauges = new Map<GaugeKey, Gauge>();

  constructor(private readonly meter: OtelMeterApi) {
    const observed = new Map<ObservedKey, ObservableGauge>();
    for (const key of Object.keys(METRICS) as MetricKey[]) {
      const definition: MetricDefinition = METRICS[key];
      const options = { description: definition.description, unit: definition.unit };
      switch (definition.kind) {
        case 'counter': {
          const instrument = meter.createCounter(definition.name, options);
          this.counters.set(key as CounterKey, {
            add: (value, attributes) => {
              if (value >= 0) {
                instrument.add(value, otelAttributes(attributes));
              }
            },
          });
          break;
        }
        case 'histogram': {
          const instrument = meter.createHistogram(definition.name, {
            ...options,
            advice: { explicitBucketBoundaries: [...(definition.buckets ?? [])] },
          });
          this.histograms.set(key as HistogramKey, {
            record: (value, attributes) => {
              if (Number.isFinite(value) && value >= 0) {
                instrument.record(value, otelAttributes(attributes));
              }
            },
          });
          break;
        }
        case 'gauge': {
          const instrument = meter.createGauge(definition.name, options);
          this.gauges.set(key as GaugeKey, {
            set: (value, attributes) => {
              if (Number.isFinite(value)) {
                instrument.record(value, otelAttributes(attributes));
              }
            },
          });
          break;
        }
        case 'observed':
          observed.set(key as ObservedKey, meter.createObservableGauge(definition.name, options));
          break;
      }
    }
    this.meter.addBatchObservableCallback(
      async (result) => {
        const snapshot = await this.collectors.collect();
        for (const [key, values] of snapshot) {
          const instrument = observed.get(key);
          if (instrument === undefined) {
            continue;
          }
          for (const { value, attributes } of values) {
            result.observe(instrument, value, otelAttributes(attributes));
          }
        }
      },
      [...observed.values()],
    );
  }

  counter(metric: CounterKey): Counter {
    return this.counters.get(metric) ?? NOOP;
  }

  histogram(metric: HistogramKey): Histogram {
    return this.histograms.get(metric) ?? NOOP;
  }

  gauge(metric: GaugeKey): Gauge {
    return this.gauges.get(metric) ?? NOOP;
  }

  addCollector(key: string, collect: Collector): () => void {
    return this.collectors.add(key, collect);
  }
}

const NOOP = { add: () => undefined, record: () => undefined, set: () => undefined };

/** Sends every call to each meter: Prometheus and OTLP at once. */
export class FanOutMeter implements Meter {
  constructor(private readonly meters: readonly Meter[]) {}

  counter(metric: CounterKey): Counter {
    const all = this.meters.map((m) => m.counter(metric));
    return {
      add: (value, attributes) => {
        all.forEach((c) => {
          c.add(value, attributes);
        });
      },
    };
  }

  histogram(metric: HistogramKey): Histogram {
    const all = this.meters.map((m) => m.histogram(metric));
    return {
      record: (value, attributes) => {
        all.forEach((h) => {
          h.record(value, attributes);
        });
      },
    };
  }

  gauge(metric: GaugeKey): Gauge {
    const all = this.meters.map((m) => m.gauge(metric));
    return {
      set: (value, attributes) => {
        all.forEach((g) => {
          g.set(value, attributes);
        });
      },
    };
  }

  addCollector(key: string, collect: Collector): () => void {
    const removers = this.meters.map((m) => m.addCollector(key, collect));
    return () => {
      removers.forEach((remove) => {
        remove();
      });
    };
  }
}

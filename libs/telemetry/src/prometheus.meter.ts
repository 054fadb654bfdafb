import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Counter as PromCounter,
  Gauge as PromGauge,
  Histogram as PromHistogram,
  Registry,
  collectDefaultMetrics,
} from 'prom-client';
import { CollectorRegistry } from './collector.registry';
import {
  METRICS,
  prometheusName,
  type CounterKey,
  type GaugeKey,
  type HistogramKey,
  type MetricDefinition,
  type MetricKey,
  type ObservedKey,
} from './metric.definitions';
import type { Attributes } from './telemetry.attributes';
import type { Collector, Counter, Gauge, Histogram, Meter } from './telemetry';

type Labels = Record<string, string | number>;

const LINT_FAILING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/** Only the labels the metric declares: prom-client throws on any other. */
function labelsOf(definition: MetricDefinition, attributes: Attributes | undefined): Labels {
  const labels: Labels = {};
  if (attributes === undefined) {
    return labels;
  }
  for (const name of definition.labels) {
    const value = attributes[name];
    if (value !== undefined) {
      labels[name] = typeof value === 'boolean' ? String(value) : value;
    }
  }
  return labels;
}

/**
 * The {@link Meter} on a prom-client registry: every metric of {@link METRICS} under its
 * Prometheus name. Observed gauges are read through the collectors at scrape time.
 */
export class PrometheusMeter implements Meter {
  /** The registry `/metrics` serves. */
  readonly registry = new Registry();
  private readonly collectors: CollectorRegistry;
  private readonly counters = new Map<CounterKey, PromCounter>();
  private readonly histograms = new Map<HistogramKey, PromHistogram>();
  private readonly gauges = new Map<GaugeKey, PromGauge>();

  constructor(options: { readonly defaultMetrics?: boolean; readonly reuseMs?: number } = {}) {
    this.collectors = new CollectorRegistry(
      options.reuseMs === undefined ? {} : { reuseMs: options.reuseMs },
    );
    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges named `_total`, which `promtool check metrics` rejects; the handle and request
      // counts add nothing an operator of scaleset acts on.
      for (const name of LINT_FAILING_DEFAULTS) {
        this.registry.removeSingleMetric(name);
      }
    }
    for (const key of Object.keys(METRICS) as MetricKey[]) {
      this.define(key);
    }
  }

  counter(metric: CounterKey): Counter {
    const instrument = this.counters.get(metric);
    const definition = METRICS[metric];
    return {
      add: (value, attributes) => {
        if (value >= 0) {
          instrument?.inc(labelsOf(definition, attributes), value);
        }
      },
    };
  }

  histogram(metric: HistogramKey): Histogram {
    const instrument = this.histograms.get(metric);
    const definition = METRICS[metric];
    return {
      record: (value, attributes) => {
        if (Number.isFinite(value)) {
          instrument?.observe(labelsOf(definition, attributes), value);
        }
      },
    };
  }

  gauge(metric: GaugeKey): Gauge {
    const instrument = this.gauges.get(metric);
    const definition = METRICS[metric];
    return {
      set: (value, attributes) => {
        if (Number.isFinite(value)) {
          instrument?.set(labelsOf(definition, attributes), value);
        }
      },
    };
  }

  addCollector(key: string, collect: Collector): () => void {
    return this.collectors.add(key, collect);
  }

  /** The text exposition of every metric (what `/metrics` returns). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  private define(key: MetricKey): void {
    const definition: MetricDefinition = METRICS[key];
    const common = {
      name: prometheusName(definition),
      help: definition.description,
      labelNames: [...definition.labels],
      registers: [this.registry],
    };
    switch (definition.kind) {
      case 'counter':
        this.counters.set(key as CounterKey, new PromCounter(common));
        return;
      case 'histogram':
        this.histograms.set(
          key as HistogramKey,
          new PromHistogram({ ...common, buckets: [...(definition.buckets ?? [])] }),
        );
        return;
      case 'gauge':
        this.gauges.set(key as GaugeKey, new PromGauge(common));
        return;
      case 'observed': {
        const observed = key as ObservedKey;
        const gauge: PromGauge = new PromGauge({
          ...common,
          collect: async () => {
            const snapshot = await this.collectors.collect();
            gauge.reset();
            for (const { value, attributes } of snapshot.get(observed) ?? []) {
              gauge.set(labelsOf(definition, attributes), value);
            }
          },
        });
        return;
      }
    }
  }
}

/** A running `/metrics` server. */
export interface MetricsServer {
  /** The port it listens on (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` from `meter` on `port` (all interfaces unless `host` is given).
 * Anything else is 404. Rejects when the port cannot be bound.
 */
export async function serveMetrics(
  meter: PrometheusMeter,
  options: { readonly port: number; readonly host?: string },
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    meter.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': meter.registry.contentType }).end(text);
      },
      (err: unknown) => {
        res
          .writeHead(500, { 'content-type': 'text/plain' })
          .end(`metrics collection failed: ${err instanceof Error ? err.name : 'error'}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

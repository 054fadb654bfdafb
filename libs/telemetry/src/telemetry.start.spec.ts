import {
  AggregationTemporality,
  InMemoryMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { NOOP_TELEMETRY } from './telemetry';
import {
  startTelemetry,
  type OtlpExporterFactories,
  type TelemetryHandle,
} from './telemetry.start';

// The four combinations of `otel.enabled` × `prometheus.enable`: what is pushed (to in-memory
// exporters standing in for OTLP/HTTP; the integration test uses a real receiver), what is
// served on /metrics, and what is neither.

interface Pushed {
  readonly urls: (string | undefined)[];
  readonly spans: ReadableSpan[];
  readonly metrics: ResourceMetrics[];
}

function exporters(): { factories: OtlpExporterFactories; pushed: Pushed } {
  const pushed: Pushed = { urls: [], spans: [], metrics: [] };
  const spans = new InMemorySpanExporter();
  const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Keep what was exported: the SDK shuts the exporters down, which clears them.
  const spanExport = spans.export.bind(spans);
  spans.export = (batch, done) => {
    pushed.spans.push(...batch);
    spanExport(batch, done);
  };
  const originalExport = metrics.export.bind(metrics);
  metrics.export = (batch, done) => {
    pushed.metrics.push(batch);
    originalExport(batch, done);
  };
  return {
    pushed,
    factories: {
      spans: (url) => {
        pushed.urls.push(url);
        return spans;
      },
      metrics: (url) => {
        pushed.urls.push(url);
        return metrics;
      },
    },
  };
}

const ENV = { OTEL_METRIC_EXPORT_INTERVAL: '600000', OTEL_BSP_SCHEDULE_DELAY: '50' };

describe('startTelemetry', () => {
  let otlp: ReturnType<typeof exporters>;
  let handle: TelemetryHandle | undefined;

  beforeEach(() => {
    otlp = exporters();
  });

  afterEach(async () => {
    await handle?.shutdown();
    handle = undefined;
  });

  const config = (otel: boolean, prometheus: boolean) => ({
    otel: { enabled: otel, endpoint: '127.0.0.1:4318', insecure: true, stdout: false },
    prometheus: { enable: prometheus, port: 0 },
  });
  const start = (otel: boolean, prometheus: boolean, role: 'all' | 'listener' | 'worker') =>
    startTelemetry(config(otel, prometheus), {
      role,
      env: ENV,
      metricsHost: '127.0.0.1',
      otlpExporters: otlp.factories,
    });
  const metricNames = () =>
    otlp.pushed.metrics.flatMap((rm) =>
      rm.scopeMetrics.flatMap((sm) => sm.metrics.map((m) => m.descriptor.name)),
    );

  async function exercise(h: TelemetryHandle): Promise<string | undefined> {
    h.telemetry.meter.counter('runnersStarted').add(1, { scale_set: 'combo' });
    return h.telemetry.tracer.withSpan('scaler.HandleDesiredRunnerCount', {}, () =>
      Promise.resolve(h.telemetry.tracer.traceparent()),
    );
  }

  async function scrape(h: TelemetryHandle): Promise<string> {
    return (await fetch(`http://127.0.0.1:${String(h.metricsPort)}/metrics`)).text();
  }

  it('both off: nothing at all', async () => {
    handle = await start(false, false, 'all');
    expect(handle.telemetry).toBe(NOOP_TELEMETRY);
    expect(handle.metricsPort).toBeUndefined();
    expect(await exercise(handle)).toBeUndefined();
    await handle.shutdown();
    expect(otlp.pushed.urls).toEqual([]);
  });

  it('prometheus only: /metrics, no traces and no push', async () => {
    handle = await start(false, true, 'listener');
    expect(await exercise(handle)).toBeUndefined();
    expect(await scrape(handle)).toMatch(
      /^scaleset_runners_started_total\{scale_set="combo"\} 1$/m,
    );
    await handle.shutdown();
    expect(otlp.pushed.urls).toEqual([]);
  });

  it('otel only: OTLP traces and metrics, no scrape endpoint', async () => {
    handle = await start(true, false, 'worker');
    expect(handle.metricsPort).toBeUndefined();
    const traceparent = await exercise(handle);
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await handle.shutdown();
    expect(otlp.pushed.urls).toEqual([
      'http://127.0.0.1:4318/v1/traces',
      'http://127.0.0.1:4318/v1/metrics',
    ]);
    const [span] = otlp.pushed.spans;
    expect(span?.name).toBe('scaler.HandleDesiredRunnerCount');
    expect(span?.spanContext().traceId).toBe(traceparent?.split('-')[1]);
    expect(span?.resource.attributes['scaleset.role']).toBe('worker');
    expect(span?.resource.attributes['service.name']).toBe('scaleset');
    expect(JSON.stringify(span?.resource.attributes)).not.toContain('command_args');
    expect(metricNames()).toContain('scaleset.runners.started');
  });

  it('both: OTLP push and /metrics from one telemetry', async () => {
    handle = await start(true, true, 'all');
    expect(await exercise(handle)).toMatch(/^00-/);
    expect(await scrape(handle)).toMatch(
      /^scaleset_runners_started_total\{scale_set="combo"\} 1$/m,
    );
    await handle.shutdown();
    expect(otlp.pushed.spans.map((sp) => sp.name)).toEqual(['scaler.HandleDesiredRunnerCount']);
    expect(metricNames()).toContain('scaleset.runners.started');
  });

  it('refuses a /metrics port that is taken, and leaves nothing running', async () => {
    const taken = await start(false, true, 'all');
    try {
      await expect(
        startTelemetry(
          { ...config(true, true), prometheus: { enable: true, port: taken.metricsPort ?? 0 } },
          { role: 'all', env: ENV, metricsHost: '127.0.0.1', otlpExporters: otlp.factories },
        ),
      ).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await taken.shutdown();
    }
    // The OTLP part of the failed start was stopped: a new one registers cleanly.
    handle = await start(true, false, 'all');
    expect(await exercise(handle)).toMatch(/^00-/);
  });
});

import { NOOP_TELEMETRY } from './telemetry';
import { formatTraceParent, parseTraceParent } from './traceparent';
import { otlpBaseUrl, otlpProtocol } from './telemetry.start';
import { METRICS, prometheusName, type MetricKey } from './metric.definitions';

describe('NOOP_TELEMETRY', () => {
  it('runs the function of a span and returns its value, with no trace context', async () => {
    const seen: (string | undefined)[] = [];
    const value = await NOOP_TELEMETRY.tracer.withSpan('s', { 'runner.name': 'r' }, (span) => {
      span.setAttributes({ 'scaleset.outcome': 'ok' });
      seen.push(span.traceparent(), NOOP_TELEMETRY.tracer.traceparent());
      return Promise.resolve(42);
    });
    expect(value).toBe(42);
    expect(seen).toEqual([undefined, undefined]);
  });

  it('rethrows what the function throws', async () => {
    await expect(
      NOOP_TELEMETRY.tracer.withSpan('s', {}, () => Promise.reject(new RangeError('boom'))),
    ).rejects.toThrow(RangeError);
  });

  it('accepts every metric call and collector without doing anything', () => {
    expect(() => {
      NOOP_TELEMETRY.meter.counter('runnersStarted').add(1, { scale_set: 'a' });
      NOOP_TELEMETRY.meter.histogram('runnerStartupDuration').record(3);
      NOOP_TELEMETRY.meter.gauge('leaseHolder').set(1);
      const remove = NOOP_TELEMETRY.meter.addCollector('k', () => Promise.resolve());
      remove();
    }).not.toThrow();
  });
});

describe('traceparent', () => {
  const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it('parses and formats a version-00 traceparent', () => {
    const parsed = parseTraceParent(valid);
    expect(parsed).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: 1,
    });
    expect(parsed && formatTraceParent(parsed)).toBe(valid);
  });

  it.each([
    ['not a string', 42],
    ['empty', ''],
    ['upper case', valid.toUpperCase()],
    ['version ff', valid.replace(/^00/, 'ff')],
    ['zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['zero span id', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'],
    ['short', '00-4bf92f3577b34da6-00f067aa0ba902b7-01'],
    ['version 00 with extra fields', `${valid}-extra`],
  ])('rejects %s', (_what, value) => {
    expect(parseTraceParent(value)).toBeUndefined();
  });

  it('accepts a future version with extra fields, ignoring them', () => {
    expect(parseTraceParent(`01-${valid.slice(3)}-future`)?.spanId).toBe('00f067aa0ba902b7');
  });
});

describe('otlpBaseUrl', () => {
  it.each([
    [{ endpoint: 'localhost:4318', insecure: true }, 'http://localhost:4318'],
    [{ endpoint: 'collector:4318', insecure: false }, 'https://collector:4318'],
    [{ endpoint: 'http://otel.example:4318/', insecure: false }, 'http://otel.example:4318'],
    [{ insecure: true }, undefined],
    [{ endpoint: '  ', insecure: true }, undefined],
  ])('%j → %s', (otel, expected) => {
    expect(otlpBaseUrl(otel)).toBe(expected);
  });
});

describe('otlpProtocol', () => {
  it.each([
    [{}, 'http/protobuf'],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }, 'http/protobuf'],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: ' HTTP/JSON ' }, 'http/json'],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, { unsupported: 'grpc' }],
  ])('%j → %j', (env, expected) => {
    expect(otlpProtocol(env)).toEqual(expected);
  });
});

describe('metric names', () => {
  it('exports the original tool’s names to Prometheus', () => {
    const name = (key: MetricKey) => prometheusName(METRICS[key]);
    expect(name('runnersIdle')).toBe('scaleset_runners_idle');
    expect(name('runnersBusy')).toBe('scaleset_runners_busy');
    expect(name('runnersStarted')).toBe('scaleset_runners_started_total');
    expect(name('runnersDestroyed')).toBe('scaleset_runners_destroyed_total');
    expect(name('jobsCompleted')).toBe('scaleset_jobs_completed_total');
    expect(name('scaleEvents')).toBe('scaleset_scale_events_total');
    expect(name('runnerStartupDuration')).toBe('scaleset_runner_startup_duration_seconds');
  });

  it('has unique OpenTelemetry and Prometheus names and valid label names', () => {
    const defs = Object.values(METRICS);
    expect(new Set(defs.map((d) => d.name)).size).toBe(defs.length);
    expect(new Set(defs.map((d) => prometheusName(d))).size).toBe(defs.length);
    for (const d of defs) {
      expect(prometheusName(d)).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
      for (const label of d.labels) {
        expect(label).toMatch(/^[a-z_]+$/);
      }
    }
  });
});

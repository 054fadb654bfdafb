import { trace } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace';
import { OtelTracer } from './otel.telemetry';
import { parseTraceParent } from './traceparent';

// The OpenTelemetry tracer behind the interface, on a real SDK tracer provider with an
// in-memory exporter: what a job payload carries must continue the same trace elsewhere.

describe('OtelTracer', () => {
  let exporter: InMemorySpanExporter;
  let provider: TracerProvider;
  let tracer: OtelTracer;

  beforeEach(() => {
    exporter = new InMemorySpanExporter();
    provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    tracer = new OtelTracer(provider.getTracer('test'));
  });

  afterEach(async () => {
    await provider.shutdown();
    trace.disable();
  });

  const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
  const byName = (name: string): ReadableSpan => {
    const span = spans().find((s) => s.name === name);
    if (span === undefined) {
      throw new Error(`no span ${name}`);
    }
    return span;
  };

  it('injects the decision span into a traceparent that another tracer continues', async () => {
    let carried: string | undefined;
    await tracer.withSpan('scaler.HandleDesiredRunnerCount', { 'scaleset.name': 'ss' }, (span) => {
      carried = span.traceparent();
      return Promise.resolve();
    });
    // "Another process": a second provider, and an unrelated span active at the time.
    const otherProvider = new TracerProvider({
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });
    const worker = new OtelTracer(otherProvider.getTracer('worker'));
    await worker.withSpan('unrelated', {}, () =>
      worker.withSpan('scaler.startRunner', { 'runner.name': 'ss-abc' }, () => Promise.resolve(), {
        traceparent: carried,
        newTrace: true,
      }),
    );
    await otherProvider.forceFlush();

    const decision = byName('scaler.HandleDesiredRunnerCount');
    const start = byName('scaler.startRunner');
    expect(parseTraceParent(carried)).toMatchObject({
      traceId: decision.spanContext().traceId,
      spanId: decision.spanContext().spanId,
    });
    expect(start.spanContext().traceId).toBe(decision.spanContext().traceId);
    expect(start.parentSpanContext?.spanId).toBe(decision.spanContext().spanId);
    expect(start.attributes['runner.name']).toBe('ss-abc');
  });

  it('starts a new trace for a job without (or with a malformed) traceparent', async () => {
    await tracer.withSpan('outer', {}, () =>
      tracer.withSpan('job', {}, () => Promise.resolve(), {
        traceparent: 'garbage',
        newTrace: true,
      }),
    );
    expect(byName('job').spanContext().traceId).not.toBe(byName('outer').spanContext().traceId);
    expect(byName('job').parentSpanContext).toBeUndefined();
  });

  it('marks a span failed with the error code only, and rethrows', async () => {
    const err = Object.assign(new Error('secret-looking detail ghp_x'), {
      code: 'IMAGE_NOT_FOUND',
    });
    await expect(
      tracer.withSpan('engine.docker.StartRunner', {}, () => Promise.reject(err)),
    ).rejects.toBe(err);
    const span = byName('engine.docker.StartRunner');
    expect(span.status).toEqual({ code: 2, message: 'IMAGE_NOT_FOUND' });
    expect(span.attributes['error.type']).toBe('IMAGE_NOT_FOUND');
    expect(JSON.stringify({ a: span.attributes, e: span.events })).not.toContain('ghp_x');
  });

  it('has no traceparent outside a span', () => {
    expect(tracer.traceparent()).toBeUndefined();
  });
});

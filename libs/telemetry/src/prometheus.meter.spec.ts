import { PrometheusMeter, serveMetrics } from './prometheus.meter';
import {
  COLLECTOR_KEYS,
  githubRequestObserver,
  queueCollector,
  registerQueueCollectors,
  runnerStateCollector,
} from './scaleset.instruments';
import { Telemetry, NOOP_TELEMETRY } from './telemetry';

// The Prometheus side with hand-written fakes of the sources: gauges whose truth lives in
// Redis are read at scrape time, once per scrape, from the latest collector of each source.

function registry(counts: Record<string, number>) {
  let reads = 0;
  return {
    get reads() {
      return reads;
    },
    counts: (_id: number) => {
      reads++;
      return Promise.resolve(counts);
    },
  };
}

function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('PrometheusMeter', () => {
  const scaleSet = { id: 7, name: 'ss', maxRunners: () => 10 };

  it('reads runner states from the registry at scrape time, once per scrape', async () => {
    const meter = new PrometheusMeter({ defaultMetrics: false, reuseMs: 0 });
    const source = registry({
      reserved: 1,
      provisioning: 0,
      idle: 2,
      busy: 3,
      failed: 1,
      destroying: 0,
    });
    meter.addCollector(COLLECTOR_KEYS.runners(7), runnerStateCollector(scaleSet, source));
    const text = await meter.metrics();
    expect(source.reads).toBe(1);
    expect(sample(text, 'scaleset_runners_idle', 'scale_set="ss"')).toBe(2);
    expect(sample(text, 'scaleset_runners_busy', 'scale_set="ss"')).toBe(3);
    expect(sample(text, 'scaleset_runners', 'scale_set="ss",state="failed"')).toBe(1);
    expect(sample(text, 'scaleset_runners', 'scale_set="ss",state="destroying"')).toBe(0);
    expect(sample(text, 'scaleset_runners_max', 'scale_set="ss"')).toBe(10);

    // The next scrape reads again: nothing stale is served.
    await meter.metrics();
    expect(source.reads).toBe(2);
  });

  it('runs only the latest collector of a source and falls back when it is removed', async () => {
    const meter = new PrometheusMeter({ defaultMetrics: false, reuseMs: 0 });
    const first = registry({ idle: 1 });
    const second = registry({ idle: 5 });
    meter.addCollector(COLLECTOR_KEYS.runners(7), runnerStateCollector(scaleSet, first));
    const remove = meter.addCollector(
      COLLECTOR_KEYS.runners(7),
      runnerStateCollector(scaleSet, second),
    );
    expect(sample(await meter.metrics(), 'scaleset_runners_idle', 'scale_set="ss"')).toBe(5);
    expect(first.reads).toBe(0);
    remove();
    expect(sample(await meter.metrics(), 'scaleset_runners_idle', 'scale_set="ss"')).toBe(1);
  });

  it('leaves out a source that fails, and keeps the others', async () => {
    const meter = new PrometheusMeter({ defaultMetrics: false, reuseMs: 0 });
    meter.addCollector(COLLECTOR_KEYS.runners(1), () => Promise.reject(new Error('redis down')));
    meter.addCollector(
      COLLECTOR_KEYS.queue('runners'),
      queueCollector({
        name: 'runners',
        getJobCounts: () =>
          Promise.resolve({ waiting: 2, prioritized: 1, delayed: 4, active: 3, failed: 6 }),
      }),
    );
    const text = await meter.metrics();
    expect(text).not.toMatch(/^scaleset_runners_idle\{/m);
    expect(sample(text, 'scaleset_queue_depth', 'queue="runners"')).toBe(7);
    expect(sample(text, 'scaleset_queue_active', 'queue="runners"')).toBe(3);
    expect(sample(text, 'scaleset_queue_failed', 'queue="runners"')).toBe(6);
  });

  it('records counters, histograms and gauges under the original names, ignoring unknown labels', async () => {
    const meter = new PrometheusMeter({ defaultMetrics: false });
    const labels = { scale_set: 'ss', 'runner.name': 'not-a-label' } as const;
    meter.counter('runnersStarted').add(2, labels);
    meter.counter('jobsCompleted').add(1, { scale_set: 'ss', result: 'succeeded' });
    meter.counter('scaleEvents').add(1, { scale_set: 'ss', action: 'up' });
    meter.histogram('runnerStartupDuration').record(3.5, { scale_set: 'ss' });
    meter.gauge('leaseEpoch').set(4, { scale_set: 'ss' });
    const text = await meter.metrics();
    expect(sample(text, 'scaleset_runners_started_total', 'scale_set="ss"')).toBe(2);
    expect(sample(text, 'scaleset_jobs_completed_total', 'scale_set="ss",result="succeeded"')).toBe(
      1,
    );
    expect(sample(text, 'scaleset_scale_events_total', 'scale_set="ss",action="up"')).toBe(1);
    expect(
      sample(text, 'scaleset_runner_startup_duration_seconds_bucket', 'le="1",scale_set="ss"'),
    ).toBe(0);
    expect(
      sample(text, 'scaleset_runner_startup_duration_seconds_bucket', 'le="5",scale_set="ss"'),
    ).toBe(1);
    expect(sample(text, 'scaleset_lease_epoch', 'scale_set="ss"')).toBe(4);
  });

  it('records GitHub calls by templated endpoint, errors and the rate limit left', async () => {
    const meter = new PrometheusMeter({ defaultMetrics: false });
    const telemetry: Telemetry = { tracer: NOOP_TELEMETRY.tracer, meter };
    const observe = githubRequestObserver(telemetry);
    const endpoint = '/_apis/runtime/runnerscalesets/{id}/generatejitconfig';
    observe({ method: 'POST', endpoint, status: 200, durationMs: 12, rateLimitRemaining: 4999 });
    observe({ method: 'POST', endpoint, status: 500, durationMs: 40 });
    observe({ method: 'POST', endpoint, status: 0, durationMs: 40 });
    const text = await meter.metrics();
    const base = `method="POST",endpoint="${endpoint}"`;
    expect(sample(text, 'scaleset_github_requests_total', `${base},status="200"`)).toBe(1);
    expect(sample(text, 'scaleset_github_request_errors_total', `${base},status="500"`)).toBe(1);
    expect(sample(text, 'scaleset_github_request_errors_total', `${base},status="0"`)).toBe(1);
    expect(text).not.toMatch(/scaleset_github_request_errors_total\{[^}]*status="200"/);
    expect(sample(text, 'scaleset_github_ratelimit_remaining', 'resource="core"')).toBe(4999);
  });

  it('serves /metrics over HTTP and 404 for anything else; queue collectors go away on shutdown', async () => {
    const meter = new PrometheusMeter({ reuseMs: 0 });
    const telemetry: Telemetry = { tracer: NOOP_TELEMETRY.tracer, meter };
    const hook = registerQueueCollectors(telemetry, [
      { name: 'reconcile', getJobCounts: () => Promise.resolve({ waiting: 1 }) },
    ]);
    const server = await serveMetrics(meter, { port: 0, host: '127.0.0.1' });
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const text = await res.text();
      expect(sample(text, 'scaleset_queue_depth', 'queue="reconcile"')).toBe(1);
      expect(text).toContain('process_cpu_user_seconds_total');
      expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
      hook.onApplicationShutdown();
      const after = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      expect(sample(after, 'scaleset_queue_depth', 'queue="reconcile"')).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});

import { spawnSync } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplicationContext } from '@nestjs/common';
import { ExportResultCode } from '@opentelemetry/core';
import { JsonMetricsSerializer, JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { Queue } from 'bullmq';
import Dockerode from 'dockerode';
import { Redis } from 'ioredis';
import pino from 'pino';
import { bullPrefix, loadConfig, type ScalesetConfig } from '@app/config';
import { QUEUES } from '@app/queue';
import { RunnerRegistry } from '@app/registry';
import { startTelemetry, type OtlpExporterFactories, type TelemetryHandle } from '@app/telemetry';
import { buildRunnerTestImage, FakeGitHub, fakeRunnerScript, redisUrlForTests } from '@app/testing';
import { bootstrapListener } from '@apps/listener';
import { bootstrapWorker } from '@apps/worker';
import {
  deleteKeys,
  removeOwnedContainers,
  shortId,
  waitUntil,
  workerConfigYaml,
} from '../support/worker.fixture';

// Issue 9, telemetry: the listener and the worker apps in one process (as `scaleset` runs them)
// against the fake GitHub, real Redis and dockerd with the fake runner image. A small burst of
// jobs, then (1) /metrics carries the original tool's metric names with sensible values and
// passes `promtool check metrics`; (2) a local OTLP/HTTP receiver gets ONE trace per runner
// start that holds both the listener's decision span and the worker's engine call.

jest.setTimeout(120_000);

const docker = new Dockerode();
const IMAGE_TAG = 'scaleset-worker-test:fake-runner';
const logger = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });

interface Stack {
  readonly fake: FakeGitHub;
  readonly config: ScalesetConfig;
  readonly telemetry: TelemetryHandle;
  readonly apps: INestApplicationContext[];
  readonly redis: Redis;
  readonly registry: RunnerRegistry;
}

async function startStack(
  fake: FakeGitHub,
  image: string,
  otel: { readonly endpoint: string; readonly exporters: OtlpExporterFactories } | undefined,
): Promise<Stack> {
  const prefix = `tl${shortId()}`;
  const yaml = [
    workerConfigYaml({
      fake,
      scaleSetName: `tl-${shortId(3)}`,
      image,
      redisUrl: redisUrlForTests(),
      redisPrefix: prefix,
      deploymentId: `tl-${shortId()}`,
      worker: ['job_lock: 5s', 'shutdown_timeout: 5s'],
    }),
    'listener:',
    '  lease_ttl: 3s',
    '  scale_down_grace: 300ms',
    '  reevaluate_interval: 1s',
    '  health_port: 0',
  ].join('\n');
  const loaded = loadConfig({ env: {}, configPath: 'test.yaml', readFile: () => yaml });
  const config: ScalesetConfig = {
    ...loaded,
    otel: {
      enabled: otel !== undefined,
      endpoint: otel?.endpoint ?? '',
      insecure: true,
      stdout: false,
    },
    prometheus: { enable: otel === undefined, port: 0 },
  };
  const telemetry = await startTelemetry(config, {
    role: 'all',
    metricsHost: '127.0.0.1',
    env: { OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_METRIC_EXPORT_INTERVAL: '600000' },
    ...(otel === undefined ? {} : { otlpExporters: otel.exporters }),
  });
  const apps: INestApplicationContext[] = [];
  const redis = new Redis(redisUrlForTests());
  const stack: Stack = {
    fake,
    config,
    telemetry,
    apps,
    redis,
    registry: new RunnerRegistry(redis, { prefix }),
  };
  try {
    // As the CLI does: worker first, then the listener, both on the one telemetry.
    apps.push(await bootstrapWorker(config, logger, telemetry.telemetry));
    apps.push(await bootstrapListener(config, logger, telemetry.telemetry));
  } catch (err) {
    await stopStack(stack);
    throw err;
  }
  return stack;
}

async function stopStack(s: Stack): Promise<void> {
  for (const app of [...s.apps].reverse()) {
    await app.close().catch(() => undefined);
  }
  await s.telemetry.shutdown();
  await removeOwnedContainers(docker, s.config.deployment.id);
  for (const name of Object.values(QUEUES)) {
    const queue = new Queue(name, {
      connection: { url: redisUrlForTests() },
      prefix: bullPrefix(s.config.redis),
    });
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
  await deleteKeys(s.redis, [`${s.config.redis.prefix}:*`, `${bullPrefix(s.config.redis)}:*`]);
  await s.redis.quit();
}

/** Runs `jobs` jobs through the stack and waits until every runner is gone again. */
async function burst(s: Stack, jobs: number): Promise<void> {
  await waitUntil(() => s.fake.sessions().length === 1, 'a message session');
  const before = s.fake.jobs().length;
  s.fake.queueJobs(jobs, { durationMs: 300 });
  await waitUntil(
    () => {
      const mine = s.fake.jobs().slice(before);
      return mine.length === jobs && mine.every((j) => j.state === 'completed');
    },
    'every job completed',
    90_000,
  );
  const scaleSetId = s.fake.scaleSets().find((x) => x.name === s.config.scaleSets[0]?.name)?.id;
  await waitUntil(
    async () => scaleSetId !== undefined && (await s.registry.counts(scaleSetId)).live === 0,
    'every runner destroyed',
    30_000,
  );
}

/** The value of one sample of the text exposition; `undefined` when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) {
      continue;
    }
    const found = new Map<string, string>();
    for (const m of (match[3] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) {
      found.set(m[1] ?? '', m[2] ?? '');
    }
    if (Object.entries(labels).every(([k, v]) => found.get(k) === v)) {
      return Number(match[4]);
    }
  }
  return undefined;
}

describe('telemetry of the listener and worker apps in one process', () => {
  let fake: FakeGitHub;
  let image: string;
  let stack: Stack | undefined;

  beforeAll(async () => {
    fake = new FakeGitHub({ pollTimeoutMs: 400, jobDurationMs: 300, runnerPollTimeoutMs: 2_000 });
    await fake.start();
    image = (
      await buildRunnerTestImage(docker, { tag: IMAGE_TAG, runScript: fakeRunnerScript().content })
    ).ref;
  });

  afterEach(async () => {
    if (stack !== undefined) {
      await stopStack(stack);
      stack = undefined;
    }
  });

  afterAll(async () => {
    await fake.stop();
  });

  it('serves the original metric names on /metrics with sensible values, promtool-clean', async () => {
    const jobs = 3;
    stack = await startStack(fake, image, undefined);
    const ss = stack.config.scaleSets[0]?.name ?? '';
    await burst(stack, jobs);
    const url = `http://127.0.0.1:${String(stack.telemetry.metricsPort)}/metrics`;
    // The destroy job's counter lands right after the registry entry is deleted.
    const text = await waitUntil(async () => {
      const body = await (await fetch(url)).text();
      const destroyed = sample(body, 'scaleset_runners_destroyed_total', {
        scale_set: ss,
        reason: 'job-completed',
      });
      return (destroyed ?? 0) >= jobs ? body : undefined;
    }, 'the destroy counters');

    // The original tool's seven metrics.
    const one = { scale_set: ss };
    expect(sample(text, 'scaleset_runners_started_total', one)).toBeGreaterThanOrEqual(jobs);
    expect(sample(text, 'scaleset_jobs_completed_total', { ...one, result: 'succeeded' })).toBe(
      jobs,
    );
    expect(
      sample(text, 'scaleset_scale_events_total', { ...one, action: 'up' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'scaleset_runner_startup_duration_seconds_count', one),
    ).toBeGreaterThanOrEqual(jobs);
    // Read from Redis at scrape time: every state, the bounds, the queues. (The listener may
    // already be serving statistics that lag the completions, so states need not all be 0.)
    for (const state of ['reserved', 'provisioning', 'idle', 'busy', 'failed', 'destroying']) {
      expect(sample(text, 'scaleset_runners', { ...one, state })).toBeGreaterThanOrEqual(0);
    }
    expect(sample(text, 'scaleset_runners_idle', one)).toBe(
      sample(text, 'scaleset_runners', { ...one, state: 'idle' }),
    );
    expect(sample(text, 'scaleset_runners_busy', one)).toBe(
      sample(text, 'scaleset_runners', { ...one, state: 'busy' }),
    );
    expect(sample(text, 'scaleset_runners', { ...one, state: 'failed' })).toBe(0);
    expect(sample(text, 'scaleset_runners_max', one)).toBe(5);
    expect(sample(text, 'scaleset_runners_desired', one)).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'scaleset_queue_failed', { queue: 'runners' })).toBe(0);
    expect(sample(text, 'scaleset_queue_depth', { queue: 'runners' })).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'scaleset_queue_depth', { queue: 'reconcile' })).toBeGreaterThanOrEqual(0);

    // Engine calls, GitHub calls by templated endpoint, leadership.
    expect(
      sample(text, 'scaleset_engine_call_duration_seconds_count', {
        engine: 'docker',
        operation: 'start',
      }),
    ).toBeGreaterThanOrEqual(jobs);
    // Endpoints are path templates: ids (and the service's tenant token) become {id}.
    const jit =
      /^scaleset_github_requests_total\{method="POST",endpoint="[^"]*\/_apis\/runtime\/runnerscalesets\/\{id\}\/generatejitconfig",status="200"\} (\d+)$/m.exec(
        text,
      );
    expect(Number(jit?.[1])).toBeGreaterThanOrEqual(jobs);
    expect(text).not.toMatch(/endpoint="[^"]*\/\d+[/"]/);
    expect(sample(text, 'scaleset_lease_holder', one)).toBe(1);
    expect(sample(text, 'scaleset_lease_acquired_total', one)).toBe(1);
    expect(sample(text, 'scaleset_lease_epoch', one)).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain(fake.pat);

    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (promtool.error !== undefined) {
      console.warn(`promtool is not installed (${promtool.error.message}); check skipped`);
      return;
    }
    expect({ status: promtool.status, out: `${promtool.stdout}${promtool.stderr}` }).toEqual({
      status: 0,
      out: '',
    });
  });

  it('exports one trace per runner start holding the listener decision and the worker engine call', async () => {
    const receiver = await otlpReceiver();
    try {
      stack = await startStack(fake, image, {
        endpoint: receiver.endpoint,
        exporters: postingExporters(),
      });
      await burst(stack, 2);
      const names = stack.fake
        .jobs()
        .slice(-2)
        .map((j) => j.runnerName ?? '');
      await stopStack(stack);
      stack = undefined;

      const spans = receiver.spans();
      expect(receiver.paths()).toContain('/v1/traces');
      for (const runner of names) {
        expect(runner).not.toBe('');
        const engineStart = spans.find(
          (s) => s.name === 'engine.docker.StartRunner' && s.attributes['runner.name'] === runner,
        );
        expect(engineStart).toBeDefined();
        const trace = spans.filter((s) => s.traceId === engineStart?.traceId);
        const names_ = trace.map((s) => s.name);
        expect(names_).toEqual(
          expect.arrayContaining([
            'scaler.HandleDesiredRunnerCount',
            'scaler.startRunner',
            'engine.docker.StartRunner',
          ]),
        );
        // The worker's job span is a child of the listener's decision span (via the payload).
        const decision = trace.find((s) => s.name === 'scaler.HandleDesiredRunnerCount');
        const job = trace.find(
          (s) => s.name === 'scaler.startRunner' && s.attributes['runner.name'] === runner,
        );
        expect(job?.parentSpanId).toBe(decision?.spanId);
        expect(engineStart?.parentSpanId).toBe(job?.spanId);

        // Destroy: JobCompleted in the listener → destroy job → engine call, one trace.
        const engineDestroy = spans.find(
          (s) => s.name === 'engine.docker.DestroyRunner' && s.attributes['runner.name'] === runner,
        );
        const destroyTrace = spans
          .filter((s) => s.traceId === engineDestroy?.traceId)
          .map((s) => `${s.name}:${String(s.attributes['runner.name'])}`);
        expect(destroyTrace).toEqual(
          expect.arrayContaining([
            `scaler.HandleJobCompleted:${runner}`,
            `scaler.destroyRunner:${runner}`,
            `engine.docker.DestroyRunner:${runner}`,
          ]),
        );
      }
      // No secret in any exported attribute.
      expect(receiver.raw()).not.toContain(fake.pat);
      expect(receiver.raw()).not.toMatch(/jitconfig"\s*:/i);
    } finally {
      await new Promise((resolve) => receiver.server.close(resolve));
    }
  });
});

interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly attributes: Record<string, unknown>;
}

interface OtlpJsonValue {
  readonly stringValue?: string;
  readonly intValue?: string | number;
  readonly doubleValue?: number;
  readonly boolValue?: boolean;
}

interface OtlpJsonSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly attributes?: readonly { readonly key: string; readonly value: OtlpJsonValue }[];
}

interface OtlpJsonTraces {
  readonly resourceSpans?: readonly {
    readonly scopeSpans?: readonly { readonly spans?: readonly OtlpJsonSpan[] }[];
  }[];
}

/** OTLP/JSON ids are hex; some encoders send base64. */
function hexId(id: string | undefined): string | undefined {
  if (id === undefined || id === '') {
    return undefined;
  }
  return /^[0-9a-f]+$/i.test(id) ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex');
}

/** A node:http OTLP/HTTP receiver on loopback that keeps the JSON trace requests it gets. */
async function otlpReceiver(): Promise<{
  server: Server;
  endpoint: string;
  spans: () => ReceivedSpan[];
  paths: () => string[];
  raw: () => string;
}> {
  const bodies: { path: string; body: string }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    endpoint: `127.0.0.1:${port}`,
    paths: () => bodies.map((b) => b.path),
    raw: () => bodies.map((b) => b.body).join('\n'),
    spans: () =>
      bodies
        .filter((b) => b.path === '/v1/traces')
        .flatMap((b) => (JSON.parse(b.body) as OtlpJsonTraces).resourceSpans ?? [])
        .flatMap((rs) => rs.scopeSpans ?? [])
        .flatMap((ss) => ss.spans ?? [])
        .map((s) => ({
          traceId: hexId(s.traceId) ?? '',
          spanId: hexId(s.spanId) ?? '',
          parentSpanId: hexId(s.parentSpanId),
          name: s.name,
          attributes: Object.fromEntries(
            (s.attributes ?? []).map((a) => [
              a.key,
              a.value.stringValue ?? a.value.intValue ?? a.value.doubleValue ?? a.value.boolValue,
            ]),
          ),
        })),
  };
}

function post(url: string, body: Uint8Array | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => {
          resolve(res.statusCode ?? 0);
        });
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : Buffer.from(body));
  });
}

/**
 * OTLP/HTTP JSON exporters with the OpenTelemetry serializers the `-otlp-http` exporters use.
 * jest's module sandbox cannot run those exporters' lazy `import('http')`, so the test posts
 * the same bodies itself (startTelemetry's `otlpExporters` seam).
 */
function postingExporters(): OtlpExporterFactories {
  return {
    spans: (url): SpanExporter => ({
      export: (spans: ReadableSpan[], done) => {
        post(url ?? '', JsonTraceSerializer.serializeRequest(spans)).then(
          (status) => {
            done({ code: status === 200 ? ExportResultCode.SUCCESS : ExportResultCode.FAILED });
          },
          (err: unknown) => {
            done({ code: ExportResultCode.FAILED, error: err as Error });
          },
        );
      },
      shutdown: () => Promise.resolve(),
    }),
    metrics: (url): PushMetricExporter => ({
      export: (metrics: ResourceMetrics, done) => {
        post(url ?? '', JsonMetricsSerializer.serializeRequest(metrics)).then(
          (status) => {
            done({ code: status === 200 ? ExportResultCode.SUCCESS : ExportResultCode.FAILED });
          },
          (err: unknown) => {
            done({ code: ExportResultCode.FAILED, error: err as Error });
          },
        );
      },
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    }),
  };
}

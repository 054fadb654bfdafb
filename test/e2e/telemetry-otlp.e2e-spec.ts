import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { Redis } from 'ioredis';
import { buildRunnerTestImage, FakeGitHub, fakeRunnerScript, redisUrlForTests } from '@app/testing';
import {
  deleteKeys,
  removeOwnedContainers,
  shortId,
  waitUntil,
  workerConfigYaml,
} from '../support/worker.fixture';

// One trace per runner across processes, through the production OTLP/HTTP exporter: a
// `scaleset listener` and a `scaleset worker` process export to a receiver on loopback, and
// the listener's scaling decision and the worker's engine call for the same runner must
// share one trace id.
jest.setTimeout(120_000);

const BIN = join(__dirname, '..', '..', 'bin', 'scaleset.js');
const IMAGE_TAG = 'scaleset-worker-test:fake-runner';

interface Span {
  traceId: string;
  name: string;
  runner: string | undefined;
}

interface OtlpJson {
  resourceSpans?: {
    scopeSpans?: {
      spans?: {
        traceId: string;
        name: string;
        attributes?: { key: string; value: { stringValue?: string } }[];
      }[];
    }[];
  }[];
}

async function receiver(): Promise<{ server: Server; url: string; spans: () => Span[] }> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        bodies.push(Buffer.concat(chunks).toString('utf8'));
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    spans: () =>
      bodies
        .flatMap((b) => (JSON.parse(b) as OtlpJson).resourceSpans ?? [])
        .flatMap((rs) => rs.scopeSpans ?? [])
        .flatMap((ss) => ss.spans ?? [])
        .map((s) => ({
          traceId: s.traceId,
          name: s.name,
          runner: s.attributes?.find((a) => a.key === 'runner.name')?.value.stringValue,
        })),
  };
}

function start(
  role: string,
  config: string,
): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, role, '--config', config], {
    env: { PATH: process.env['PATH'] ?? '', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
    stdio: 'ignore',
  });
  return { child, exited: new Promise((resolve) => child.on('exit', resolve)) };
}

describe('traces across processes (OTLP/HTTP)', () => {
  const docker = new Dockerode();
  const fake = new FakeGitHub({ pollTimeoutMs: 500, jobDurationMs: 300 });
  const prefix = `ot${shortId()}`;
  const owner = `ot${shortId()}`;
  let dir: string;
  let redis: Redis;

  beforeAll(async () => {
    await fake.start();
    await buildRunnerTestImage(docker, { tag: IMAGE_TAG, runScript: fakeRunnerScript().content });
    dir = mkdtempSync(join(tmpdir(), 'scaleset-otlp-'));
    redis = new Redis(redisUrlForTests());
  });

  afterAll(async () => {
    await removeOwnedContainers(docker, owner);
    await deleteKeys(redis, [`${prefix}:*`, `{${prefix}}:*`]);
    await redis.quit();
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('joins the listener decision and the worker engine call of a runner in one trace', async () => {
    const otlp = await receiver();
    const config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      [
        workerConfigYaml({
          fake,
          scaleSetName: `ot-${shortId(3)}`,
          image: IMAGE_TAG,
          redisUrl: redisUrlForTests(),
          redisPrefix: prefix,
          deploymentId: owner,
        }),
        'listener:\n  health_port: 0',
        `otel:\n  enabled: true\n  endpoint: ${otlp.url}\n  insecure: true`,
      ].join('\n'),
    );
    const worker = start('worker', config);
    const listener = start('listener', config);
    try {
      await waitUntil(() => fake.sessions().length === 1, 'a message session', 30_000);
      fake.queueJobs(1, { durationMs: 300 });
      await waitUntil(
        () => fake.jobs().every((j) => j.state === 'completed'),
        'the job to complete',
        60_000,
      );
    } finally {
      // SIGTERM flushes the span processors before exit.
      listener.child.kill('SIGTERM');
      worker.child.kill('SIGTERM');
      await Promise.all([listener.exited, worker.exited]);
      otlp.server.close();
    }
    const spans = otlp.spans();
    const engine = spans.find(
      (s) => s.name === 'engine.docker.StartRunner' && s.runner !== undefined,
    );
    expect(engine).toBeDefined();
    const trace = spans.filter((s) => s.traceId === engine?.traceId).map((s) => s.name);
    expect(trace).toEqual(
      expect.arrayContaining([
        'scaler.HandleDesiredRunnerCount',
        'scaler.startRunner',
        'engine.docker.StartRunner',
      ]),
    );
  });
});

// Figure 3: pipeline overhead with a zero-latency engine: from the moment the fake GitHub puts a
// JobAssigned message in the scale set's queue to the worker's engine start call for the runner
// that message called for. Jobs arrive as a steady trickle well below max_runners, so what is
// measured is the pipeline (listener poll → decision → Redis → BullMQ → worker → JIT config →
// engine), not queueing behind capacity or behind other starts.
import type { BenchContext } from '../lib/context.mts';
import { nowMs, percentile, readEngineEvents, round, sleep, waitFor } from '../lib/measure.mts';
import { atMost, info, log, type ScenarioResult } from '../lib/report.mts';
import { loadBullmq } from '../lib/runtime.mts';

interface StartJobTimes {
  readonly enqueuedAt: number;
  readonly processedAt: number;
}

export async function overhead(ctx: BenchContext): Promise<ScenarioResult> {
  const total = ctx.quick ? 200 : 2_000;
  const ratePerS = 50;
  const jobMs = 500;
  const name = 'bench-overhead';
  const d = await ctx.deploy({
    scenario: 'overhead',
    scaleSets: [{ name, maxRunners: 200 }],
    engine: { startLatency: '0', runner: 'fake' },
    listeners: 2,
    workers: 2,
    concurrency: 20,
  });
  const { Queue } = loadBullmq();
  const queue = new Queue('runners', { connection: { url: d.redisServer.url }, prefix: '{bench}' });
  queue.on('error', () => undefined);
  try {
    const scaleSetId = d.scaleSetId(name);
    const emitted: number[] = [];
    let completed = 0;
    const unsubscribe = d.fake.onEvent((e) => {
      if (e.kind !== 'job-message' || e.scaleSetId !== scaleSetId) {
        return;
      }
      if (e.messageType === 'JobAssigned') {
        emitted.push(e.at);
      } else if (e.messageType === 'JobCompleted') {
        completed += 1;
      }
    });
    // Start jobs' own timestamps (enqueue by the listener, pick-up by a worker), by runner name;
    // BullMQ keeps the last 1,000 finished jobs, so they are read while the trickle runs.
    const startJobs = new Map<string, StartJobTimes>();
    const collect = async (): Promise<void> => {
      const finished = await queue.getJobs(['completed'], 0, 2_000);
      for (const job of finished) {
        const runner = (job.data as { runnerName?: unknown }).runnerName;
        if (
          job.name === 'start-runner' &&
          typeof runner === 'string' &&
          job.processedOn !== undefined
        ) {
          startJobs.set(runner, { enqueuedAt: job.timestamp, processedAt: job.processedOn });
        }
      }
    };
    await sleep(1_000);
    log(`overhead: ${total} jobs at ${ratePerS}/s, ${jobMs} ms each, zero-latency engine`);
    const t0 = nowMs();
    let lastCollect = Date.now();
    for (let k = 0; k < total; k++) {
      const due = t0 + (k * 1000) / ratePerS;
      const wait = due - nowMs();
      if (wait > 0) {
        await sleep(wait);
      }
      d.fake.queueJobs(1, { scaleSetId, durationMs: jobMs });
      if (Date.now() - lastCollect > 3_000) {
        lastCollect = Date.now();
        await collect();
        d.checkAlive();
      }
    }
    await waitFor(`${total} jobs completed`, () => completed >= total, 120_000, 100);
    await collect();
    unsubscribe();
    await sleep(500);
    const events = readEngineEvents(d.eventFiles).filter((e) => e.t >= t0 - 1);
    const starts = events.filter((e) => e.e === 'start-call');
    // Runners are not tied to jobs (any runner takes any job), so the k-th JobAssigned is
    // paired with the k-th start call; with a trickle this far below capacity the pipeline is
    // first-in first-out, and the pairing is exact whenever one start completes before the
    // next message (20 ms apart).
    const pairs = Math.min(emitted.length, starts.length);
    const delays: number[] = [];
    for (let i = 0; i < pairs; i++) {
      delays.push((starts[i]?.t ?? Number.NaN) - (emitted[i] ?? Number.NaN));
    }
    const negative = delays.filter((v) => v < 0).length;
    // Stage breakdown from the start jobs (same runner name as the engine event: exact).
    const listenerStage: number[] = [];
    const queueStage: number[] = [];
    const workerStage: number[] = [];
    for (const [i, s] of starts.entries()) {
      const job = startJobs.get(s.name);
      const e = emitted[i];
      if (job === undefined || e === undefined) {
        continue;
      }
      listenerStage.push(job.enqueuedAt - e);
      queueStage.push(job.processedAt - job.enqueuedAt);
      workerStage.push(s.t - job.processedAt);
    }
    const p = (values: number[], q: number): number => round(percentile(values, q), 1);
    return {
      id: 'overhead',
      title: 'pipeline overhead, zero-latency engine',
      figures: [
        info('runners measured', pairs),
        atMost('p50 message → engine start', p(delays, 50), 20, 'ms'),
        info('p95 message → engine start', p(delays, 95), 'ms'),
        atMost('p99 message → engine start', p(delays, 99), 100, 'ms'),
        info('max', p(delays, 100), 'ms'),
        info(
          'p50 stages: listener | queue | worker',
          `${p(listenerStage, 50)} | ${p(queueStage, 50)} | ${p(workerStage, 50)}`,
          'ms',
        ),
        info(
          'p99 stages: listener | queue | worker',
          `${p(listenerStage, 99)} | ${p(queueStage, 99)} | ${p(workerStage, 99)}`,
          'ms',
        ),
      ],
      method: [
        `${total} jobs queued one by one at ${ratePerS}/s (each runs ${jobMs} ms), max_runners 200, engine start_latency 0, runner: fake, 2 workers × 20, 2 listeners: about ${Math.round((ratePerS * (jobMs + 200)) / 1000)} runners live at a time, far below 200, so no message waits for capacity.`,
        "From: the fake GitHub putting JobAssigned in the queue (its event hook). To: the worker's engine.start call (the simulated engine's start-call event). The k-th message is paired with the k-th start call (runners are not tied to jobs; the trickle keeps the order).",
        'Stages (by runner name, exact; BullMQ timestamps are whole ms): listener = message → start job added (poll, decision, registry reserve, enqueue); queue = added → picked up by a worker; worker = picked up → engine start call (registry reads and moves, engine inspect, JIT config from GitHub).',
      ],
      details: {
        jobsAssigned: emitted.length,
        startCalls: starts.length,
        negativePairs: negative,
        stageSamples: listenerStage.length,
        p90: p(delays, 90),
      },
    };
  } finally {
    await queue.close().catch(() => undefined);
    await d.stop();
  }
}

// Figure 1: a burst lands at once; how long until every runner is online, next to the ideal
// set by the engine's start latency and the workers' concurrency.
import type { BenchContext } from '../lib/context.mts';
import { nowMs, readEngineEvents, round, sleep, waitFor } from '../lib/measure.mts';
import { atMost, info, log, type ScenarioResult } from '../lib/report.mts';

/** Sizes of the burst (also used by the sequential baseline for its comparison). */
export function burstSize(quick: boolean): {
  jobs: number;
  workers: number;
  concurrency: number;
  latencyS: number;
} {
  return quick
    ? { jobs: 40, workers: 2, concurrency: 20, latencyS: 2 }
    : { jobs: 200, workers: 2, concurrency: 20, latencyS: 2 };
}

export async function burst(ctx: BenchContext): Promise<ScenarioResult> {
  const size = burstSize(ctx.quick);
  const name = 'bench-burst';
  const d = await ctx.deploy({
    scenario: 'burst',
    scaleSets: [{ name, maxRunners: size.jobs }],
    engine: { startLatency: `${size.latencyS}s`, runner: 'fake' },
    listeners: 2,
    workers: size.workers,
    concurrency: size.concurrency,
  });
  try {
    const scaleSetId = d.scaleSetId(name);
    const online: number[] = [];
    const unsubscribe = d.fake.onEvent((e) => {
      if (e.kind === 'runner-online' && e.scaleSetId === scaleSetId) {
        online.push(e.at);
      }
    });
    await sleep(1_000);
    log(`burst: ${size.jobs} jobs at once, max_runners ${size.jobs}`);
    const t0 = nowMs();
    d.fake.queueJobs(size.jobs, { scaleSetId, durationMs: 120_000 });
    await waitFor(
      `${size.jobs} runners online`,
      () => {
        d.checkAlive();
        return online.length >= size.jobs;
      },
      120_000,
      20,
    );
    unsubscribe();
    // Let the engines flush their event files (every ≤ 100 ms).
    await sleep(500);
    const allOnline = ((online[size.jobs - 1] ?? Number.NaN) - t0) / 1000;
    const events = readEngineEvents(d.eventFiles).filter((e) => e.t >= t0);
    const at = (kind: string, pick: 'first' | 'last'): number => {
      const list = events.filter((e) => e.e === kind);
      const e = pick === 'first' ? list[0] : list[list.length - 1];
      return e === undefined ? Number.NaN : round((e.t - t0) / 1000, 2);
    };
    const slots = size.workers * size.concurrency;
    const ideal = Math.ceil(size.jobs / slots) * size.latencyS;
    const ratio = allOnline / ideal;
    const counts = await d.registryCounts(scaleSetId);
    return {
      id: 'burst',
      title: `${size.jobs} jobs at once`,
      figures: [
        info('all runners online after', round(allOnline, 2), 's'),
        info('ideal ceil(N/slots) × latency', ideal, 's'),
        atMost('ratio to ideal', round(ratio, 3), 1.1),
        info('first engine start call after', at('start-call', 'first'), 's'),
        info('last engine start call after', at('start-call', 'last'), 's'),
        info('first runner online after', round(((online[0] ?? Number.NaN) - t0) / 1000, 2), 's'),
      ],
      method: [
        `${size.jobs} jobs queued on the fake GitHub in one call (max_runners ${size.jobs}); engine.simulated start_latency ${size.latencyS}s, runner: fake; ${size.workers} worker processes × concurrency ${size.concurrency}; 2 listener processes.`,
        'Time = from the queueing call to the moment the fake GitHub saw the last runner come online (its own event hook); ideal = ceil(N / (workers × concurrency)) × start latency.',
      ],
      details: {
        onlineOffsetsS: online.map((t) => round((t - t0) / 1000, 3)),
        engineStartCalls: events.filter((e) => e.e === 'start-call').length,
        engineStarted: events.filter((e) => e.e === 'started').length,
        engineRunnerOnline: events.filter((e) => e.e === 'runner-online').length,
        lastStartedS: at('started', 'last'),
        registryAtEnd: counts,
      },
    };
  } finally {
    await d.stop();
  }
}

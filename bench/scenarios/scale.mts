// Figure 5b: peak memory of each process with 10,000 live runners over 50 scale sets. The
// simulated engine runs with `runner: none` (instances exist, no fake runner and no long poll
// each), so 10,000 runners can sit idle; their jobs stay assigned, so nothing scales down.
import type { BenchContext } from '../lib/context.mts';
import { infoField, nowMs, procMemoryKb, round, sleep, waitFor } from '../lib/measure.mts';
import { info, log, type ScenarioResult } from '../lib/report.mts';

export async function scale(ctx: BenchContext): Promise<ScenarioResult> {
  const sets = ctx.quick ? 10 : 50;
  const perSet = ctx.quick ? 50 : 200;
  const target = sets * perSet;
  const names = Array.from(
    { length: sets },
    (_, i) => `bench-scale-${String(i + 1).padStart(2, '0')}`,
  );
  const d = await ctx.deploy({
    scenario: 'scale',
    scaleSets: names.map((name) => ({ name, maxRunners: perSet })),
    engine: { startLatency: '0', runner: 'none' },
    listeners: 2,
    workers: 2,
    concurrency: 20,
    reevaluateInterval: '5s',
    startupTimeout: '1h',
  });
  try {
    const ids = names.map((n) => d.scaleSetId(n));
    const liveTotal = async (): Promise<{ live: number; idle: number }> => {
      let live = 0;
      let idle = 0;
      for (const id of ids) {
        const c = await d.registryCounts(id);
        live += c['live'] ?? 0;
        idle += c['idle'] ?? 0;
      }
      return { live, idle };
    };
    const rssBefore = d.processes.map((p) => ({
      name: p.name,
      peakRssMiB: round(p.peakRssMiB() ?? Number.NaN, 1),
    }));
    log(`scale: ${perSet} long jobs on each of ${sets} scale sets → ${target} idle runners`);
    const t0 = nowMs();
    for (const id of ids) {
      d.fake.queueJobs(perSet, { scaleSetId: id, durationMs: 3_600_000 });
    }
    let last = 0;
    await waitFor(
      `${target} idle runners`,
      async () => {
        d.checkAlive();
        const { idle } = await liveTotal();
        if (idle - last >= 1_000) {
          last = idle;
          log(`scale: ${idle} idle runners after ${round((nowMs() - t0) / 1000, 1)} s`);
        }
        return idle >= target;
      },
      300_000,
      250,
    );
    const reachedS = (nowMs() - t0) / 1000;
    // Hold: a few re-evaluations of every scale set with 10,000 runners in the registry.
    await sleep(12_000);
    const { live, idle } = await liveTotal();
    const rssNow = d.processes.map((p) => ({
      name: p.name,
      rssMiB: p.running ? round((procMemoryKb(p.pid)?.rssKb ?? Number.NaN) / 1024, 1) : null,
    }));
    const peak = d.processes.map((p) => ({
      name: p.name,
      peakRssMiB: round(p.peakRssMiB() ?? Number.NaN, 1),
    }));
    const redisMiB = round((await infoField(d.redis, 'memory', 'used_memory')) / 1048576, 1);
    const redisPeakMiB = round(
      (await infoField(d.redis, 'memory', 'used_memory_peak')) / 1048576,
      1,
    );
    const byRole = (role: string): string =>
      peak
        .filter((p) => p.name.startsWith(role))
        .map((p) => p.peakRssMiB)
        .join(' / ');
    return {
      id: 'scale',
      title: `${target} live runners over ${sets} scale sets`,
      figures: [
        info('live runners held', live),
        info(`time to ${target} idle runners`, round(reachedS, 1), 's'),
        info('peak RSS listeners (VmHWM)', byRole('listener'), 'MiB'),
        info('peak RSS workers (VmHWM)', byRole('worker'), 'MiB'),
        info('Redis used_memory (peak)', `${redisMiB} (${redisPeakMiB})`, 'MiB'),
      ],
      method: [
        `${sets} scale sets × max_runners ${perSet} in one config file (scalesets: list); ${perSet} one-hour jobs queued on each, so each wants ${perSet} runners. Engine: simulated, start_latency 0, runner: none (an instance is a table entry; no fake runner, so 10,000 runners do not need 10,000 HTTP long polls; they stay idle and offline on GitHub, startup_timeout 1h keeps the reconciler off them).`,
        'Peak RSS = VmHWM from /proc/<pid>/status of each process after the runners were reached and held for 12 s (re-evaluation every 5 s); the first listener holds the leases it won at start-up, the other the rest.',
      ],
      details: {
        idle,
        rssAtStartMiB: rssBefore,
        peakRssMiB: peak,
        rssAtEndMiB: rssNow,
        startsPerS: round(target / reachedS, 1),
        leasesByListener: d.listeners.map((l) => ({
          name: l.name,
          sessions: (l.output().match(/message session created/g) ?? []).length,
        })),
      },
    };
  } finally {
    await d.stop();
  }
}

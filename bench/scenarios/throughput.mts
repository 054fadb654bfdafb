// Figures 4 and 5a: sustained runner lifecycles per second (start, job, destroy) with a
// zero-latency engine and two workers, and what each lifecycle costs in Redis commands, GitHub
// API calls and CPU, measured over the same window.
import type { BenchContext } from '../lib/context.mts';
import type { ScalesetProcess } from '../lib/deployment.mts';
import {
  commandStats,
  diffCounts,
  infoField,
  monitorRedis,
  nowMs,
  procCpuSeconds,
  procMemoryKb,
  readEngineEvents,
  redisClientOwners,
  round,
  sleep,
} from '../lib/measure.mts';
import { atLeast, atMost, info, log, type ScenarioResult } from '../lib/report.mts';

const FAKE_RUNNER_ENDPOINT = 'fake';

export async function throughput(ctx: BenchContext): Promise<ScenarioResult> {
  const warmupS = ctx.quick ? 5 : 10;
  const windowS = ctx.quick ? 10 : 60;
  const maxRunners = 200;
  const name = 'bench-throughput';
  const d = await ctx.deploy({
    scenario: 'throughput',
    scaleSets: [{ name, maxRunners }],
    engine: { startLatency: '0', runner: 'fake' },
    listeners: 2,
    workers: 2,
    concurrency: 20,
  });
  try {
    const scaleSetId = d.scaleSetId(name);
    let completed = 0;
    const unsubscribe = d.fake.onEvent((e) => {
      if (
        e.kind === 'job-message' &&
        e.scaleSetId === scaleSetId &&
        e.messageType === 'JobCompleted'
      ) {
        completed += 1;
      }
    });
    // Keep a backlog: every job that completes is replaced, so the scale set stays full.
    let queued = 0;
    const backlog = 2 * maxRunners;
    const topUp = (): void => {
      const missing = maxRunners + backlog - (queued - completed);
      if (missing > 0) {
        d.fake.queueJobs(missing, { scaleSetId, durationMs: 0 });
        queued += missing;
      }
    };
    const timer = setInterval(topUp, 50);
    try {
      await sleep(500);
      log(
        `throughput: backlog of ${maxRunners + backlog} zero-length jobs, ${warmupS} s warm-up, ${windowS} s window`,
      );
      topUp();
      await sleep(warmupS * 1000);
      d.checkAlive();
      const processes: { name: string; pid: number }[] = [
        ...d.processes.map((p: ScalesetProcess) => ({ name: p.name, pid: p.pid })),
        { name: 'redis-server', pid: d.redisServer.pid },
        { name: 'bench (fake GitHub)', pid: process.pid },
      ];
      const cpuBefore = processes.map((p) => procCpuSeconds(p.pid) ?? Number.NaN);
      const rssMiB = (): number[] =>
        processes.map((p) => round((procMemoryKb(p.pid)?.rssKb ?? Number.NaN) / 1024, 1));
      const rssBefore = rssMiB();
      const redisBefore = await commandStats(d.redis);
      const redisTotalBefore = await infoField(d.redis, 'stats', 'total_commands_processed');
      const githubBefore = { ...d.fake.stats().byEndpoint };
      const w0 = nowMs();
      await sleep(windowS * 1000);
      const w1 = nowMs();
      const githubAfter = { ...d.fake.stats().byEndpoint };
      const redisTotalAfter = await infoField(d.redis, 'stats', 'total_commands_processed');
      const redisAfter = await commandStats(d.redis);
      const cpuAfter = processes.map((p) => procCpuSeconds(p.pid) ?? Number.NaN);
      const rssAfter = rssMiB();
      d.checkAlive();
      // A second, shorter window under MONITOR (which slows Redis, so its rate is not
      // reported): every command a client sent, attributed to its process by TCP port, and
      // how many commands Lua scripts ran.
      const monitorS = ctx.quick ? 3 : 5;
      const owners = redisClientOwners(
        processes.filter((p) => p.name !== 'redis-server'),
        d.redisServer.port,
      );
      const sent = new Map<string, Map<string, number>>();
      let insideLua = 0;
      const stopMonitor = await monitorRedis(d.redisServer.port, ({ source, argv }) => {
        if (source === 'lua') {
          insideLua += 1;
          return;
        }
        const owner = owners.get(Number(source.split(':').pop())) ?? 'other';
        let command = (argv[0] ?? '?').toLowerCase();
        if (command === 'evalsha' || command === 'eval') {
          command += (argv[3] ?? '').startsWith('{bench}') ? ' bullmq' : ' registry';
        }
        const perOwner = sent.get(owner) ?? new Map<string, number>();
        perOwner.set(command, (perOwner.get(command) ?? 0) + 1);
        sent.set(owner, perOwner);
      });
      const m0 = nowMs();
      await sleep(monitorS * 1000);
      const m1 = nowMs();
      stopMonitor();
      clearInterval(timer);
      unsubscribe();
      await sleep(500);
      const allEvents = readEngineEvents(d.eventFiles);
      const monitored = Math.max(
        1,
        allEvents.filter((e) => e.e === 'destroyed' && e.t >= m0 && e.t < m1).length,
      );
      const roundTrips = [...sent].map(([owner, commands]) => ({
        owner,
        perLifecycle: round([...commands.values()].reduce((a, b) => a + b, 0) / monitored, 1),
        commands: Object.fromEntries(
          [...commands].sort((a, b) => b[1] - a[1]).map(([c, n]) => [c, round(n / monitored, 2)]),
        ),
      }));
      const sentBy = (prefix: string): number =>
        round(
          roundTrips
            .filter((r) => r.owner.startsWith(prefix))
            .reduce((a, r) => a + r.perLifecycle, 0),
          1,
        );
      const events = allEvents.filter((e) => e.t >= w0 && e.t < w1);
      const destroyed = events.filter((e) => e.e === 'destroyed').length;
      // Lifecycles per 10 s of the window: a falling series would be degradation, not noise.
      const buckets = Array.from({ length: Math.ceil(windowS / 10) }, () => 0);
      for (const e of events) {
        if (e.e === 'destroyed') {
          const i = Math.min(buckets.length - 1, Math.floor((e.t - w0) / 10_000));
          buckets[i] = (buckets[i] ?? 0) + 1;
        }
      }
      const started = events.filter((e) => e.e === 'started').length;
      const seconds = (w1 - w0) / 1000;
      const rate = destroyed / seconds;
      const lifecycles = Math.max(1, destroyed);

      const redisDiff = diffCounts(redisBefore, redisAfter).filter(([cmd]) => cmd !== 'info');
      const redisAll = redisDiff.reduce((sum, [, n]) => sum + n, 0);
      const redisTotal = redisTotalAfter - redisTotalBefore;
      const scripts = redisDiff
        .filter(([c]) => c === 'evalsha' || c === 'eval')
        .reduce((sum, [, n]) => sum + n, 0);
      const githubDiff: [string, number][] = Object.entries(githubAfter)
        .map(([k, v]): [string, number] => [
          k,
          v - (githubBefore[k as keyof typeof githubBefore] ?? 0),
        ])
        .filter(([, n]) => n > 0)
        .sort((a, b) => b[1] - a[1]);
      const githubApi = githubDiff
        .filter(([k]) => k !== FAKE_RUNNER_ENDPOINT)
        .reduce((sum, [, n]) => sum + n, 0);
      const runnerSide = githubDiff.find(([k]) => k === FAKE_RUNNER_ENDPOINT)?.[1] ?? 0;
      const cpu = processes.map((p, i) => ({
        name: p.name,
        cpuS: round((cpuAfter[i] ?? Number.NaN) - (cpuBefore[i] ?? Number.NaN), 2),
      }));
      const cpuMsPerLifecycle = (n: string): number =>
        round(((cpu.find((c) => c.name === n)?.cpuS ?? Number.NaN) * 1000) / lifecycles, 2);
      const perLc = (n: number): number => round(n / lifecycles, 1);
      return {
        id: 'throughput',
        title: `lifecycles per second over ${windowS} s, zero-latency engine`,
        figures: [
          atLeast('lifecycles/s (start + job + destroy)', round(rate, 1), 500, '/s'),
          info('starts/s in the window', round(started / seconds, 1), '/s'),
          atMost('Redis commands per lifecycle (all, incl. inside Lua)', perLc(redisAll), 40),
          info('Lua script calls per lifecycle (EVALSHA)', perLc(scripts)),
          info(
            'commands sent per lifecycle (MONITOR): listeners | workers',
            `${sentBy('listener')} | ${sentBy('worker')}`,
          ),
          info('commands run inside Lua per lifecycle (MONITOR)', round(insideLua / monitored, 1)),
          info(
            'top Redis commands per lifecycle',
            redisDiff
              .slice(0, 6)
              .map(([c, n]) => `${c} ${perLc(n)}`)
              .join(', '),
          ),
          info('GitHub API calls per lifecycle (scaleset)', round(githubApi / lifecycles, 2)),
          info(
            'GitHub API calls by endpoint',
            githubDiff
              .filter(([k]) => k !== FAKE_RUNNER_ENDPOINT)
              .map(([k, n]) => `${k} ${round(n / lifecycles, 2)}`)
              .join(', '),
          ),
          info('fake runner calls per lifecycle (not scaleset)', round(runnerSide / lifecycles, 2)),
          info(
            'CPU ms per lifecycle: listeners | workers | redis | fake',
            `${round(cpuMsPerLifecycle('listener-1') + cpuMsPerLifecycle('listener-2'), 2)} | ${round(cpuMsPerLifecycle('worker-1') + cpuMsPerLifecycle('worker-2'), 2)} | ${cpuMsPerLifecycle('redis-server')} | ${cpuMsPerLifecycle('bench (fake GitHub)')}`,
          ),
        ],
        method: [
          `One scale set, max_runners ${maxRunners}, kept full: ${maxRunners + backlog} zero-length jobs outstanding at all times (topped up every 50 ms). Engine start/destroy latency 0, runner: fake (online → job → exit in the worker process); 2 workers × 20, 2 listeners.`,
          `Lifecycles = the simulated engine's "destroyed" events in the ${windowS} s window after a ${warmupS} s warm-up. Redis: INFO commandstats deltas over the window (commands run inside Lua scripts and MULTI count, as Redis 7 counts them) ÷ lifecycles. GitHub: the fake's request counters by endpoint ÷ lifecycles; the fake runner's own calls are listed apart (a real runner talks to other GitHub endpoints). CPU: /proc/<pid>/stat deltas.`,
        ],
        details: {
          windowS: round(seconds, 2),
          destroyed,
          started,
          lifecyclesPer10s: buckets,
          jobsCompletedTotal: completed,
          redisTotalCommandsProcessed: perLc(redisTotal),
          monitor: {
            seconds: monitorS,
            lifecycles: monitored,
            insideLua: round(insideLua / monitored, 1),
            sentByProcess: roundTrips,
          },
          redisCommands: Object.fromEntries(redisDiff.map(([c, n]) => [c, perLc(n)])),
          github: Object.fromEntries(githubDiff.map(([k, n]) => [k, round(n / lifecycles, 2)])),
          cpuSeconds: cpu,
          rssMiBWindowStartEnd: processes.map((p, i) => ({
            name: p.name,
            start: rssBefore[i],
            end: rssAfter[i],
          })),
          peakRssMiB: d.processes.map((p) => ({
            name: p.name,
            peakRssMiB: round(p.peakRssMiB() ?? Number.NaN, 1),
          })),
        },
      };
    } finally {
      clearInterval(timer);
    }
  } finally {
    await d.stop();
  }
}

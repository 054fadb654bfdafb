// `npm run bench`: the performance figures of issue #11 (docs/performance.md). Runs the real
// listener and worker processes (the built binary) against a private redis-server and the fake
// GitHub service, with the simulated compute engine. Options:
//   --only <list>   scenarios to run, comma-separated (default: all):
//                   burst, sequential, overhead, throughput, scale, failover
//   --quick         smaller sizes, for a smoke run (figures are not comparable)
//   --out <file>    where the JSON goes (default bench/results/latest.json)
// Progress goes to stderr, the table to stdout. Run with Node 22.18+ (type stripping) after
// `npm run build`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { BenchContext } from './lib/context.mts';
import { Deployment, killEverything } from './lib/deployment.mts';
import { round } from './lib/measure.mts';
import { formatTable, log, type ScenarioResult } from './lib/report.mts';
import { ROOT, loadPrettier } from './lib/runtime.mts';
import { burst } from './scenarios/burst.mts';
import { failover } from './scenarios/failover.mts';
import { overhead } from './scenarios/overhead.mts';
import { scale } from './scenarios/scale.mts';
import { sequential } from './scenarios/sequential.mts';
import { throughput } from './scenarios/throughput.mts';

const SCENARIOS = ['burst', 'sequential', 'overhead', 'throughput', 'scale', 'failover'] as const;
type ScenarioId = (typeof SCENARIOS)[number];

/** Longest each scenario may take before it is stopped and reported as failed. */
const TIMEOUT_S: Record<ScenarioId, number> = {
  burst: 150,
  sequential: 150,
  overhead: 180,
  throughput: 180,
  scale: 420,
  failover: 240,
};

interface Args {
  readonly only: readonly ScenarioId[];
  readonly quick: boolean;
  readonly out: string;
}

function usage(): string {
  return [
    'usage: npm run bench -- [--only <list>] [--quick] [--out <file>]',
    `  --only   comma-separated, any of: ${SCENARIOS.join(', ')}`,
    '  --quick  smaller sizes, for a smoke run',
    '  --out    JSON file (default bench/results/latest.json)',
  ].join('\n');
}

function parseArgs(argv: readonly string[]): Args {
  let only: ScenarioId[] = [...SCENARIOS];
  let quick = false;
  let out = join(ROOT, 'bench', 'results', 'latest.json');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) {
        throw new Error(`${arg} needs a value\n${usage()}`);
      }
      return v;
    };
    if (arg === '--quick') {
      quick = true;
    } else if (arg === '--only') {
      const wanted = value()
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      const unknown = wanted.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
      if (unknown.length > 0 || wanted.length === 0) {
        throw new Error(`unknown scenario(s) ${unknown.join(', ')}\n${usage()}`);
      }
      only = SCENARIOS.filter((s) => wanted.includes(s));
    } else if (arg === '--out') {
      out = resolve(value());
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${usage()}\n`);
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${arg}\n${usage()}`);
    }
  }
  return { only, quick, out };
}

/** Runs `run` with a deadline; on timeout, stops the deployments it started. */
async function withTimeout(
  id: ScenarioId,
  deployments: Set<Deployment>,
  run: () => Promise<ScenarioResult>,
): Promise<ScenarioResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${TIMEOUT_S[id]} s`));
    }, TIMEOUT_S[id] * 1000);
  });
  try {
    return await Promise.race([run(), timeout]);
  } finally {
    clearTimeout(timer);
    await Promise.all([...deployments].map((d) => d.stop().catch(() => undefined)));
    deployments.clear();
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const workRoot = mkdtempSync(join(tmpdir(), 'scaleset-bench-'));
  const live = new Set<Deployment>();
  const ctx: BenchContext = {
    quick: args.quick,
    workRoot,
    deploy: async (options) => {
      log(
        `${options.scenario}: starting redis-server, fake GitHub, ${options.listeners} listeners, ${options.workers} workers`,
      );
      const d = await Deployment.start({ ...options, workRoot });
      live.add(d);
      return d;
    },
  };
  const started = Date.now();
  log(`scenarios: ${args.only.join(', ')}${args.quick ? ' (quick)' : ''}; work folder ${workRoot}`);
  const results: ScenarioResult[] = [];
  let burstOnlineS: number | undefined;
  for (const id of args.only) {
    const t = Date.now();
    log(`--- ${id} ---`);
    let result: ScenarioResult;
    try {
      result = await withTimeout(id, live, () => {
        switch (id) {
          case 'burst':
            return burst(ctx);
          case 'sequential':
            return sequential(ctx, burstOnlineS);
          case 'overhead':
            return overhead(ctx);
          case 'throughput':
            return throughput(ctx);
          case 'scale':
            return scale(ctx);
          case 'failover':
            return failover(ctx);
        }
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log(`${id} failed: ${message}`);
      result = { id, title: id, figures: [], method: [], details: {}, error: message };
    }
    result.wallS = round((Date.now() - t) / 1000, 1);
    if (id === 'burst') {
      const v = result.figures.find((f) => f.name === 'all runners online after')?.value;
      burstOnlineS = typeof v === 'number' ? v : undefined;
    }
    results.push(result);
  }
  const wallS = round((Date.now() - started) / 1000, 1);
  const report = {
    recordedAt: new Date().toISOString(),
    quick: args.quick,
    wallS,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? '?',
      memoryGiB: round(totalmem() / 2 ** 30, 1),
      node: process.version,
    },
    scenarios: results,
  };
  mkdirSync(dirname(args.out), { recursive: true });
  // Formatted as the repository's prettier would, so `npm run format:check` stays green.
  const { format } = loadPrettier();
  writeFileSync(args.out, await format(JSON.stringify(report), { parser: 'json' }));
  process.stdout.write(`\n${formatTable(results)}\n\nwall time ${wallS} s; JSON: ${args.out}\n`);
  const failed = results.filter((r) => r.error !== undefined);
  if (failed.length === 0) {
    rmSync(workRoot, { recursive: true, force: true });
  } else {
    log(`logs of the failed scenarios are kept in ${workRoot}`);
  }
  return failed.length === 0 ? 0 : 1;
}

process.on('exit', killEverything);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping every process this bench started`);
    killEverything();
    process.exit(130);
  });
}

main().then(
  (code) => {
    process.exit(code);
  },
  (err: unknown) => {
    log(err instanceof Error ? (err.stack ?? err.message) : String(err));
    killEverything();
    process.exitCode = 1;
  },
);

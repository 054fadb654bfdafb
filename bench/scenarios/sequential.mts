// Figure 2: the same burst through a sequential scaler, the design of the original Go tool and
// of the official example: poll a message, then inside the handler, for each runner needed,
// generate a JIT config and start it on the engine, one after another; then acknowledge.
// Runs in this process against its own fake GitHub and an in-process simulated engine with the
// same start latency as the burst scenario.
import type { BenchContext } from '../lib/context.mts';
import { median, nowMs, round, sleep, waitFor } from '../lib/measure.mts';
import { atLeast, info, log, type ScenarioResult } from '../lib/report.mts';
import { loadCompute, loadScaleset, loadTesting } from '../lib/runtime.mts';
import { burstSize } from './burst.mts';

/** Jobs the sequential baseline really runs (its time is extrapolated to the burst's size). */
export function sequentialJobs(quick: boolean): number {
  return quick ? 5 : 20;
}

/**
 * `burstOnlineS`: the scaleset burst's measured time to all runners online (figure 1), for the
 * speed-up; `undefined` when the burst scenario did not run.
 */
export async function sequential(
  ctx: BenchContext,
  burstOnlineS: number | undefined,
): Promise<ScenarioResult> {
  const { FakeGitHub } = loadTesting();
  const { ScaleSetClient } = loadScaleset();
  const { SimulatedEngine } = loadCompute();
  const size = burstSize(ctx.quick);
  const jobs = sequentialJobs(ctx.quick);
  const fake = new FakeGitHub({ pollTimeoutMs: 5_000 });
  await fake.start();
  const client = new ScaleSetClient({
    configUrl: fake.configUrl('org'),
    auth: { kind: 'pat', token: fake.pat },
    proxy: 'none',
  });
  const engine = new SimulatedEngine(
    {
      ownerId: 'bench-sequential',
      startLatencyMs: size.latencyS * 1000,
      destroyLatencyMs: 0,
      jitter: 0,
      failureRate: 0,
      capacity: 0,
      runner: 'fake',
      runnerLifetimeMs: 0,
    },
    {
      eventsPath: null,
      logger: {
        warn: (m) => {
          log(`sequential engine: ${m}`);
        },
        debug: () => undefined,
      },
    },
  );
  const stop = new AbortController();
  let loop: Promise<void> = Promise.resolve();
  try {
    const name = 'bench-sequential';
    const group = await client.getRunnerGroupByName('Default');
    const scaleSet = await client.createRunnerScaleSet({
      name,
      runnerGroupId: group.id,
      labels: [{ type: 'System', name }],
    });
    const session = await client.createMessageSessionClient(scaleSet.id, 'bench-sequential');
    const online: number[] = [];
    const jitMs: number[] = [];
    fake.onEvent((e) => {
      if (e.kind === 'runner-online' && e.scaleSetId === scaleSet.id) {
        online.push(e.at);
      }
    });
    // The sequential scaler: everything a message implies happens before the next poll.
    let running = 0;
    let next = 1;
    loop = (async () => {
      let lastMessageId = 0;
      while (!stop.signal.aborted) {
        const message = await session.getMessage(lastMessageId, jobs, stop.signal);
        if (message === null) {
          continue;
        }
        running -= message.jobCompletedMessages.length;
        const desired = Math.min(jobs, message.statistics?.totalAssignedJobs ?? 0);
        while (running < desired && !aborted(stop.signal)) {
          const runnerName = `seq-runner-${next++}`;
          const before = nowMs();
          const jit = await client.generateJitRunnerConfig(scaleSet.id, { name: runnerName });
          jitMs.push(nowMs() - before);
          await engine.start(
            {
              name: runnerName,
              jitConfig: jit.encodedJITConfig,
              scaleSetId: scaleSet.id,
              scaleSetName: name,
            },
            stop.signal,
          );
          running += 1;
        }
        await session.deleteMessage(message.messageId);
        lastMessageId = message.messageId;
      }
    })().catch((err: unknown) => {
      if (!stop.signal.aborted) {
        throw err;
      }
    });
    await sleep(500);
    log(
      `sequential: ${jobs} jobs at once through the sequential scaler (${size.latencyS} s starts)`,
    );
    const t0 = nowMs();
    fake.queueJobs(jobs, { scaleSetId: scaleSet.id, durationMs: 300_000 });
    await waitFor(
      `${jobs} runners online`,
      () => online.length >= jobs,
      jobs * size.latencyS * 3_000 + 30_000,
      20,
    );
    const measured = ((online[jobs - 1] ?? Number.NaN) - t0) / 1000;
    const perRunner = measured / jobs;
    const extrapolated = perRunner * size.jobs;
    const speedUp = burstOnlineS === undefined ? Number.NaN : extrapolated / burstOnlineS;
    return {
      id: 'sequential',
      title: 'sequential scaler baseline',
      figures: [
        info(`measured: ${jobs} runners online after`, round(measured, 2), 's'),
        info('per runner (sequential)', round(perRunner, 3), 's'),
        info(`extrapolated to ${size.jobs} runners`, round(extrapolated, 1), 's'),
        info(
          `scaleset, ${size.jobs} runners (burst, measured)`,
          burstOnlineS === undefined ? null : round(burstOnlineS, 2),
          's',
        ),
        atLeast('speed-up (extrapolated ÷ measured)', round(speedUp, 1), 20, '×'),
      ],
      method: [
        `Measured: ${jobs} jobs at once through a sequential scaler in the bench process (poll → for each runner needed: generate JIT config, SimulatedEngine.start with ${size.latencyS} s latency, runner: fake → ack), against its own fake GitHub; time from queueing to the last runner online on the fake.`,
        `Extrapolated linearly to ${size.jobs} runners (× ${size.jobs / jobs}): the loop does one start at a time, so its time grows linearly with the count (JIT call median ${round(median(jitMs), 1)} ms + ${size.latencyS} s per runner). The speed-up divides this by figure 1's measured time.`,
      ],
      details: {
        onlineOffsetsS: online.map((t) => round((t - t0) / 1000, 3)),
        jitMs: jitMs.map((v) => round(v, 1)),
      },
    };
  } finally {
    stop.abort();
    await loop.catch(() => undefined);
    await engine.close();
    await client.close();
    await fake.stop();
  }
}

// A call, so the loop condition is re-read after the awaits inside the loop.
function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

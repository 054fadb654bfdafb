// Figure 6: SIGKILL of the listener holding the session; seconds until the standby's first
// successful poll (its first get-message request, read from the fake's request log).
import type { BenchContext } from '../lib/context.mts';
import type { ScalesetProcess } from '../lib/deployment.mts';
import { median, nowMs, round, sleep, waitFor } from '../lib/measure.mts';
import { atMost, info, log, type ScenarioResult } from '../lib/report.mts';

const LEASE_TTL_S = 3;

/** Whether the current run of `p` holds the session now (its last session line is newer than its last loss). */
function leads(p: ScalesetProcess): boolean {
  if (!p.running) {
    return false;
  }
  const lines = p.output().split('\n');
  const created = lines.findLastIndex((l) => l.includes('message session created'));
  const lost = lines.findLastIndex(
    (l) => l.includes('lease lost') || l.includes('stepping down') || l.includes('lease released'),
  );
  return created >= 0 && created > lost;
}

export async function failover(ctx: BenchContext): Promise<ScenarioResult> {
  const reps = ctx.quick ? 3 : 10;
  const name = 'bench-failover';
  const d = await ctx.deploy({
    scenario: 'failover',
    scaleSets: [{ name, maxRunners: 10 }],
    engine: { startLatency: '0', runner: 'fake' },
    listeners: 2,
    workers: 1,
    concurrency: 4,
    leaseTtl: `${LEASE_TTL_S}s`,
    fake: { pollTimeoutMs: 1_000 },
  });
  try {
    const gaps: number[] = [];
    const sessionGaps: number[] = [];
    for (let rep = 1; rep <= reps; rep++) {
      const leader = await waitFor(
        'a listener holding the session',
        () => d.listeners.find(leads),
        30_000,
        100,
      );
      const standby = d.listeners.find((p) => p !== leader);
      if (standby === undefined || !standby.running) {
        throw new Error('no standby listener');
      }
      // Let the standby settle into its retry loop, at a random phase of the lease.
      await sleep(1_000 + Math.random() * 1_000);
      const killedAt = nowMs();
      await leader.kill('SIGKILL');
      const poll = await waitFor(
        'the standby to poll',
        () =>
          d.fake
            .requestsFor('getMessage')
            .find((r) => r.at > killedAt && (r.status === 200 || r.status === 202)),
        30_000,
        50,
      );
      const created = d.fake
        .requestsFor('createSession')
        .find((r) => r.at > killedAt && r.status === 200);
      const gap = (poll.at - killedAt) / 1000;
      gaps.push(gap);
      if (created !== undefined) {
        sessionGaps.push((created.at - killedAt) / 1000);
      }
      log(`failover ${rep}/${reps}: first poll of the standby ${round(gap, 2)} s after SIGKILL`);
      // As an orchestrator would, start the killed replica again; it becomes the standby.
      leader.start();
      await d.waitStarted([leader]);
    }
    return {
      id: 'failover',
      title: `SIGKILL of the session holder, ${reps} times`,
      figures: [
        info('lease_ttl', LEASE_TTL_S, 's'),
        atMost('median kill → standby first poll', round(median(gaps), 2), 10, 's'),
        atMost('max kill → standby first poll', round(Math.max(...gaps), 2), 10, 's'),
        info('median kill → new session', round(median(sessionGaps), 2), 's'),
      ],
      method: [
        `2 listener processes, lease_ttl ${LEASE_TTL_S}s; each repetition SIGKILLs the listener holding the session, measures until the fake GitHub receives the first get-message request (answered 200/202) after the kill, then starts the killed process again as the new standby.`,
        `Bounded by the lease TTL (the dead leader's lease must expire: up to ${LEASE_TTL_S} s, less the time since its last renewal) (the standby retries when the holder's lease expires, at most 2 s apart) plus deleting the old session and creating one (a few ms against the fake).`,
      ],
      details: {
        gapsS: gaps.map((g) => round(g, 3)),
        sessionGapsS: sessionGaps.map((g) => round(g, 3)),
      },
    };
  } finally {
    await d.stop();
  }
}

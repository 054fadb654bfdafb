import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ComputeEngines } from '@app/compute';
import { bullPrefix, redisClientOptions, type ScalesetConfig } from '@app/config';
import { JobProducer, QUEUES, producerConnectionOptions } from '@app/queue';
import { RunnerRegistry } from '@app/registry';
import { ScaleSetClient, scaleSetClientOptionsFromConfig } from '@app/scaleset';
import type { Logger } from '@app/telemetry';
import {
  BullReconcileJobs,
  reconcileSettings,
  redisClock,
  RedisReconcileState,
} from './reconcile.adapters';
import { resolveScaleSetId } from './reconcile.scheduler';
import { RECONCILE_RULES, Reconciler, type ReconcileReport } from './reconciler';

/**
 * `scaleset reconcile --once`: one pass over every configured scale set with the real
 * registry, GitHub client, engines and queues, then closes everything. Destroys are enqueued
 * as `destroy-runner` jobs, so a worker must run for them to happen. Scale sets not on GitHub
 * yet are skipped (logged).
 */
export async function runReconcileOnce(
  config: ScalesetConfig,
  logger: Logger,
): Promise<ReconcileReport[]> {
  const log = logger.child({ role: 'reconcile' });
  const redisOptions = redisClientOptions(config.redis);
  const redis = new Redis(config.redis.url, { ...redisOptions, maxRetriesPerRequest: 3 });
  const connection = producerConnectionOptions(config.redis.url, redisOptions);
  const prefix = bullPrefix(config.redis);
  const runners = new Queue(QUEUES.runners, { connection, prefix });
  const reconcile = new Queue(QUEUES.reconcile, { connection, prefix });
  const github = new ScaleSetClient(
    scaleSetClientOptionsFromConfig(config, { subsystem: 'cli', logger: log }),
  );
  const engines = new ComputeEngines(config.scaleSets, config.deployment.id);
  try {
    const reconciler = new Reconciler({
      registry: new RunnerRegistry(redis, { prefix: config.redis.prefix }),
      github,
      engines,
      jobs: new BullReconcileJobs(new JobProducer({ runners, reconcile }), runners),
      state: new RedisReconcileState(redis, config.redis.prefix),
      clock: redisClock(redis),
      logger: log,
      settings: reconcileSettings(config),
    });
    const reports: ReconcileReport[] = [];
    for (const scaleSet of config.scaleSets) {
      const id = await resolveScaleSetId(github, scaleSet);
      if (id === null) {
        log.warn(
          { scaleSet: scaleSet.name },
          'scale set not found on GitHub; nothing to reconcile',
        );
        continue;
      }
      reports.push(await reconciler.reconcile({ id, name: scaleSet.name }));
    }
    return reports;
  } finally {
    await github.close();
    await engines.close();
    await runners.close();
    await reconcile.close();
    redis.disconnect();
  }
}

/** Human-readable summary of {@link runReconcileOnce}'s reports, one block per scale set. */
export function formatReconcileReport(reports: readonly ReconcileReport[]): string {
  if (reports.length === 0) {
    return 'no scale set reconciled\n';
  }
  const lines: string[] = [];
  for (const r of reports) {
    const counted = RECONCILE_RULES.filter((rule) => r.counts[rule] > 0).map(
      (rule) => `${rule}=${r.counts[rule]}`,
    );
    const summary = counted.length === 0 ? 'nothing to repair' : counted.join(' ');
    lines.push(
      `${r.scaleSetName} (scale set ${r.scaleSetId})${r.rebuilt ? ' [registry rebuilt]' : ''}: ${summary}`,
    );
    for (const a of r.actions) {
      lines.push(`  ${a.rule} ${a.runner}: ${a.action}${a.detail === '' ? '' : ` (${a.detail})`}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

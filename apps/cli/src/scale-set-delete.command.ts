import { Redis } from 'ioredis';
import { redisClientOptions, type ScalesetConfig } from '@app/config';
import { ComputeEngines } from '@app/compute';
import { RUNNER_STATES, RunnerRegistry, scaleSetKeys } from '@app/registry';
import {
  JobStillRunningError,
  RunnerNotFoundError,
  runnerGroupId,
  ScaleSetClient,
  scaleSetClientOptionsFromConfig,
} from '@app/scaleset';
import type { Logger } from '@app/telemetry';

/** What `scaleset scaleset delete` did for one scale set. */
export interface ScaleSetDeleteReport {
  readonly name: string;
  readonly found: boolean;
  readonly scaleSetId?: number;
  readonly computeDestroyed: number;
  readonly registrationsRemoved: number;
  readonly busyRegistrations: number;
}

/**
 * Deletes configured scale sets on purpose (stopping scaleset never does): destroys every
 * compute resource this deployment has for them, removes their runner registrations,
 * deletes the scale set on GitHub, and drops its Redis state. Stop the listeners first, or
 * a running one re-creates the scale set.
 */
export async function deleteScaleSets(
  config: ScalesetConfig,
  names: readonly string[],
  logger: Logger,
): Promise<ScaleSetDeleteReport[]> {
  const selected = config.scaleSets.filter((s) => names.length === 0 || names.includes(s.name));
  const unknown = names.filter((n) => !config.scaleSets.some((s) => s.name === n));
  if (unknown.length > 0) {
    throw new Error(`not in the configuration: ${unknown.join(', ')}`);
  }
  const client = new ScaleSetClient(
    scaleSetClientOptionsFromConfig(config, { subsystem: 'cli', logger }),
  );
  const redis = new Redis(config.redis.url, {
    ...redisClientOptions(config.redis),
    maxRetriesPerRequest: 3,
  });
  const registry = new RunnerRegistry(redis, { prefix: config.redis.prefix });
  const engines = new ComputeEngines(config.scaleSets, config.deployment.id);
  const reports: ScaleSetDeleteReport[] = [];
  try {
    for (const s of selected) {
      const scaleSet = await client.getRunnerScaleSetByName(
        await runnerGroupId(client, s.runnerGroup),
        s.name,
      );
      if (scaleSet === null) {
        reports.push({
          name: s.name,
          found: false,
          computeDestroyed: 0,
          registrationsRemoved: 0,
          busyRegistrations: 0,
        });
        continue;
      }
      const engine = engines.for(s.name);
      let computeDestroyed = 0;
      for (const instance of await engine.list({
        owner: config.deployment.id,
        scaleSetId: scaleSet.id,
      })) {
        await engine.destroy({ name: instance.name });
        computeDestroyed += 1;
      }
      let registrationsRemoved = 0;
      let busyRegistrations = 0;
      for (const state of RUNNER_STATES) {
        for (const runner of await registry.list(scaleSet.id, state)) {
          const runnerId =
            runner.runnerId ?? (await client.getRunnerByName(runner.name))?.id ?? undefined;
          if (runnerId === undefined) {
            continue;
          }
          try {
            await client.removeRunner(runnerId);
            registrationsRemoved += 1;
          } catch (err) {
            if (err instanceof JobStillRunningError) {
              // Its compute is gone; deleting the scale set below drops the registration.
              busyRegistrations += 1;
            } else if (!(err instanceof RunnerNotFoundError)) {
              throw err;
            }
          }
        }
      }
      await client.deleteRunnerScaleSet(scaleSet.id);
      const keys = await scanKeys(redis, scaleSetKeys(config.redis.prefix, scaleSet.id).pattern);
      if (keys.length > 0) {
        await redis.del(...keys);
      }
      reports.push({
        name: s.name,
        found: true,
        scaleSetId: scaleSet.id,
        computeDestroyed,
        registrationsRemoved,
        busyRegistrations,
      });
    }
  } finally {
    await client.close();
    await engines.close();
    redis.disconnect();
  }
  return reports;
}

async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

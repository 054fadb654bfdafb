import type { ScaleSetConfig } from '@app/config';
import { runnerGroupId, type RunnerScaleSet, type ScaleSetClient } from '@app/scaleset';
import type { Logger } from '@app/telemetry';

/** The labels a scale set gets: its name first, then the configured ones, without duplicates. */
export function scaleSetLabels(config: Pick<ScaleSetConfig, 'name' | 'labels'>): string[] {
  return [...new Set([config.name, ...config.labels])];
}

function sameLabels(current: RunnerScaleSet, wanted: readonly string[]): boolean {
  const have = new Set(current.labels.map((l) => l.name));
  return have.size === wanted.length && wanted.every((l) => have.has(l));
}

/**
 * Makes the scale set on GitHub match the configuration: resolves the runner group, gets
 * the scale set by name or creates it, and updates its labels when they differ. Never
 * deletes anything (that is `scaleset scaleset delete`).
 */
export async function ensureScaleSet(
  client: Pick<
    ScaleSetClient,
    | 'getRunnerGroupByName'
    | 'getRunnerScaleSetByName'
    | 'createRunnerScaleSet'
    | 'updateRunnerScaleSet'
  >,
  config: Pick<ScaleSetConfig, 'name' | 'labels' | 'runnerGroup'>,
  logger: Logger,
  signal?: AbortSignal,
): Promise<RunnerScaleSet> {
  const groupId = await runnerGroupId(client, config.runnerGroup, signal);
  const labels = scaleSetLabels(config);
  const existing = await client.getRunnerScaleSetByName(groupId, config.name, signal);
  if (existing === null) {
    const created = await client.createRunnerScaleSet(
      {
        name: config.name,
        runnerGroupId: groupId,
        labels: labels.map((name) => ({ type: 'System', name })),
        runnerSetting: { disableUpdate: true },
      },
      signal,
    );
    logger.info({ scaleSetId: created.id, labels }, 'scale set created');
    return created;
  }
  if (!sameLabels(existing, labels)) {
    const updated = await client.updateRunnerScaleSet(
      existing.id,
      {
        labels: labels.map((name) => ({ type: 'System', name })),
        runnerSetting: { disableUpdate: true },
      },
      signal,
    );
    logger.info({ scaleSetId: existing.id, labels }, 'scale set labels updated');
    return updated;
  }
  logger.info({ scaleSetId: existing.id }, 'scale set found');
  return existing;
}

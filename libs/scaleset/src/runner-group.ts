import type { RunnerGroup } from './scaleset.types';

/** GitHub's built-in runner group; the SDK and ARC use its id without a lookup (§4.1). */
export const DEFAULT_RUNNER_GROUP_ID = 1;

/**
 * The id of a runner group by name: `Default` (any case) is {@link DEFAULT_RUNNER_GROUP_ID}
 * without a call, as the SDK and ARC do; any other name is looked up (§4.1), and an unknown
 * one is a `RunnerGroupNotFoundError`.
 */
export async function runnerGroupId(
  lookup: {
    getRunnerGroupByName(name: string, signal?: AbortSignal): Promise<RunnerGroup>;
  },
  name: string,
  signal?: AbortSignal,
): Promise<number> {
  return name.toLowerCase() === 'default'
    ? DEFAULT_RUNNER_GROUP_ID
    : (await lookup.getRunnerGroupByName(name, signal)).id;
}

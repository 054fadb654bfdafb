import { seconds, type Figure } from './figures';
import { sleep, SYSTEM_SETTINGS, waitUntil, type SystemHarness } from './system.harness';

/** What {@link checkInvariants} needs to know about the scenario. */
export interface InvariantInput {
  /** Jobs queued on the fake during the scenario (I4). */
  readonly jobs: number;
  /** When the last fault stopped (epoch ms); I3 is checked two reconcile periods after it. */
  readonly faultsEndedAt: number;
  /** When the last job completed (epoch ms): I1 waits for a reconcile pass started after it. */
  readonly quietAt: number;
  /** When the scenario started its work (epoch ms): reconcile repairs are summed from here. */
  readonly startedAt: number;
}

/**
 * Checks the five invariants at the end of a scenario, after every job completed, and
 * returns their figures:
 * - I1: after the work is done, a reconcile pass runs within one period, and then registry,
 *   GitHub and engine agree (idle runners beyond demand may still be on their way out: the
 *   listener's scale-down grace and re-evaluation interval decide when they go);
 * - I2: the sampler never saw more live runners (registry or running containers) than
 *   `max_runners`, and no runner name had two containers;
 * - I3: two reconcile periods after the faults stopped, no container or registration exists
 *   without a live registry entry, and the views still agree;
 * - I4: every job completed `succeeded`, each on its own runner;
 * - I5: no secret in any process log or any Redis key;
 * plus: no process exited unless the test stopped it.
 */
export async function checkInvariants(
  h: SystemHarness,
  input: InvariantInput,
): Promise<Record<string, Figure>> {
  const s = SYSTEM_SETTINGS;
  // I4
  expect(h.jobProblems(input.jobs)).toEqual([]);

  // I1
  const pass = await waitUntil(
    'a reconcile pass after the work is done',
    async () => (await h.reconcilePasses(input.quietAt))[0],
    s.reconcileIntervalMs + 5_000,
  );
  const agreed = await h.viewsAgree(s.scaleDownGraceMs + s.reevaluateIntervalMs + 3_000);
  const agreedAt = Date.now();

  // I3
  const checkAt = input.faultsEndedAt + 2 * s.reconcileIntervalMs;
  await sleep(Math.max(0, checkAt - Date.now()));
  expect(await h.leaks()).toEqual([]);
  await h.viewsAgree(1_000);

  // I2
  const sampled = await h.stopSampler();
  expect(sampled.samples).toBeGreaterThan(20);
  expect(sampled.violations).toEqual([]);
  expect(sampled.maxRegistryLive).toBeLessThanOrEqual(h.options.maxRunners);
  expect(sampled.maxLiveContainers).toBeLessThanOrEqual(h.options.maxRunners);
  expect(sampled.duplicateContainers).toEqual([]);

  // I5
  const scan = await h.scanForSecrets();
  expect(scan.jitConfigs).toBeGreaterThan(0);
  expect(scan.redisKeysScanned).toBeGreaterThan(0);
  expect(scan.leaks).toEqual([]);

  expect(h.unexpectedExits()).toEqual([]);

  const repairs = await h.reconcileRepairs(input.startedAt);
  return {
    i1ReconcilePassAfterS: seconds(input.quietAt, pass.finishedAt),
    i1AgreeAfterS: seconds(input.quietAt, agreedAt),
    i1RunnersAtRest: Object.keys(agreed.views.registry).length,
    i2Samples: sampled.samples,
    i2BlindSamples: sampled.blindSamples,
    i2MaxRegistryLive: sampled.maxRegistryLive,
    i2MaxLiveContainers: sampled.maxLiveContainers,
    i2MaxRunningContainersInclExiting: sampled.maxRunningContainers,
    containersStarted: sampled.containersSeen,
    i5SecretsChecked: scan.secrets,
    i5JitConfigsCaptured: scan.jitConfigs,
    i5RedisKeysScanned: scan.redisKeysScanned,
    i5LogLinesScanned: scan.logLinesScanned,
    peakRequestsPerSecond: h.fake.stats().peakRequestsPerSecond,
    reconcileRepairs: JSON.stringify(repairs),
  };
}

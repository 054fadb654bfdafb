import type { OwnerLabels, RunnerSpec } from './compute.engine';
import { EngineConfigError, type EngineKind } from './errors';

/** Prefix reserved for scaleset's own labels; user labels may not use it. */
export const RUNNER_LABEL_PREFIX = 'io.scaleset.';

/**
 * The labels every runner resource carries (design brief guarantee 5), keyed by their
 * logical name. Docker uses these keys as they are; cloud engines map the logical names to
 * their provider's label/tag rules.
 */
export const RUNNER_LABELS = {
  owner: 'io.scaleset.owner',
  scaleSetId: 'io.scaleset.scale-set-id',
  scaleSetName: 'io.scaleset.scale-set-name',
  runnerName: 'io.scaleset.runner-name',
} as const;

/** Logical name of one of scaleset's own labels. */
export type RunnerLabelName = keyof typeof RUNNER_LABELS;

/** What scaleset's own labels say about a resource. */
export interface RunnerLabelValues {
  /** Owner (deployment id). */
  readonly owner: string;
  /** Scale set id, or `null` when missing or not a number. */
  readonly scaleSetId: number | null;
  /** Scale set name, or `null` when missing. */
  readonly scaleSetName: string | null;
  /** Runner name, or `null` when missing. */
  readonly runnerName: string | null;
}

/**
 * Refuses label sets that try to set scaleset's own keys, so a user label can never forge or
 * hide the owner label. Throws {@link EngineConfigError} naming `field`.
 */
export function assertNoReservedLabels(
  labels: Readonly<Record<string, string>> | undefined,
  field: string,
): void {
  for (const key of Object.keys(labels ?? {})) {
    if (key.startsWith(RUNNER_LABEL_PREFIX)) {
      throw new EngineConfigError(
        `${field}.${key}`,
        `label keys starting with "${RUNNER_LABEL_PREFIX}" are reserved for scaleset`,
      );
    }
  }
}

/**
 * The checks every engine makes on a runner spec before any call, apart from the name (whose
 * rules are the provider's): a JIT config, a scale set id, no reserved label keys. Throws
 * {@link EngineConfigError} naming the field.
 */
export function assertRunnerSpec(
  spec: Pick<RunnerSpec, 'jitConfig' | 'scaleSetId' | 'labels'>,
  engine: EngineKind,
): void {
  if (spec.jitConfig === '') {
    throw new EngineConfigError('spec.jitConfig', 'must not be empty', { engine });
  }
  if (!Number.isSafeInteger(spec.scaleSetId) || spec.scaleSetId < 0) {
    throw new EngineConfigError('spec.scaleSetId', 'must be a non-negative integer', { engine });
  }
  assertNoReservedLabels(spec.labels, 'spec.labels');
}

/**
 * The full label set of a runner resource: `extra` (engine-wide), then the spec's own labels,
 * then scaleset's labels, which always win.
 */
export function buildRunnerLabels(
  ownerId: string,
  spec: Pick<RunnerSpec, 'name' | 'scaleSetId' | 'scaleSetName' | 'labels'>,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return {
    ...extra,
    ...spec.labels,
    [RUNNER_LABELS.owner]: ownerId,
    [RUNNER_LABELS.scaleSetId]: String(spec.scaleSetId),
    [RUNNER_LABELS.scaleSetName]: spec.scaleSetName,
    [RUNNER_LABELS.runnerName]: spec.name,
  };
}

/** The `key=value` pairs that select `owner`'s resources (Docker label filters use these). */
export function ownerLabelSelector(owner: OwnerLabels): Record<string, string> {
  const selector: Record<string, string> = { [RUNNER_LABELS.owner]: owner.owner };
  if (owner.scaleSetId !== undefined) {
    selector[RUNNER_LABELS.scaleSetId] = String(owner.scaleSetId);
  }
  return selector;
}

/** Whether a resource's labels match `owner` (and its scale set, when given). */
export function matchesOwner(
  labels: Readonly<Record<string, string>> | null | undefined,
  owner: OwnerLabels,
): boolean {
  if (!labels) {
    return false;
  }
  return Object.entries(ownerLabelSelector(owner)).every(([key, value]) => labels[key] === value);
}

/** Reads scaleset's labels from a resource; `null` when it carries no owner label. */
export function readRunnerLabels(
  labels: Readonly<Record<string, string>> | null | undefined,
): RunnerLabelValues | null {
  const owner = labels?.[RUNNER_LABELS.owner];
  if (!labels || owner === undefined || owner === '') {
    return null;
  }
  const rawId = labels[RUNNER_LABELS.scaleSetId];
  const scaleSetId = rawId !== undefined && /^\d+$/.test(rawId) ? Number(rawId) : null;
  return {
    owner,
    scaleSetId,
    scaleSetName: labels[RUNNER_LABELS.scaleSetName] ?? null,
    runnerName: labels[RUNNER_LABELS.runnerName] ?? null,
  };
}

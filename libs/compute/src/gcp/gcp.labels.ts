import { createHash } from 'node:crypto';
import type { OwnerLabels, RunnerSpec } from '../compute.engine';
import { EngineConfigError } from '../errors';
import { RUNNER_LABEL_PREFIX } from '../runner.labels';

/**
 * GCP label keys of scaleset's own labels (design brief guarantee 5). GCP keys allow only
 * lower-case letters, digits, `_` and `-`, so the engine-neutral `io.scaleset.*` keys are
 * mapped to `scaleset-*`.
 */
export const GCP_RUNNER_LABELS = {
  owner: 'scaleset-owner',
  scaleSetId: 'scaleset-scale-set-id',
  scaleSetName: 'scaleset-scale-set',
  runnerName: 'scaleset-runner',
} as const;

/** Label keys with this prefix belong to scaleset; user labels may not use it. */
export const RESERVED_GCP_LABEL_PREFIX = 'scaleset-';

/**
 * Instance metadata keys scaleset writes besides `startup-script`. The `*-name` keys keep
 * the exact runner and scale set names when a label value had to be altered.
 */
export const GCP_METADATA_KEYS = {
  jitConfig: 'scaleset-jit-config',
  jitDigest: 'scaleset-jit-digest',
  runnerName: 'scaleset-runner-name',
  scaleSetName: 'scaleset-scale-set-name',
  startupHook: 'scaleset-startup-hook',
  startupScript: 'startup-script',
  guestAttributes: 'enable-guest-attributes',
} as const;

/** GCP's rule for label keys: a lower-case letter, then up to 62 of `[a-z0-9_-]`. */
export const GCP_LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
/** GCP's rule for label values: up to 63 of `[a-z0-9_-]` (empty allowed). */
export const GCP_LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
/** GCP allows 64 labels per resource. */
export const MAX_GCP_LABELS = 64;

/**
 * Maps any string to a valid GCP label value, deterministically: lower-cased, accents
 * dropped, every other character outside `[a-z0-9_-]` replaced by `-`. A value that had to
 * be changed and is too long is cut to 54 characters plus `-` and 8 hex digits of its
 * SHA-256, so two long names that share a prefix stay distinct.
 */
export function gcpLabelValue(value: string): string {
  if (GCP_LABEL_VALUE.test(value)) {
    return value;
  }
  const mapped = value
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '-');
  if (mapped.length <= 63) {
    return mapped;
  }
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 8);
  return `${mapped.slice(0, 54)}-${hash}`;
}

/**
 * The GCP labels of a runner VM: config labels, then the spec's labels (values mapped with
 * {@link gcpLabelValue}), then scaleset's own, which always win. Throws
 * {@link EngineConfigError} for spec label keys that are not valid GCP keys or are reserved.
 */
export function buildGcpLabels(
  ownerId: string,
  spec: Pick<RunnerSpec, 'name' | 'scaleSetId' | 'scaleSetName' | 'labels'>,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const labels: Record<string, string> = { ...extra };
  for (const [key, value] of Object.entries(spec.labels ?? {})) {
    if (
      !GCP_LABEL_KEY.test(key) ||
      key.startsWith(RESERVED_GCP_LABEL_PREFIX) ||
      key.startsWith(RUNNER_LABEL_PREFIX)
    ) {
      throw new EngineConfigError(
        `spec.labels.${key}`,
        `must be a GCP label key (a lower-case letter, then letters, digits, "_" or "-") not starting with "${RESERVED_GCP_LABEL_PREFIX}"`,
        { engine: 'gcp' },
      );
    }
    labels[key] = gcpLabelValue(value);
  }
  labels[GCP_RUNNER_LABELS.owner] = ownerId;
  labels[GCP_RUNNER_LABELS.scaleSetId] = String(spec.scaleSetId);
  labels[GCP_RUNNER_LABELS.scaleSetName] = gcpLabelValue(spec.scaleSetName);
  labels[GCP_RUNNER_LABELS.runnerName] = gcpLabelValue(spec.name);
  if (Object.keys(labels).length > MAX_GCP_LABELS) {
    throw new EngineConfigError(
      'engine.gcp.labels',
      `a runner VM would carry more than ${MAX_GCP_LABELS} labels (GCP's limit); drop some`,
      { engine: 'gcp' },
    );
  }
  return labels;
}

function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * The Compute API list filter selecting `owner`'s VMs, for example
 * `(labels.scaleset-owner = "d1") AND (labels.scaleset-scale-set-id = "7")`.
 */
export function gcpOwnerFilter(owner: OwnerLabels): string {
  const parts = [`(labels.${GCP_RUNNER_LABELS.owner} = ${quoted(owner.owner)})`];
  if (owner.scaleSetId !== undefined) {
    parts.push(`(labels.${GCP_RUNNER_LABELS.scaleSetId} = ${quoted(String(owner.scaleSetId))})`);
  }
  return parts.join(' AND ');
}

/** Whether a VM's labels match `owner` (and its scale set, when given). */
export function matchesGcpOwner(
  labels: Readonly<Record<string, string>> | null | undefined,
  owner: OwnerLabels,
): boolean {
  if (!labels || labels[GCP_RUNNER_LABELS.owner] !== owner.owner) {
    return false;
  }
  return (
    owner.scaleSetId === undefined ||
    labels[GCP_RUNNER_LABELS.scaleSetId] === String(owner.scaleSetId)
  );
}

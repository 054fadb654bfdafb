import {
  DESTROY_REASONS,
  JOB_NAMES,
  toAnyJob,
  type DestroyReason,
  type DestroyRunnerPayload,
  type StartRunnerPayload,
} from '@app/queue';
import { isValidRunnerName } from '@app/registry';
import type { Job } from 'bullmq';
import { InvalidJobError } from './errors';

/** A `runners` queue job whose payload was checked field by field. */
export type RunnersJob =
  | { readonly name: 'start-runner'; readonly payload: StartRunnerPayload }
  | { readonly name: 'destroy-runner'; readonly payload: DestroyRunnerPayload };

/**
 * Checks a job taken from the `runners` queue: a known name for this queue and a payload with
 * the fields the listener writes. Throws {@link InvalidJobError} (permanent) naming the field,
 * never echoing a value. `scaleSets` are the scale set names this deployment serves.
 */
export function parseRunnersJob(job: Job, scaleSets: ReadonlySet<string>): RunnersJob {
  let typed;
  try {
    typed = toAnyJob(job);
  } catch {
    throw new InvalidJobError(job.name, job.id, 'its name is not a job scaleset knows');
  }
  const fail = (problem: string): never => {
    throw new InvalidJobError(job.name, job.id, problem);
  };
  const data: unknown = typed.data;
  if (typeof data !== 'object' || data === null) {
    return fail('its payload is not an object');
  }
  const d = data as Record<string, unknown>;
  const scaleSetId = d['scaleSetId'];
  const scaleSetName = d['scaleSetName'];
  const runnerName = d['runnerName'];
  if (typeof scaleSetId !== 'number' || !Number.isSafeInteger(scaleSetId) || scaleSetId <= 0) {
    return fail('scaleSetId must be a positive integer');
  }
  if (typeof scaleSetName !== 'string' || scaleSetName === '') {
    return fail('scaleSetName must be a non-empty string');
  }
  if (!scaleSets.has(scaleSetName)) {
    return fail(`scale set "${scaleSetName}" is not in this deployment's configuration`);
  }
  if (typeof runnerName !== 'string' || !isValidRunnerName(runnerName)) {
    return fail('runnerName must be a runner name (lower-case letters, digits, hyphens)');
  }
  const epoch = d['epoch'];
  const base = {
    scaleSetId,
    scaleSetName,
    runnerName,
    ...(typeof epoch === 'number' && Number.isSafeInteger(epoch) ? { epoch } : {}),
  };
  switch (typed.name) {
    case JOB_NAMES.startRunner:
      return { name: typed.name, payload: base };
    case JOB_NAMES.destroyRunner: {
      const reason = d['reason'];
      if (!isDestroyReason(reason)) {
        return fail(`reason must be one of ${DESTROY_REASONS.join(', ')}`);
      }
      return { name: typed.name, payload: { ...base, reason } };
    }
    case JOB_NAMES.reconcile:
      return fail('reconcile jobs belong on the reconcile queue, not on the runners queue');
  }
}

function isDestroyReason(value: unknown): value is DestroyReason {
  return typeof value === 'string' && (DESTROY_REASONS as readonly string[]).includes(value);
}

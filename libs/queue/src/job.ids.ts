import { InvalidJobIdError } from './errors';

const MAX_JOB_ID_LENGTH = 128;

/**
 * Throws unless `jobId` is safe as a BullMQ custom id: non-empty, at most 128 characters, no
 * `:` (BullMQ builds keys with it) and not all digits (clashes with generated ids).
 */
export function assertValidJobId(jobId: string): void {
  if (jobId.length === 0 || jobId.length > MAX_JOB_ID_LENGTH) {
    throw new InvalidJobIdError(jobId, `must be 1 to ${MAX_JOB_ID_LENGTH} characters`);
  }
  if (jobId.includes(':')) {
    throw new InvalidJobIdError(jobId, 'must not contain ":"');
  }
  if (/^\d+$/.test(jobId)) {
    throw new InvalidJobIdError(jobId, 'must not be all digits');
  }
}

function build(id: string): string {
  assertValidJobId(id);
  return id;
}

/** `start-<runnerName>`: one start job per runner, however often it is enqueued. */
export function startRunnerJobId(runnerName: string): string {
  return build(`start-${runnerName}`);
}

/**
 * `destroy-<runnerName>`: one destroy job per runner (JobCompleted, timeouts and reconcile
 * agree). A scale-down gets its own id, `destroy-<runnerName>-scale-down`: it may end with
 * the runner kept (GitHub answers JobStillRunning), and the retained job must not swallow
 * the runner's real destroy later.
 */
export function destroyRunnerJobId(runnerName: string, reason?: string): string {
  return build(
    reason === 'scale-down' ? `destroy-${runnerName}-scale-down` : `destroy-${runnerName}`,
  );
}

/** `reconcile-<scaleSetId>`: the id of the scale set's repeatable reconcile job scheduler. */
export function reconcileSchedulerId(scaleSetId: number): string {
  return build(`reconcile-${scaleSetId}`);
}

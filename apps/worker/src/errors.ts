/**
 * The worker's error vocabulary (style.md 9). Each says what happened, with ids, and what to
 * do; none carries a JIT config or token. Whether BullMQ retries is decided in one place,
 * job-errors.ts.
 */

/** Base class of the worker's own errors. */
export abstract class WorkerError extends Error {}

/**
 * A job's payload or name is not one this worker can run: a foreign or older producer, a
 * queue mix-up, or a scale set this deployment does not serve. Retrying cannot help.
 */
export class InvalidJobError extends WorkerError {
  override readonly name = 'InvalidJobError';

  constructor(
    readonly jobName: string,
    readonly jobId: string | undefined,
    readonly problem: string,
  ) {
    super(
      `Job ${jobId ?? '(no id)'} (${jobName}) cannot be run: ${problem}. It was failed without ` +
        'retries; check that every listener and worker of this deployment runs the same ' +
        'version and configuration.',
    );
  }
}

/**
 * GitHub already has a runner with this name, and it belongs to another scale set: the name
 * is not ours to remove or reuse.
 */
export class RunnerNameTakenError extends WorkerError {
  override readonly name = 'RunnerNameTakenError';

  constructor(
    readonly runnerName: string,
    readonly scaleSetId: number,
    readonly otherScaleSetId: number,
  ) {
    super(
      `Runner name ${runnerName} is registered with scale set ${otherScaleSetId}, not ` +
        `${scaleSetId}; scaleset never removes another scale set's runner. The start was ` +
        'abandoned; a new runner with another name replaces it.',
    );
  }
}

/**
 * The runner's compute exists but its runner has already exited: the JIT config was used and
 * must never be used again (field lessons 8). The start is abandoned and the runner replaced.
 */
export class RunnerComputeExitedError extends WorkerError {
  override readonly name = 'RunnerComputeExitedError';

  constructor(
    readonly runnerName: string,
    readonly exitCode: number | undefined,
  ) {
    super(
      `The compute of runner ${runnerName} has already exited` +
        `${exitCode === undefined ? '' : ` (exit code ${exitCode})`}; a used runner is never ` +
        'restarted. It is destroyed and replaced.',
    );
  }
}

/** The runner's compute is being removed right now; the start is retried later. */
export class RunnerComputeBusyError extends WorkerError {
  override readonly name = 'RunnerComputeBusyError';

  constructor(
    readonly runnerName: string,
    readonly engineState: string,
  ) {
    super(
      `The compute of runner ${runnerName} is ${engineState}; the start is retried once the ` +
        'engine has finished with it.',
    );
  }
}

/**
 * GitHub refused to remove the runner's registration because its job is still running
 * (`JobStillRunningException`). The destroy is tried again after `retryAfterMs`, as ARC does.
 */
export class RunnerStillBusyError extends WorkerError {
  override readonly name = 'RunnerStillBusyError';

  constructor(
    readonly runnerName: string,
    readonly runnerId: number,
    readonly retryAfterMs: number,
    options?: ErrorOptions,
  ) {
    super(
      `GitHub still runs a job on runner ${runnerName} (id ${runnerId}), so its registration ` +
        `cannot be removed yet; trying again in ${Math.round(retryAfterMs / 1000)} s.`,
      options,
    );
  }
}

/** Base class of every error the queue lib throws. */
export abstract class QueueError extends Error {}

/** A job id that BullMQ would mishandle: empty, containing `:`, or all digits. */
export class InvalidJobIdError extends QueueError {
  override readonly name = 'InvalidJobIdError';

  constructor(
    readonly jobId: string,
    readonly problem: string,
  ) {
    super(
      `Invalid job id "${jobId}": ${problem}. Build ids with the job id builders of @app/queue ` +
        '(BullMQ job-ids.md: custom ids must not contain ":" nor be integers).',
    );
  }
}

/**
 * A job payload field was rejected before anything was enqueued. Payloads carry ids and names
 * only; the message names the field, never echoes its value (it might be a secret).
 */
export class InvalidJobPayloadError extends QueueError {
  override readonly name = 'InvalidJobPayloadError';

  constructor(
    readonly jobName: string,
    readonly field: string,
    readonly problem: string,
  ) {
    super(`Invalid ${field} in a ${jobName} job payload: ${problem}. Nothing was enqueued.`);
  }
}

/** A Redis URL the connection factories cannot use. The message never includes credentials. */
export class InvalidRedisUrlError extends QueueError {
  override readonly name = 'InvalidRedisUrlError';

  constructor(
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(
      `Invalid Redis URL: ${problem}. Expected redis://[user:password@]host[:port][/db] or rediss://…`,
      options,
    );
  }
}

/** A job whose name is not one of ours reached a processor. Retrying it cannot help. */
export class UnknownJobError extends QueueError {
  override readonly name = 'UnknownJobError';

  constructor(
    readonly jobName: string,
    readonly jobId: string | undefined,
  ) {
    super(
      `Unknown job name "${jobName}" (job ${jobId ?? 'without id'}). Known names are in ` +
        'JOB_NAMES of @app/queue; is a producer of another version writing to this queue?',
    );
  }
}

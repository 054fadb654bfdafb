/**
 * Every attribute name scaleset puts on spans and metrics, in one place (style.md 17, like
 * bullmq's `TelemetryAttributes`). Span attributes keep the original Go tool's names
 * (`runner.name`, `job.result`, `scaleset.desired_count`, …). Metric attributes are Prometheus
 * label names (`[a-z_]+`), so the OTLP and the Prometheus exports carry the same labels.
 *
 * Never put a secret here: no JIT config, token, key or URL with credentials.
 */
export const TelemetryAttributes = {
  // Spans
  /** Runner (and compute resource) name. */
  runnerName: 'runner.name',
  /** GitHub's numeric runner id. */
  runnerId: 'runner.id',
  /** `JobStarted`/`JobCompleted` job id. */
  jobId: 'job.id',
  jobResult: 'job.result',
  jobDisplayName: 'job.display_name',
  jobRunnerRequestId: 'job.runner_request_id',
  /** Scale set name and GitHub id. */
  scaleSetName: 'scaleset.name',
  scaleSetId: 'scaleset.id',
  /** `totalAssignedJobs` from the statistics. */
  desiredCount: 'scaleset.desired_count',
  /** Live runners (reserved, provisioning, idle, busy) before the decision. */
  currentCount: 'scaleset.current_count',
  /** `min(max, min + totalAssignedJobs)`. */
  targetCount: 'scaleset.target_count',
  /** `up`, `down` or `none`. */
  scaleAction: 'scaleset.scale_action',
  scaleDelta: 'scaleset.scale_delta',
  /** The listener's lease epoch (fencing token). */
  epoch: 'scaleset.epoch',
  /** Why a runner is destroyed (`job-completed`, `scale-down`, …). */
  destroyReason: 'scaleset.destroy_reason',
  /** What a worker job did (`started`, `adopted`, `destroyed`, `kept`, `skipped`, …). */
  outcome: 'scaleset.outcome',
  /** BullMQ job id and attempt. */
  queueJobId: 'messaging.message.id',
  queueJobAttempt: 'scaleset.job.attempt',
  /** Compute engine kind and the engine's id of the resource. */
  engineKind: 'engine.kind',
  engineId: 'engine.id',
  /** Error code of a failed call (`IMAGE_NOT_FOUND`, `TIMEOUT`, …), never a message with data. */
  errorCode: 'error.type',

  // Metric labels
  labelScaleSet: 'scale_set',
  labelState: 'state',
  labelResult: 'result',
  labelAction: 'action',
  labelReason: 'reason',
  labelEngine: 'engine',
  labelOperation: 'operation',
  labelCode: 'code',
  labelMethod: 'method',
  labelEndpoint: 'endpoint',
  labelStatus: 'status',
  labelQueue: 'queue',
  labelResource: 'resource',
} as const;

/** One of {@link TelemetryAttributes}' values. */
export type TelemetryAttribute = (typeof TelemetryAttributes)[keyof typeof TelemetryAttributes];

/** Attribute values: strings, numbers and booleans only. */
export type AttributeValue = string | number | boolean;

/** Span or metric attributes. */
export type Attributes = Readonly<Partial<Record<TelemetryAttribute, AttributeValue>>>;

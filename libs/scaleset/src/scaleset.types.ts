/** The zero timestamp of the protocol (Go's zero `time.Time`). */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** The nil UUID the SDK sends as `sessionId` when creating a session. */
export const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** A scale set label (§5.1); `type` is `System` for everything the client sends. */
export interface RunnerScaleSetLabel {
  readonly type: string;
  readonly name: string;
}

/** Runner settings of a scale set (§5.2); false flags are omitted on the wire. */
export interface RunnerSetting {
  readonly disableUpdate?: boolean;
  readonly ephemeral?: boolean;
  readonly isElastic?: boolean;
}

/** Scale set counters (§5.4). `totalAssignedJobs` is the scaling signal. */
export interface RunnerScaleSetStatistic {
  readonly totalAvailableJobs: number;
  readonly totalAcquiredJobs: number;
  readonly totalAssignedJobs: number;
  readonly totalRunningJobs: number;
  readonly totalRegisteredRunners: number;
  readonly totalBusyRunners: number;
  readonly totalIdleRunners: number;
}

/** A runner scale set as returned by the service (§5.3); missing fields are zero values. */
export interface RunnerScaleSet {
  readonly id: number;
  readonly name: string;
  readonly runnerGroupId: number;
  readonly runnerGroupName: string;
  readonly labels: readonly RunnerScaleSetLabel[];
  /** Decoded from `runnerSetting` or `RunnerSetting` (any case). */
  readonly runnerSetting: RunnerSetting;
  /** RFC 3339; {@link ZERO_TIME} when absent. */
  readonly createdOn: string;
  readonly runnerJitConfigUrl: string;
  readonly statistics: RunnerScaleSetStatistic | null;
}

/**
 * What create/update accept: any subset of {@link RunnerScaleSet}; label types may be
 * left empty (they become `System`). A full `RunnerScaleSet` is accepted too.
 */
export interface RunnerScaleSetInput {
  readonly id?: number;
  readonly name?: string;
  readonly runnerGroupId?: number;
  readonly runnerGroupName?: string;
  readonly labels?: readonly { readonly type?: string; readonly name: string }[];
  readonly runnerSetting?: RunnerSetting;
  readonly createdOn?: string;
  readonly runnerJitConfigUrl?: string;
  readonly statistics?: RunnerScaleSetStatistic | null;
}

/** A runner group (§5.5). The default group has id 1. */
export interface RunnerGroup {
  readonly id: number;
  readonly name: string;
  readonly size: number;
  readonly isDefaultGroup: boolean;
}

/** A registered runner (§5.6). Optional fields appear when the service sends them. */
export interface RunnerReference {
  readonly id: number;
  readonly name: string;
  readonly runnerScaleSetId: number;
  /** e.g. `online` / `offline`. */
  readonly status?: string;
  readonly busy?: boolean;
  readonly ephemeral?: boolean;
  readonly enabled?: boolean;
}

/** Request of generate-JIT-config (§4.7). */
export interface RunnerScaleSetJitRunnerSetting {
  readonly name: string;
  /** Empty (the runner's default) unless set. */
  readonly workFolder?: string;
}

/**
 * Response of generate-JIT-config (§5.7). `encodedJITConfig` is a secret: it is a
 * non-enumerable property, so `JSON.stringify` and `util.inspect` of this object leave
 * it out; read it explicitly where the runner is started.
 */
export interface RunnerScaleSetJitRunnerConfig {
  readonly runner: RunnerReference;
  readonly encodedJITConfig: string;
}

/**
 * A message session (§5.8). `messageQueueAccessToken` is a secret; a session handed
 * over without it still works (the first queue call gets 401 and refreshes).
 */
export interface RunnerScaleSetSession {
  readonly sessionId: string;
  readonly ownerName: string;
  readonly runnerScaleSet: RunnerScaleSet | null;
  readonly messageQueueUrl: string;
  readonly messageQueueAccessToken: string;
  readonly statistics: RunnerScaleSetStatistic | null;
}

/** Fields common to every job message (§6.2). Timestamps are RFC 3339 strings. */
export interface JobMessageBase {
  readonly runnerRequestId: number;
  readonly repositoryName: string;
  readonly ownerName: string;
  readonly jobId: string;
  readonly jobWorkflowRef: string;
  readonly jobDisplayName: string;
  readonly workflowRunId: number;
  readonly eventName: string;
  readonly requestLabels: readonly string[];
  readonly queueTime: string;
  readonly scaleSetAssignTime: string;
  readonly runnerAssignTime: string;
  readonly finishTime: string;
}

/** A job this scale set may acquire (acquire flow, GHES). */
export interface JobAvailable extends JobMessageBase {
  readonly messageType: 'JobAvailable';
  readonly acquireJobUrl: string;
}

/** A job assigned to this scale set. */
export interface JobAssigned extends JobMessageBase {
  readonly messageType: 'JobAssigned';
}

/** A runner of this scale set picked the job up. */
export interface JobStarted extends JobMessageBase {
  readonly messageType: 'JobStarted';
  readonly runnerId: number;
  readonly runnerName: string;
}

/** A job finished or was cancelled; runner fields are 0/empty if no runner took it. */
export interface JobCompleted extends JobMessageBase {
  readonly messageType: 'JobCompleted';
  readonly result: string;
  readonly runnerId: number;
  readonly runnerName: string;
}

/** Any job message the client understands. */
export type JobMessage = JobAvailable | JobAssigned | JobStarted | JobCompleted;

/** A parsed long-poll message (§6.1); job messages keep arrival order per type. */
export interface RunnerScaleSetMessage {
  readonly messageId: number;
  readonly messageType: 'RunnerScaleSetJobMessages';
  /** The SDK tolerates a missing `statistics`; so does this parser (then `null`). */
  readonly statistics: RunnerScaleSetStatistic | null;
  readonly jobAvailableMessages: readonly JobAvailable[];
  readonly jobAssignedMessages: readonly JobAssigned[];
  readonly jobStartedMessages: readonly JobStarted[];
  readonly jobCompletedMessages: readonly JobCompleted[];
}

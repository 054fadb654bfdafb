/**
 * Types of the fake GitHub service. The wire types are defined here on purpose instead of
 * being imported from `@app/scaleset`: the fake speaks JSON and must stay independent of the
 * client it is used to test.
 */

/** Every GitHub / Actions service endpoint the fake serves, named like the upstream SDK calls. */
export const ENDPOINT_NAMES = [
  'installationToken',
  'registrationToken',
  'runnerRegistration',
  'getRunnerGroup',
  'getScaleSetByName',
  'getScaleSet',
  'createScaleSet',
  'updateScaleSet',
  'deleteScaleSet',
  'generateJitConfig',
  'getRunner',
  'getRunnerByName',
  'removeRunner',
  'createSession',
  'refreshSession',
  'deleteSession',
  'getMessage',
  'deleteMessage',
  'acquireJobs',
] as const;

/** Name of one GitHub / Actions service endpoint (the unit of fault injection and counters). */
export type EndpointName = (typeof ENDPOINT_NAMES)[number];

/** What a recorded request hit: a protocol endpoint, the fake's own API, or nothing known. */
export type RecordedEndpoint = EndpointName | 'fake' | 'unknown';

/** One request as the fake saw it, recorded after its response was sent. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. `/tenant/123/_apis/runtime/runnerscalesets`. */
  path: string;
  query: Record<string, string>;
  /** Header names in lower case; repeated headers joined with `, `. */
  headers: Record<string, string>;
  body: string;
  status: number;
  endpoint: RecordedEndpoint;
  /** Epoch milliseconds at which the request arrived. */
  at: number;
}

/**
 * A scripted fault. It applies to the next `times` requests of `endpoint` (or of every
 * protocol endpoint with `'*'`) and is then forgotten.
 */
export interface FakeFault {
  endpoint: EndpointName | '*';
  /** Answer with this status instead of handling the request. */
  status?: number;
  /** Response body for `status`; defaults to a JSON error body. */
  body?: string;
  /** Content type of `body`; default `application/json; charset=utf-8`. */
  contentType?: string;
  /** Extra response headers, e.g. `{ 'Retry-After': '2' }`. */
  headers?: Record<string, string>;
  /** Wait this long before answering (or before handling normally when no `status`). */
  delayMs?: number;
  /**
   * How many matching requests the fault applies to. Default 1, or unlimited when
   * `probability` or `untilMs` is set.
   */
  times?: number;
  /** Answer with an empty body (status `status`, default 200) instead of handling the request. */
  emptyBody?: boolean;
  /** Handle the request normally but prefix the response body with a UTF-8 BOM. */
  bom?: boolean;
  /** Chance (0..1) that a matching request is affected; default 1. */
  probability?: number;
  /**
   * End of the fault's window: a duration in ms from injection, or an absolute epoch-ms
   * timestamp when larger than 10^12.
   */
  untilMs?: number;
}

/** How jobs reach a scale set: GHES-like acquire flow or github.com-like direct assignment. */
export type FakeJobMode = 'assign' | 'acquire';

/** Construction options of {@link FakeGitHub}. */
export interface FakeGitHubOptions {
  /** How long a get-message long poll is held before 202. Default 50 000 (production). */
  pollTimeoutMs?: number;
  /** Default `'assign'`. */
  mode?: FakeJobMode;
  /** Lifetime of admin tokens from `actions/runner-registration`. Default 600. */
  adminTokenTtlSec?: number;
  /** Organization name of the config URL. Default `test-org`. */
  org?: string;
  /** Prefix every JSON response body with a UTF-8 BOM. */
  bom?: boolean;
  /** Default duration of a job on a runner (what the fake runner sleeps). Default 1000. */
  jobDurationMs?: number;
  /** Cancel and reassign a job no runner started within this time (up to 3 times). Off by default. */
  reassignAfterMs?: number;
  /** Expire a session after this long without polling (a stale session of a dead process). Off by default. */
  sessionIdleExpiryMs?: number;
  /** How long the runner-side job poll is held before 204. Default 20 000. */
  runnerPollTimeoutMs?: number;
  /** Keep at most this many recorded requests (oldest dropped; counters stay exact). Default 100 000. */
  maxRecordedRequests?: number;
}

/** Options of {@link FakeGitHub.queueJobs}. */
export interface QueueJobsOptions {
  /** `runs-on` labels; a job matches a scale set having all of them. Default: any scale set. */
  labels?: string[];
  /** How long the runner works on the job. Default: the fake's `jobDurationMs`. */
  durationMs?: number;
  /** Result the runner reports. Default `succeeded`. */
  result?: string;
  /** Bind the jobs to this scale set instead of matching labels. */
  scaleSetId?: number;
}

/** Identifies a queued job. */
export interface JobHandle {
  jobId: string;
  runnerRequestId: number;
}

/**
 * Lifecycle of a job in the fake: `pending` (not offered yet), `available` (JobAvailable sent),
 * `acquired`, `assigned` (JobAssigned sent), `running` (JobStarted sent), `completed`.
 */
export type FakeJobState =
  'pending' | 'available' | 'acquired' | 'assigned' | 'running' | 'completed';

/** A job as the fake sees it. */
export interface JobView extends JobHandle {
  state: FakeJobState;
  labels: string[];
  scaleSetId: number | null;
  runnerId: number | null;
  runnerName: string | null;
  durationMs: number;
  /** Result the runner should report (or reported, once completed). */
  result: string;
  /** How many times the job was cancelled for lack of a runner and assigned again. */
  reassignments: number;
}

/** Connection state of a runner registration: `offline` until its process says it is online. */
export type FakeRunnerStatus = 'offline' | 'online' | 'busy';

/** A runner registration as the fake sees it. */
export interface RunnerView {
  id: number;
  name: string;
  scaleSetId: number;
  status: FakeRunnerStatus;
  jobId: string | null;
  /** Registered by the control API with no process behind it. */
  planted: boolean;
}

/** The seven counters of a scale set (`RunnerScaleSetStatistic`). */
export interface ScaleSetStatistics {
  totalAvailableJobs: number;
  totalAcquiredJobs: number;
  totalAssignedJobs: number;
  totalRunningJobs: number;
  totalRegisteredRunners: number;
  totalBusyRunners: number;
  totalIdleRunners: number;
}

/** Scale set label on the wire. */
export interface WireLabel {
  type: string;
  name: string;
}

/** `RunnerScaleSet` as the fake answers it. */
export interface WireScaleSet {
  id: number;
  name: string;
  runnerGroupId: number;
  runnerGroupName: string;
  labels: WireLabel[];
  runnerSetting: Record<string, unknown>;
  createdOn: string;
  runnerJitConfigUrl: string;
  getAcquirableJobsUrl: string;
  acquireJobsUrl: string;
  statistics: ScaleSetStatistics;
  status: string;
  enabled: boolean;
}

/** `RunnerGroup` on the wire. */
export interface WireRunnerGroup {
  id: number;
  name: string;
  size: number;
  isDefaultGroup: boolean;
}

/** A message session as the fake sees it. */
export interface SessionView {
  sessionId: string;
  scaleSetId: number;
  ownerName: string;
  createdAt: number;
  lastPollAt: number;
  /** Long polls currently held open. */
  pendingPolls: number;
}

/** One job message inside an envelope body (fields of every type merged; see §6.2). */
export interface WireJobMessage {
  messageType: 'JobAvailable' | 'JobAssigned' | 'JobStarted' | 'JobCompleted';
  runnerRequestId: number;
  repositoryName: string;
  ownerName: string;
  jobId: string;
  jobWorkflowRef: string;
  jobDisplayName: string;
  workflowRunId: number;
  eventName: string;
  requestLabels: string[];
  queueTime: string;
  scaleSetAssignTime: string;
  runnerAssignTime: string;
  finishTime: string;
  acquireJobUrl?: string;
  runnerId?: number;
  runnerName?: string;
  result?: string;
}

/** Message envelope (§6.1). */
export interface WireMessage {
  messageId: number;
  messageType: 'RunnerScaleSetJobMessages';
  body: string;
  statistics: ScaleSetStatistics;
}

/** Request counters of the fake. */
export interface FakeGitHubStats {
  total: number;
  /** Only endpoints seen at least once have a key. */
  byEndpoint: Partial<Record<RecordedEndpoint, number>>;
  /** Highest number of requests that arrived within one wall-clock second. */
  peakRequestsPerSecond: number;
}

/** Behaviour switches that can be changed while the fake runs. */
export interface FakeBehaviour {
  mode?: FakeJobMode;
  pollTimeoutMs?: number;
  /** `null` turns reassignment off. */
  reassignAfterMs?: number | null;
  /** `null` turns session expiry off. */
  sessionIdleExpiryMs?: number | null;
  /** Swallow every `JobCompleted` job message (the job still completes server-side). */
  dropJobCompleted?: boolean;
  /** Deliver each of the next N envelopes twice (the copy with its own, later id). */
  duplicateMessages?: number;
  /** Reverse the order of the job messages inside each of the next N envelopes. */
  reorderMessages?: number;
  bom?: boolean;
}

/**
 * Something the fake service did, reported to {@link FakeGitHub.onEvent} listeners as it
 * happens (benchmarks time the pipeline from these). `at` is epoch milliseconds with
 * sub-millisecond precision (`performance.timeOrigin + performance.now()`).
 */
export type FakeServiceEvent =
  | {
      /** A job message was put in the scale set's queue: the next poll can receive it. */
      kind: 'job-message';
      at: number;
      scaleSetId: number;
      messageType: WireJobMessage['messageType'];
      jobId: string;
      runnerRequestId: number;
    }
  | {
      /** A runner registration went from offline to online (its process connected). */
      kind: 'runner-online';
      at: number;
      scaleSetId: number;
      runnerName: string;
    };

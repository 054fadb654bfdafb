import { randomBytes, randomUUID } from 'node:crypto';
import { encodeFakeJitConfig } from '../fake-runner/fake-jit-config.codec';
import { MESSAGE_QUEUE_PATH, TENANT_PATH } from './fake-github.routes';
import type {
  FakeJobMode,
  FakeJobState,
  FakeRunnerStatus,
  FakeServiceEvent,
  JobHandle,
  JobView,
  QueueJobsOptions,
  RunnerView,
  ScaleSetStatistics,
  SessionView,
  WireJobMessage,
  WireLabel,
  WireMessage,
  WireRunnerGroup,
  WireScaleSet,
} from './fake-github.types';

/** Assembly-qualified exception names the fake answers with (clients match by substring). */
export const EXCEPTIONS = {
  scaleSetNotFound:
    'GitHub.Actions.Runtime.WebApi.RunnerScaleSetNotFoundException, GitHub.Actions.Runtime.WebApi',
  // The real status and name for a duplicate scale set name are unknown (protocol §12.4).
  scaleSetExists:
    'GitHub.Actions.Runtime.WebApi.RunnerScaleSetExistsException, GitHub.Actions.Runtime.WebApi',
  runnerGroupNotFound:
    'GitHub.Actions.Runtime.WebApi.RunnerGroupNotFoundException, GitHub.Actions.Runtime.WebApi',
  agentExists:
    'GitHub.DistributedTask.WebApi.TaskAgentExistsException, GitHub.DistributedTask.WebApi',
  agentNotFound:
    'GitHub.DistributedTask.WebApi.TaskAgentNotFoundException, GitHub.DistributedTask.WebApi',
  jobStillRunning:
    'GitHub.DistributedTask.WebApi.JobStillRunningException, GitHub.DistributedTask.WebApi',
  sessionConflict:
    'GitHub.Actions.Runtime.WebApi.RunnerScaleSetSessionConflictException, GitHub.Actions.Runtime.WebApi',
  sessionExpired:
    'GitHub.Actions.Runtime.WebApi.RunnerScaleSetSessionExpiredException, GitHub.Actions.Runtime.WebApi',
  runnerAdmin: 'GitHub.Actions.Runtime.WebApi.RunnerAdminException, GitHub.Actions.Runtime.WebApi',
  argument: 'System.ArgumentException, mscorlib',
} as const;

/** A refusal of the fake Actions service, turned into an HTTP error response by the server. */
export class FakeServiceError extends Error {
  override readonly name = 'FakeServiceError';

  constructor(
    readonly status: number,
    readonly typeName: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** What the runner-side job poll answers; all strings so a shell script can parse it. */
export interface RunnerJobAssignment {
  jobId: string;
  runnerRequestId: string;
  durationMs: string;
  durationSec: string;
  result: string;
}

/** Tunables the state reads on every decision (mutable through the control API). */
export interface ActionsServiceSettings {
  mode: FakeJobMode;
  pollTimeoutMs: number;
  reassignAfterMs: number | null;
  sessionIdleExpiryMs: number | null;
  jobDurationMs: number;
  runnerPollTimeoutMs: number;
  dropJobCompleted: boolean;
  duplicateMessages: number;
  reorderMessages: number;
}

interface ScaleSetRecord {
  id: number;
  name: string;
  runnerGroupId: number;
  labels: WireLabel[];
  runnerSetting: Record<string, unknown>;
  createdOn: string;
  /** Last `X-ScaleSetMaxCapacity`; nothing is assigned before a listener has polled. */
  maxCapacity: number | undefined;
  outbox: WireJobMessage[];
  /** Undeleted envelopes, ascending ids. */
  envelopes: WireMessage[];
  pollWaiters: Set<PollWaiter>;
  runnerWaiters: Set<RunnerWaiter>;
  wakeScheduled: boolean;
}

/** A runner registration (internal record). */
export interface RunnerRecord {
  id: number;
  name: string;
  scaleSetId: number;
  credential: string;
  status: FakeRunnerStatus;
  jobId: string | null;
  planted: boolean;
  createdOn: string;
}

/** A live message session (internal record). */
export interface SessionRecord {
  sessionId: string;
  scaleSetId: number;
  ownerName: string;
  queueToken: string;
  createdAt: number;
  lastPollAt: number;
  pendingPolls: number;
}

interface JobRecord {
  jobId: string;
  runnerRequestId: number;
  labels: string[];
  scaleSetId: number | null;
  state: FakeJobState;
  runnerId: number | null;
  runnerName: string | null;
  durationMs: number;
  result: string;
  reassignments: number;
  workflowRunId: number;
  displayName: string;
  queueTime: Date;
  scaleSetAssignTime: Date | null;
  runnerAssignTime: Date | null;
  finishTime: Date | null;
  timer: NodeJS.Timeout | undefined;
}

interface PollWaiter {
  sessionId: string;
  lastMessageId: number;
  done: (message: WireMessage | undefined) => void;
}

interface RunnerWaiter {
  runnerId: number;
  done: (job: JobRecord | undefined) => void;
}

/** A held long poll; `cancel` ends it when the client goes away. */
export interface PendingPoll<T> {
  result: Promise<T>;
  cancel: () => void;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';
const MAX_JOBS_PER_MESSAGE = 50;
const MAX_REASSIGNMENTS = 3;
const DEFAULT_GROUP_ID = 1;

function iso(date: Date | null): string {
  return date ? date.toISOString() : ZERO_TIME;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The Actions service's state and job state machine, without HTTP: scale sets, runner groups,
 * runners, sessions, jobs and per-scale-set message queues.
 */
export class ActionsServiceState {
  private readonly groups = new Map<number, WireRunnerGroup>([
    [DEFAULT_GROUP_ID, { id: DEFAULT_GROUP_ID, name: 'Default', size: 0, isDefaultGroup: true }],
  ]);
  private readonly scaleSetsById = new Map<number, ScaleSetRecord>();
  private readonly runnersById = new Map<number, RunnerRecord>();
  private readonly sessionsById = new Map<string, SessionRecord>();
  private readonly openJobs = new Map<string, JobRecord>();
  private readonly doneJobs = new Map<string, JobRecord>();
  private readonly jobsByRequestId = new Map<number, JobRecord>();
  private readonly immediates = new Set<NodeJS.Immediate>();
  private nextGroupId = 2;
  private nextScaleSetId = 101;
  private nextRunnerId = 5001;
  private nextRequestId = 7_000_001;
  private nextWorkflowRunId = 9_000_001;
  private nextMessageId = 100_000_001;
  private jobCounter = 0;
  private stopped = false;

  constructor(
    private readonly settings: ActionsServiceSettings,
    private readonly origin: () => string,
    private readonly org: string,
    /** Told about job messages and runners coming online, as they happen. */
    private readonly observe: (event: FakeServiceEvent) => void = () => undefined,
  ) {}

  // ---- runner groups -------------------------------------------------------------------

  runnerGroups(name?: string): WireRunnerGroup[] {
    const all = [...this.groups.values()];
    const wanted = name?.toLowerCase();
    return wanted === undefined ? all : all.filter((g) => g.name.toLowerCase() === wanted);
  }

  addRunnerGroup(name: string): WireRunnerGroup {
    if (this.runnerGroups(name).length > 0) {
      throw new FakeServiceError(409, EXCEPTIONS.argument, `Runner group ${name} already exists.`);
    }
    const group = { id: this.nextGroupId++, name, size: 0, isDefaultGroup: false };
    this.groups.set(group.id, group);
    return group;
  }

  // ---- scale sets ----------------------------------------------------------------------

  scaleSets(): WireScaleSet[] {
    return [...this.scaleSetsById.values()].map((s) => this.wireScaleSet(s));
  }

  findScaleSets(name: string | undefined, runnerGroupId: number | undefined): WireScaleSet[] {
    const wanted = name?.toLowerCase();
    return [...this.scaleSetsById.values()]
      .filter((s) => wanted === undefined || s.name.toLowerCase() === wanted)
      .filter((s) => runnerGroupId === undefined || s.runnerGroupId === runnerGroupId)
      .map((s) => this.wireScaleSet(s));
  }

  getScaleSet(id: number): WireScaleSet {
    return this.wireScaleSet(this.scaleSet(id));
  }

  createScaleSet(body: unknown): WireScaleSet {
    if (!isRecord(body)) {
      throw new FakeServiceError(
        400,
        EXCEPTIONS.argument,
        'Request body must be a RunnerScaleSet.',
      );
    }
    const name = typeof body.name === 'string' ? body.name : '';
    if (name === '') {
      throw new FakeServiceError(400, EXCEPTIONS.argument, 'A runner scale set needs a name.');
    }
    const groupId = this.groupIdFrom(body.runnerGroupId) ?? DEFAULT_GROUP_ID;
    this.assertNameFree(name, groupId, undefined);
    const labels = this.labelsFrom(body.labels) ?? [];
    const record: ScaleSetRecord = {
      id: this.nextScaleSetId++,
      name,
      runnerGroupId: groupId,
      labels: labels.length > 0 ? labels : [{ type: 'System', name }],
      runnerSetting: this.runnerSettingFrom(body) ?? {},
      createdOn: new Date().toISOString(),
      maxCapacity: undefined,
      outbox: [],
      envelopes: [],
      pollWaiters: new Set(),
      runnerWaiters: new Set(),
      wakeScheduled: false,
    };
    this.scaleSetsById.set(record.id, record);
    this.dispatch();
    return this.wireScaleSet(record);
  }

  updateScaleSet(id: number, body: unknown): WireScaleSet {
    const record = this.scaleSet(id);
    if (!isRecord(body)) {
      throw new FakeServiceError(
        400,
        EXCEPTIONS.argument,
        'Request body must be a RunnerScaleSet.',
      );
    }
    const groupId = this.groupIdFrom(body.runnerGroupId) ?? record.runnerGroupId;
    const name = typeof body.name === 'string' && body.name !== '' ? body.name : record.name;
    this.assertNameFree(name, groupId, id);
    record.name = name;
    record.runnerGroupId = groupId;
    const labels = this.labelsFrom(body.labels);
    if (labels !== undefined && labels.length > 0) {
      record.labels = labels;
    }
    // Uncertain upstream (protocol §12.8): the fake replaces the setting object when sent.
    const setting = this.runnerSettingFrom(body);
    if (setting !== undefined) {
      record.runnerSetting = setting;
    }
    this.dispatch();
    return this.wireScaleSet(record);
  }

  deleteScaleSet(id: number): void {
    const record = this.scaleSet(id);
    for (const session of [...this.sessionsById.values()]) {
      if (session.scaleSetId === id) {
        this.endSession(session);
      }
    }
    for (const waiter of [...record.runnerWaiters]) {
      waiter.done(undefined);
    }
    for (const runner of [...this.runnersById.values()]) {
      if (runner.scaleSetId === id) {
        this.runnersById.delete(runner.id);
      }
    }
    for (const job of [...this.openJobs.values()]) {
      if (job.scaleSetId !== id) {
        continue;
      }
      this.clearJobTimer(job);
      if (job.state === 'running') {
        this.finishJob(job, 'canceled');
      } else {
        job.scaleSetId = null;
        job.state = 'pending';
        job.scaleSetAssignTime = null;
      }
    }
    this.scaleSetsById.delete(id);
    this.dispatch();
  }

  // ---- runners -------------------------------------------------------------------------

  generateJitConfig(
    scaleSetId: number,
    body: unknown,
  ): { runner: Record<string, unknown>; encodedJITConfig: string } {
    const scaleSet = this.scaleSet(scaleSetId);
    const name = isRecord(body) && typeof body.name === 'string' ? body.name : '';
    if (name === '') {
      throw new FakeServiceError(400, EXCEPTIONS.argument, 'The runner name must not be empty.');
    }
    const runner = this.registerRunner(scaleSet, name, false);
    return { runner: this.wireRunner(runner), encodedJITConfig: this.jitConfigFor(runner) };
  }

  getRunner(id: number): Record<string, unknown> {
    const runner = this.runnersById.get(id);
    if (!runner) {
      throw new FakeServiceError(
        404,
        EXCEPTIONS.agentNotFound,
        `No agent found in pool 0 with identifier ${id}.`,
      );
    }
    return this.wireRunner(runner);
  }

  findRunners(name: string): Record<string, unknown>[] {
    const wanted = name.toLowerCase();
    return [...this.runnersById.values()]
      .filter((r) => r.name.toLowerCase() === wanted)
      .map((r) => this.wireRunner(r));
  }

  removeRunner(id: number): void {
    const runner = this.runnersById.get(id);
    if (!runner) {
      return;
    }
    if (runner.status === 'busy') {
      throw new FakeServiceError(
        400,
        EXCEPTIONS.jobStillRunning,
        `Agent ${runner.name} is running job ${runner.jobId ?? ''} and cannot be removed.`,
      );
    }
    this.deregister(runner);
  }

  runners(scaleSetId?: number): RunnerView[] {
    return [...this.runnersById.values()]
      .filter((r) => scaleSetId === undefined || r.scaleSetId === scaleSetId)
      .map((r) => ({
        id: r.id,
        name: r.name,
        scaleSetId: r.scaleSetId,
        status: r.status,
        jobId: r.jobId,
        planted: r.planted,
      }));
  }

  plantOfflineRunner(scaleSetId: number, name?: string): RunnerView {
    const scaleSet = this.scaleSet(scaleSetId);
    const runner = this.registerRunner(
      scaleSet,
      name ?? `planted-${randomBytes(4).toString('hex')}`,
      true,
    );
    return this.runners().find((r) => r.id === runner.id) as RunnerView;
  }

  /** Marks a registered runner online (its process connected), as the runner API does. */
  runnerOnline(runner: RunnerRecord): void {
    if (runner.status !== 'offline') {
      throw new FakeServiceError(
        409,
        undefined,
        `Runner ${runner.name} is already ${runner.status}; a JIT config can be used once.`,
      );
    }
    runner.status = 'online';
    this.observeOnline(runner);
    this.offerJobs(this.scaleSet(runner.scaleSetId));
  }

  runnerByCredential(credential: string): RunnerRecord | undefined {
    for (const runner of this.runnersById.values()) {
      if (runner.credential === credential) {
        return runner;
      }
    }
    return undefined;
  }

  runnerByName(name: string): RunnerRecord {
    const wanted = name.toLowerCase();
    for (const runner of this.runnersById.values()) {
      if (runner.name.toLowerCase() === wanted) {
        return runner;
      }
    }
    throw new FakeServiceError(404, EXCEPTIONS.agentNotFound, `No runner named ${name}.`);
  }

  /** Long poll of a runner process for work; it gets the oldest job assigned to its scale set. */
  waitForJob(
    runner: RunnerRecord,
    timeoutMs: number,
  ): PendingPoll<RunnerJobAssignment | undefined> {
    if (runner.status === 'offline') {
      runner.status = 'online';
      this.observeOnline(runner);
    }
    const current = runner.jobId === null ? undefined : this.openJobs.get(runner.jobId);
    if (current) {
      return { result: Promise.resolve(this.assignment(current)), cancel: () => undefined };
    }
    const scaleSet = this.scaleSet(runner.scaleSetId);
    let waiter: RunnerWaiter | undefined;
    const result = new Promise<RunnerJobAssignment | undefined>((resolve) => {
      const timer = setTimeout(() => {
        waiter?.done(undefined);
      }, timeoutMs);
      waiter = {
        runnerId: runner.id,
        done: (job) => {
          clearTimeout(timer);
          if (waiter) {
            scaleSet.runnerWaiters.delete(waiter);
          }
          resolve(job ? this.assignment(job) : undefined);
        },
      };
      scaleSet.runnerWaiters.add(waiter);
      this.offerJobs(scaleSet);
    });
    return {
      result,
      cancel: () => {
        if (waiter && scaleSet.runnerWaiters.delete(waiter)) {
          waiter.done(undefined);
        }
      },
    };
  }

  /** The runner finished its job (or gave up): the job completes and the runner deregisters. */
  runnerFinished(runner: RunnerRecord, result: string | undefined): void {
    const job = runner.jobId === null ? undefined : this.openJobs.get(runner.jobId);
    if (job) {
      this.finishJob(job, result ?? job.result);
    } else {
      this.deregister(runner);
    }
    this.dispatch();
  }

  // ---- sessions ------------------------------------------------------------------------

  createSession(scaleSetId: number, body: unknown): Record<string, unknown> {
    const scaleSet = this.scaleSet(scaleSetId);
    const active = [...this.sessionsById.values()].find(
      (s) => s.scaleSetId === scaleSetId && !this.expireIfIdle(s),
    );
    if (active) {
      throw new FakeServiceError(
        409,
        EXCEPTIONS.sessionConflict,
        `The actions runner scaleset ${scaleSet.name} already has an active session.`,
      );
    }
    const ownerName = isRecord(body) && typeof body.ownerName === 'string' ? body.ownerName : '';
    const now = Date.now();
    const session: SessionRecord = {
      sessionId: randomUUID(),
      scaleSetId,
      ownerName,
      queueToken: this.newQueueToken(),
      createdAt: now,
      lastPollAt: now,
      pendingPolls: 0,
    };
    this.sessionsById.set(session.sessionId, session);
    return this.wireSession(session);
  }

  refreshSession(scaleSetId: number, sessionId: string): Record<string, unknown> {
    const session = this.sessionsById.get(sessionId);
    if (!session || session.scaleSetId !== scaleSetId || this.expireIfIdle(session)) {
      throw new FakeServiceError(
        404,
        EXCEPTIONS.runnerAdmin,
        `runner referenced a session ID that doesn't exist in redis: ${sessionId}`,
      );
    }
    session.queueToken = this.newQueueToken();
    session.lastPollAt = Date.now();
    return this.wireSession(session);
  }

  deleteSession(scaleSetId: number, sessionId: string): void {
    const session = this.sessionsById.get(sessionId);
    if (!session || session.scaleSetId !== scaleSetId || this.expireIfIdle(session)) {
      throw new FakeServiceError(
        400,
        EXCEPTIONS.sessionExpired,
        `The session identifier ${sessionId} is not valid.`,
      );
    }
    this.endSession(session);
  }

  /** Evicts a session as the service does when it expires (control API). */
  expireSession(sessionId: string): boolean {
    const session = this.sessionsById.get(sessionId);
    if (!session) {
      return false;
    }
    this.endSession(session);
    return true;
  }

  sessionByQueueToken(token: string): SessionRecord | undefined {
    for (const session of this.sessionsById.values()) {
      if (session.queueToken === token) {
        return this.expireIfIdle(session) ? undefined : session;
      }
    }
    return undefined;
  }

  sessions(): SessionView[] {
    return [...this.sessionsById.values()]
      .filter((s) => !this.expireIfIdle(s))
      .map((s) => ({
        sessionId: s.sessionId,
        scaleSetId: s.scaleSetId,
        ownerName: s.ownerName,
        createdAt: s.createdAt,
        lastPollAt: s.lastPollAt,
        pendingPolls: s.pendingPolls,
      }));
  }

  // ---- message queue -------------------------------------------------------------------

  /**
   * Long poll: returns the oldest undeleted message with id > `lastMessageId`, waiting up to the
   * poll timeout for one (resolves `undefined` → 202).
   */
  getMessage(
    session: SessionRecord,
    maxCapacity: number,
    lastMessageId: number,
  ): PendingPoll<WireMessage | undefined> {
    const scaleSet = this.scaleSet(session.scaleSetId);
    session.lastPollAt = Date.now();
    scaleSet.maxCapacity = maxCapacity;
    this.dispatch();
    const ready = this.nextMessage(scaleSet, lastMessageId);
    if (ready) {
      return { result: Promise.resolve(ready), cancel: () => undefined };
    }
    session.pendingPolls += 1;
    let waiter: PollWaiter | undefined;
    const result = new Promise<WireMessage | undefined>((resolve) => {
      const timer = setTimeout(() => {
        waiter?.done(undefined);
      }, this.settings.pollTimeoutMs);
      waiter = {
        sessionId: session.sessionId,
        lastMessageId,
        done: (message) => {
          clearTimeout(timer);
          if (waiter && scaleSet.pollWaiters.delete(waiter)) {
            session.pendingPolls -= 1;
            session.lastPollAt = Date.now();
          }
          resolve(message);
        },
      };
      scaleSet.pollWaiters.add(waiter);
    });
    return { result, cancel: () => waiter?.done(undefined) };
  }

  /** Acknowledges a message; ids already deleted are fine, ids never issued are not. */
  deleteMessage(session: SessionRecord, messageId: number): void {
    const scaleSet = this.scaleSet(session.scaleSetId);
    session.lastPollAt = Date.now();
    if (!Number.isSafeInteger(messageId) || messageId <= 0 || messageId >= this.nextMessageId) {
      throw new FakeServiceError(404, undefined, `Message ${messageId} does not exist.`);
    }
    scaleSet.envelopes = scaleSet.envelopes.filter((m) => m.messageId !== messageId);
  }

  acquireJobs(session: SessionRecord, scaleSetId: number, ids: number[]): number[] {
    if (session.scaleSetId !== scaleSetId) {
      throw new FakeServiceError(401, undefined, 'The queue token belongs to another scale set.');
    }
    this.scaleSet(scaleSetId);
    const acquired: number[] = [];
    for (const id of ids) {
      const job = this.jobsByRequestId.get(id);
      if (job?.scaleSetId !== scaleSetId) {
        continue;
      }
      if (job.state === 'available') {
        job.state = 'acquired';
        acquired.push(id);
      } else if (job.state === 'acquired' || job.state === 'assigned' || job.state === 'running') {
        acquired.push(id);
      }
    }
    this.dispatch();
    return acquired;
  }

  statistics(scaleSetId: number): ScaleSetStatistics {
    const stats: ScaleSetStatistics = {
      totalAvailableJobs: 0,
      totalAcquiredJobs: 0,
      totalAssignedJobs: 0,
      totalRunningJobs: 0,
      totalRegisteredRunners: 0,
      totalBusyRunners: 0,
      totalIdleRunners: 0,
    };
    for (const job of this.openJobs.values()) {
      if (job.scaleSetId !== scaleSetId) {
        continue;
      }
      if (job.state === 'available') {
        stats.totalAvailableJobs += 1;
      } else if (job.state === 'acquired') {
        stats.totalAcquiredJobs += 1;
      } else if (job.state === 'assigned') {
        stats.totalAssignedJobs += 1;
      } else if (job.state === 'running') {
        stats.totalAssignedJobs += 1;
        stats.totalRunningJobs += 1;
      }
    }
    for (const runner of this.runnersById.values()) {
      if (runner.scaleSetId !== scaleSetId || runner.status === 'offline') {
        continue;
      }
      stats.totalRegisteredRunners += 1;
      if (runner.status === 'busy') {
        stats.totalBusyRunners += 1;
      } else {
        stats.totalIdleRunners += 1;
      }
    }
    return stats;
  }

  // ---- jobs (control) ------------------------------------------------------------------

  queueJobs(n: number, opts: QueueJobsOptions): JobHandle[] {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(`queueJobs needs a non-negative integer count, got ${n}`);
    }
    if (opts.scaleSetId !== undefined) {
      this.scaleSet(opts.scaleSetId);
    }
    const handles: JobHandle[] = [];
    for (let i = 0; i < n; i += 1) {
      this.jobCounter += 1;
      const job: JobRecord = {
        jobId: randomUUID(),
        runnerRequestId: this.nextRequestId++,
        labels: [...(opts.labels ?? [])],
        scaleSetId: opts.scaleSetId ?? null,
        state: 'pending',
        runnerId: null,
        runnerName: null,
        durationMs: opts.durationMs ?? this.settings.jobDurationMs,
        result: opts.result ?? 'succeeded',
        reassignments: 0,
        workflowRunId: this.nextWorkflowRunId++,
        displayName: `job-${this.jobCounter}`,
        queueTime: new Date(),
        scaleSetAssignTime: null,
        runnerAssignTime: null,
        finishTime: null,
        timer: undefined,
      };
      this.openJobs.set(job.jobId, job);
      this.jobsByRequestId.set(job.runnerRequestId, job);
      handles.push({ jobId: job.jobId, runnerRequestId: job.runnerRequestId });
    }
    this.dispatch();
    return handles;
  }

  jobs(): JobView[] {
    return [...this.doneJobs.values(), ...this.openJobs.values()].map((j) => this.jobView(j));
  }

  job(jobId: string): JobView | undefined {
    const job = this.openJobs.get(jobId) ?? this.doneJobs.get(jobId);
    return job ? this.jobView(job) : undefined;
  }

  /** Assigns a job to its scale set now, ignoring the capacity cap (control API). */
  assignJob(jobId: string): void {
    const job = this.openJob(jobId);
    if (job.state === 'assigned' || job.state === 'running') {
      return;
    }
    const scaleSet =
      job.scaleSetId === null ? this.matchScaleSet(job) : this.scaleSetsById.get(job.scaleSetId);
    if (!scaleSet) {
      throw new FakeServiceError(409, undefined, `Job ${jobId} matches no scale set.`);
    }
    this.bind(job, scaleSet);
    this.assign(job, scaleSet);
  }

  /** A runner of the job's scale set takes the job without a process (control API). */
  startJob(jobId: string, runnerName?: string): void {
    const job = this.openJob(jobId);
    if (job.state !== 'assigned' || job.scaleSetId === null) {
      throw new FakeServiceError(409, undefined, `Job ${jobId} is ${job.state}, not assigned.`);
    }
    const candidates = [...this.runnersById.values()].filter(
      (r) => r.scaleSetId === job.scaleSetId && r.status !== 'busy',
    );
    const runner =
      runnerName === undefined
        ? (candidates.find((r) => r.status === 'online') ?? candidates[0])
        : this.runnerByName(runnerName);
    if (!runner || runner.scaleSetId !== job.scaleSetId || runner.status === 'busy') {
      throw new FakeServiceError(
        409,
        undefined,
        `No idle runner of the scale set can take ${jobId}.`,
      );
    }
    this.handOut(job, runner);
  }

  /** Completes a job with `result`, wherever it is in its lifecycle (control API). */
  completeJob(jobId: string, result?: string): void {
    const job = this.openJob(jobId);
    this.finishJob(job, result ?? job.result);
    this.dispatch();
  }

  stop(): void {
    this.stopped = true;
    for (const immediate of this.immediates) {
      clearImmediate(immediate);
    }
    this.immediates.clear();
    for (const job of this.openJobs.values()) {
      this.clearJobTimer(job);
    }
    for (const scaleSet of this.scaleSetsById.values()) {
      for (const waiter of [...scaleSet.pollWaiters]) {
        waiter.done(undefined);
      }
      for (const waiter of [...scaleSet.runnerWaiters]) {
        waiter.done(undefined);
      }
    }
  }

  // ---- internals -----------------------------------------------------------------------

  private scaleSet(id: number): ScaleSetRecord {
    const record = this.scaleSetsById.get(id);
    if (!record) {
      throw new FakeServiceError(
        404,
        EXCEPTIONS.scaleSetNotFound,
        `The runner scale set with id ${id} does not exist.`,
      );
    }
    return record;
  }

  private openJob(jobId: string): JobRecord {
    const job = this.openJobs.get(jobId);
    if (!job) {
      const done = this.doneJobs.has(jobId);
      throw new FakeServiceError(
        404,
        undefined,
        `Job ${jobId} ${done ? 'is completed' : 'is unknown'}.`,
      );
    }
    return job;
  }

  private groupIdFrom(value: unknown): number | undefined {
    if (value === undefined || value === null || value === 0) {
      return undefined;
    }
    if (typeof value !== 'number' || !this.groups.has(value)) {
      throw new FakeServiceError(
        404,
        EXCEPTIONS.runnerGroupNotFound,
        `Runner group ${JSON.stringify(value)} does not exist.`,
      );
    }
    return value;
  }

  private labelsFrom(value: unknown): WireLabel[] | undefined {
    if (value === undefined || value === null) {
      return undefined;
    }
    if (!Array.isArray(value)) {
      throw new FakeServiceError(400, EXCEPTIONS.argument, 'labels must be an array.');
    }
    return value.map((label: unknown) => {
      if (!isRecord(label) || typeof label.name !== 'string' || label.name === '') {
        throw new FakeServiceError(400, EXCEPTIONS.argument, 'Every label needs a name.');
      }
      const type = typeof label.type === 'string' && label.type !== '' ? label.type : 'System';
      return { type, name: label.name };
    });
  }

  private runnerSettingFrom(body: Record<string, unknown>): Record<string, unknown> | undefined {
    // Go decodes keys case-insensitively; clients send `RunnerSetting`, others `runnerSetting`.
    const setting = body.RunnerSetting ?? body.runnerSetting;
    return isRecord(setting) ? { ...setting } : undefined;
  }

  private assertNameFree(name: string, groupId: number, exceptId: number | undefined): void {
    const wanted = name.toLowerCase();
    for (const s of this.scaleSetsById.values()) {
      if (s.id !== exceptId && s.runnerGroupId === groupId && s.name.toLowerCase() === wanted) {
        throw new FakeServiceError(
          409,
          EXCEPTIONS.scaleSetExists,
          `A runner scale set named ${name} already exists in runner group ${groupId}.`,
        );
      }
    }
  }

  private wireScaleSet(s: ScaleSetRecord): WireScaleSet {
    const base = `${this.origin()}${TENANT_PATH}_apis/runtime/runnerscalesets/${s.id}`;
    return {
      id: s.id,
      name: s.name,
      runnerGroupId: s.runnerGroupId,
      runnerGroupName: this.groups.get(s.runnerGroupId)?.name ?? '',
      labels: s.labels.map((l) => ({ ...l })),
      runnerSetting: { ...s.runnerSetting },
      createdOn: s.createdOn,
      runnerJitConfigUrl: `${base}/generatejitconfig`,
      getAcquirableJobsUrl: `${base}/acquirablejobs`,
      acquireJobsUrl: `${base}/acquirejobs`,
      statistics: this.statistics(s.id),
      status: 'online',
      enabled: true,
    };
  }

  private registerRunner(scaleSet: ScaleSetRecord, name: string, planted: boolean): RunnerRecord {
    const wanted = name.toLowerCase();
    for (const r of this.runnersById.values()) {
      if (r.name.toLowerCase() === wanted) {
        throw new FakeServiceError(
          409,
          EXCEPTIONS.agentExists,
          `An agent named ${name} already exists in pool 0.`,
        );
      }
    }
    const runner: RunnerRecord = {
      id: this.nextRunnerId++,
      name,
      scaleSetId: scaleSet.id,
      credential: randomBytes(24).toString('hex'),
      status: 'offline',
      jobId: null,
      planted,
      createdOn: new Date().toISOString(),
    };
    this.runnersById.set(runner.id, runner);
    return runner;
  }

  private jitConfigFor(runner: RunnerRecord): string {
    return encodeFakeJitConfig({
      origin: this.origin(),
      runnerId: String(runner.id),
      runnerName: runner.name,
      scaleSetId: String(runner.scaleSetId),
      credential: runner.credential,
    });
  }

  private wireRunner(r: RunnerRecord): Record<string, unknown> {
    const scaleSet = this.scaleSetsById.get(r.scaleSetId);
    const groupId = scaleSet?.runnerGroupId ?? DEFAULT_GROUP_ID;
    return {
      id: r.id,
      name: r.name,
      runnerScaleSetId: r.scaleSetId,
      os: 'Linux',
      createdOn: r.createdOn,
      runnerGroupId: groupId,
      runnerGroupName: this.groups.get(groupId)?.name ?? '',
      version: '2.330.0',
      enabled: true,
      ephemeral: true,
      status: r.status === 'offline' ? 'offline' : 'online',
      disableUpdate: scaleSet?.runnerSetting.disableUpdate === true,
      provisioningState: 'Provisioned',
      busy: r.status === 'busy',
      labels: (scaleSet?.labels ?? []).map((l) => ({ name: l.name, type: l.type.toLowerCase() })),
    };
  }

  private deregister(runner: RunnerRecord): void {
    this.runnersById.delete(runner.id);
    const scaleSet = this.scaleSetsById.get(runner.scaleSetId);
    if (!scaleSet) {
      return;
    }
    for (const waiter of [...scaleSet.runnerWaiters]) {
      if (waiter.runnerId === runner.id) {
        waiter.done(undefined);
      }
    }
  }

  private newQueueToken(): string {
    return `fake-queue-${randomBytes(24).toString('base64url')}`;
  }

  private wireSession(s: SessionRecord): Record<string, unknown> {
    return {
      sessionId: s.sessionId,
      ownerName: s.ownerName,
      runnerScaleSet: this.getScaleSet(s.scaleSetId),
      messageQueueUrl: `${this.origin()}${MESSAGE_QUEUE_PATH}`,
      messageQueueAccessToken: s.queueToken,
      statistics: this.statistics(s.scaleSetId),
    };
  }

  /** True (and the session is gone) when a session sat idle longer than the expiry. */
  private expireIfIdle(session: SessionRecord): boolean {
    const expiry = this.settings.sessionIdleExpiryMs;
    if (expiry === null || session.pendingPolls > 0) {
      return false;
    }
    if (Date.now() - session.lastPollAt <= expiry) {
      return false;
    }
    this.endSession(session);
    return true;
  }

  private endSession(session: SessionRecord): void {
    this.sessionsById.delete(session.sessionId);
    const scaleSet = this.scaleSetsById.get(session.scaleSetId);
    for (const waiter of [...(scaleSet?.pollWaiters ?? [])]) {
      if (waiter.sessionId === session.sessionId) {
        waiter.done(undefined);
      }
    }
  }

  private nextMessage(scaleSet: ScaleSetRecord, lastMessageId: number): WireMessage | undefined {
    const pending = scaleSet.envelopes.find((m) => m.messageId > lastMessageId);
    if (pending) {
      return pending;
    }
    if (scaleSet.outbox.length === 0) {
      return undefined;
    }
    this.materialize(scaleSet);
    return scaleSet.envelopes.find((m) => m.messageId > lastMessageId);
  }

  private materialize(scaleSet: ScaleSetRecord): void {
    const batch = scaleSet.outbox.splice(0, MAX_JOBS_PER_MESSAGE);
    if (this.settings.reorderMessages > 0) {
      this.settings.reorderMessages -= 1;
      batch.reverse();
    }
    const message: WireMessage = {
      messageId: this.nextMessageId++,
      messageType: 'RunnerScaleSetJobMessages',
      body: JSON.stringify(batch),
      statistics: this.statistics(scaleSet.id),
    };
    scaleSet.envelopes.push(message);
    if (this.settings.duplicateMessages > 0) {
      this.settings.duplicateMessages -= 1;
      scaleSet.envelopes.push({ ...message, messageId: this.nextMessageId++ });
    }
  }

  private emit(scaleSet: ScaleSetRecord, message: WireJobMessage): void {
    if (message.messageType === 'JobCompleted' && this.settings.dropJobCompleted) {
      return;
    }
    scaleSet.outbox.push(message);
    this.observe({
      kind: 'job-message',
      at: performance.timeOrigin + performance.now(),
      scaleSetId: scaleSet.id,
      messageType: message.messageType,
      jobId: message.jobId,
      runnerRequestId: message.runnerRequestId,
    });
    this.scheduleWake(scaleSet);
  }

  private observeOnline(runner: RunnerRecord): void {
    this.observe({
      kind: 'runner-online',
      at: performance.timeOrigin + performance.now(),
      scaleSetId: runner.scaleSetId,
      runnerName: runner.name,
    });
  }

  /** Wakes held polls once per tick, so events of one tick share an envelope. */
  private scheduleWake(scaleSet: ScaleSetRecord): void {
    if (scaleSet.wakeScheduled || this.stopped) {
      return;
    }
    scaleSet.wakeScheduled = true;
    const immediate = setImmediate(() => {
      this.immediates.delete(immediate);
      scaleSet.wakeScheduled = false;
      for (const waiter of [...scaleSet.pollWaiters]) {
        const message = this.nextMessage(scaleSet, waiter.lastMessageId);
        if (message) {
          waiter.done(message);
        }
      }
    });
    this.immediates.add(immediate);
  }

  private jobMessage(job: JobRecord, type: WireJobMessage['messageType']): WireJobMessage {
    const message: WireJobMessage = {
      messageType: type,
      runnerRequestId: job.runnerRequestId,
      repositoryName: 'test-repo',
      ownerName: this.org,
      jobId: job.jobId,
      jobWorkflowRef: `${this.org}/test-repo/.github/workflows/ci.yml@refs/heads/main`,
      jobDisplayName: job.displayName,
      workflowRunId: job.workflowRunId,
      eventName: 'push',
      requestLabels: this.requestLabels(job),
      queueTime: iso(job.queueTime),
      scaleSetAssignTime: iso(job.scaleSetAssignTime),
      runnerAssignTime: iso(job.runnerAssignTime),
      finishTime: iso(job.finishTime),
    };
    return message;
  }

  private requestLabels(job: JobRecord): string[] {
    if (job.labels.length > 0 || job.scaleSetId === null) {
      return [...job.labels];
    }
    const scaleSet = this.scaleSetsById.get(job.scaleSetId);
    return scaleSet ? [scaleSet.name] : [];
  }

  private matchScaleSet(job: JobRecord): ScaleSetRecord | undefined {
    const wanted = job.labels.map((l) => l.toLowerCase());
    const matching = [...this.scaleSetsById.values()].filter((s) => {
      const have = new Set(s.labels.map((l) => l.name.toLowerCase()));
      return wanted.every((l) => have.has(l));
    });
    const withListener = matching.find((s) =>
      [...this.sessionsById.values()].some((session) => session.scaleSetId === s.id),
    );
    return withListener ?? matching[0];
  }

  private bind(job: JobRecord, scaleSet: ScaleSetRecord): void {
    job.scaleSetId = scaleSet.id;
  }

  /** Moves jobs along as far as the state allows: bind, offer, assign within capacity. */
  private dispatch(): void {
    if (this.stopped) {
      return;
    }
    for (const job of this.openJobs.values()) {
      if (job.scaleSetId === null) {
        const scaleSet = this.matchScaleSet(job);
        if (scaleSet) {
          this.bind(job, scaleSet);
        }
      }
    }
    for (const scaleSet of this.scaleSetsById.values()) {
      if (scaleSet.maxCapacity === undefined) {
        continue;
      }
      const mine = [...this.openJobs.values()].filter((j) => j.scaleSetId === scaleSet.id);
      if (this.settings.mode === 'acquire') {
        for (const job of mine) {
          if (job.state === 'pending') {
            job.state = 'available';
            this.emit(scaleSet, {
              ...this.jobMessage(job, 'JobAvailable'),
              acquireJobUrl: `${this.origin()}${TENANT_PATH}_apis/runtime/runnerscalesets/${scaleSet.id}/acquirejobs`,
            });
          }
        }
      }
      let active = mine.filter((j) => j.state === 'assigned' || j.state === 'running').length;
      for (const job of mine) {
        if (active >= scaleSet.maxCapacity) {
          break;
        }
        const ready =
          job.state === 'acquired' || (job.state === 'pending' && this.settings.mode === 'assign');
        if (ready) {
          this.assign(job, scaleSet);
          active += 1;
        }
      }
    }
  }

  private assign(job: JobRecord, scaleSet: ScaleSetRecord): void {
    job.state = 'assigned';
    job.scaleSetAssignTime = new Date();
    job.runnerAssignTime = null;
    this.emit(scaleSet, this.jobMessage(job, 'JobAssigned'));
    const after = this.settings.reassignAfterMs;
    if (after !== null && job.reassignments < MAX_REASSIGNMENTS) {
      job.timer = setTimeout(() => {
        job.timer = undefined;
        this.reassign(job);
      }, after);
    }
    this.offerJobs(scaleSet);
  }

  /** No runner took the job in time: cancel the assignment and queue it again (§6.3). */
  private reassign(job: JobRecord): void {
    const scaleSet = job.scaleSetId === null ? undefined : this.scaleSetsById.get(job.scaleSetId);
    if (job.state !== 'assigned' || !scaleSet) {
      return;
    }
    job.reassignments += 1;
    this.emit(scaleSet, {
      ...this.jobMessage(job, 'JobCompleted'),
      result: 'canceled',
      runnerId: 0,
      runnerName: '',
    });
    job.state = 'pending';
    job.scaleSetAssignTime = null;
    this.dispatch();
  }

  /** Hands assigned jobs to runners waiting for work. */
  private offerJobs(scaleSet: ScaleSetRecord): void {
    for (const waiter of [...scaleSet.runnerWaiters]) {
      const job = [...this.openJobs.values()].find(
        (j) => j.scaleSetId === scaleSet.id && j.state === 'assigned',
      );
      const runner = this.runnersById.get(waiter.runnerId);
      if (!job) {
        return;
      }
      if (!runner) {
        waiter.done(undefined);
        continue;
      }
      this.handOut(job, runner);
      waiter.done(job);
    }
  }

  private handOut(job: JobRecord, runner: RunnerRecord): void {
    this.clearJobTimer(job);
    const scaleSet = this.scaleSet(runner.scaleSetId);
    job.state = 'running';
    job.runnerId = runner.id;
    job.runnerName = runner.name;
    job.runnerAssignTime = new Date();
    runner.status = 'busy';
    runner.jobId = job.jobId;
    this.emit(scaleSet, {
      ...this.jobMessage(job, 'JobStarted'),
      runnerId: runner.id,
      runnerName: runner.name,
    });
  }

  private finishJob(job: JobRecord, result: string): void {
    this.clearJobTimer(job);
    const scaleSet = job.scaleSetId === null ? undefined : this.scaleSetsById.get(job.scaleSetId);
    const wasSeen = job.state !== 'pending' || job.reassignments > 0;
    job.state = 'completed';
    job.result = result;
    job.finishTime = new Date();
    this.openJobs.delete(job.jobId);
    this.doneJobs.set(job.jobId, job);
    const runner = job.runnerId === null ? undefined : this.runnersById.get(job.runnerId);
    if (runner) {
      // Ephemeral runners deregister themselves after their one job.
      this.deregister(runner);
    }
    if (scaleSet && wasSeen) {
      this.emit(scaleSet, {
        ...this.jobMessage(job, 'JobCompleted'),
        result,
        runnerId: job.runnerId ?? 0,
        runnerName: job.runnerName ?? '',
      });
    }
  }

  private clearJobTimer(job: JobRecord): void {
    if (job.timer) {
      clearTimeout(job.timer);
      job.timer = undefined;
    }
  }

  private assignment(job: JobRecord): RunnerJobAssignment {
    return {
      jobId: job.jobId,
      runnerRequestId: String(job.runnerRequestId),
      durationMs: String(job.durationMs),
      durationSec: (job.durationMs / 1000).toFixed(3),
      result: job.result,
    };
  }

  private jobView(j: JobRecord): JobView {
    return {
      jobId: j.jobId,
      runnerRequestId: j.runnerRequestId,
      state: j.state,
      labels: [...j.labels],
      scaleSetId: j.scaleSetId,
      runnerId: j.runnerId,
      runnerName: j.runnerName,
      durationMs: j.durationMs,
      result: j.result,
      reassignments: j.reassignments,
    };
  }
}

import { pickField } from './response.decoder';
import {
  NIL_UUID,
  ZERO_TIME,
  type JobAssigned,
  type JobAvailable,
  type JobCompleted,
  type JobMessageBase,
  type JobStarted,
  type RunnerGroup,
  type RunnerReference,
  type RunnerScaleSet,
  type RunnerScaleSetInput,
  type RunnerScaleSetJitRunnerConfig,
  type RunnerScaleSetLabel,
  type RunnerScaleSetMessage,
  type RunnerScaleSetSession,
  type RunnerScaleSetStatistic,
  type RunnerSetting,
} from './scaleset.types';

/** A response body that does not have the protocol's shape; the message names fields only. */
export class WireDecodeError extends Error {
  override readonly name = 'WireDecodeError';
}

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asObj(value: unknown, path: string): Obj {
  if (!isObj(value)) {
    throw new WireDecodeError(`${path}: expected an object`);
  }
  return value;
}

function num(o: Obj, key: string, path: string): number {
  const v = pickField(o, key);
  if (v === undefined || v === null) {
    return 0;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new WireDecodeError(`${path}.${key}: expected an integer`);
  }
  return v;
}

function str(o: Obj, key: string, path: string): string {
  const v = pickField(o, key);
  if (v === undefined || v === null) {
    return '';
  }
  if (typeof v !== 'string') {
    throw new WireDecodeError(`${path}.${key}: expected a string`);
  }
  return v;
}

function bool(o: Obj, key: string, path: string): boolean {
  const v = pickField(o, key);
  if (v === undefined || v === null) {
    return false;
  }
  if (typeof v !== 'boolean') {
    throw new WireDecodeError(`${path}.${key}: expected a boolean`);
  }
  return v;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function time(o: Obj, key: string, path: string): string {
  const v = pickField(o, key);
  if (v === undefined || v === null) {
    return ZERO_TIME;
  }
  if (typeof v !== 'string' || !RFC3339.test(v)) {
    throw new WireDecodeError(`${path}.${key}: expected an RFC 3339 timestamp with a zone`);
  }
  return v;
}

function list<T>(o: Obj, key: string, path: string, item: (v: unknown, p: string) => T): T[] {
  const v = pickField(o, key);
  if (v === undefined || v === null) {
    return [];
  }
  if (!Array.isArray(v)) {
    throw new WireDecodeError(`${path}.${key}: expected an array`);
  }
  return v.map((element, i) => item(element, `${path}.${key}[${i}]`));
}

function optionalObj<T>(o: Obj, key: string, path: string, decode: (v: Obj, p: string) => T) {
  const v = pickField(o, key);
  return v === undefined || v === null
    ? null
    : decode(asObj(v, `${path}.${key}`), `${path}.${key}`);
}

/** Decodes Statistics (§5.4). */
export function decodeStatistics(o: Obj, path = 'statistics'): RunnerScaleSetStatistic {
  return {
    totalAvailableJobs: num(o, 'totalAvailableJobs', path),
    totalAcquiredJobs: num(o, 'totalAcquiredJobs', path),
    totalAssignedJobs: num(o, 'totalAssignedJobs', path),
    totalRunningJobs: num(o, 'totalRunningJobs', path),
    totalRegisteredRunners: num(o, 'totalRegisteredRunners', path),
    totalBusyRunners: num(o, 'totalBusyRunners', path),
    totalIdleRunners: num(o, 'totalIdleRunners', path),
  };
}

function decodeRunnerSetting(o: Obj, path: string): RunnerSetting {
  const setting: { disableUpdate?: boolean; ephemeral?: boolean; isElastic?: boolean } = {};
  for (const key of ['disableUpdate', 'ephemeral', 'isElastic'] as const) {
    if (bool(o, key, path)) {
      setting[key] = true;
    }
  }
  return setting;
}

/** Decodes a RunnerScaleSet (§5.3), accepting `runnerSetting` in any case. */
export function decodeRunnerScaleSet(value: unknown, path = 'scaleSet'): RunnerScaleSet {
  const o = asObj(value, path);
  return {
    id: num(o, 'id', path),
    name: str(o, 'name', path),
    runnerGroupId: num(o, 'runnerGroupId', path),
    runnerGroupName: str(o, 'runnerGroupName', path),
    labels: list(o, 'labels', path, (v, p): RunnerScaleSetLabel => {
      const label = asObj(v, p);
      return { type: str(label, 'type', p), name: str(label, 'name', p) };
    }),
    runnerSetting: optionalObj(o, 'runnerSetting', path, decodeRunnerSetting) ?? {},
    createdOn: time(o, 'createdOn', path),
    runnerJitConfigUrl: str(o, 'runnerJitConfigUrl', path),
    statistics: optionalObj(o, 'statistics', path, decodeStatistics),
  };
}

/** Decodes a RunnerGroup (§5.5). */
export function decodeRunnerGroup(value: unknown, path = 'runnerGroup'): RunnerGroup {
  const o = asObj(value, path);
  return {
    id: num(o, 'id', path),
    name: str(o, 'name', path),
    size: num(o, 'size', path),
    isDefaultGroup: bool(o, 'isDefaultGroup', path),
  };
}

/** Decodes a RunnerReference (§5.6), keeping the optional extras that are well-typed. */
export function decodeRunnerReference(value: unknown, path = 'runner'): RunnerReference {
  const o = asObj(value, path);
  const runner: {
    id: number;
    name: string;
    runnerScaleSetId: number;
    status?: string;
    busy?: boolean;
    ephemeral?: boolean;
    enabled?: boolean;
  } = {
    id: num(o, 'id', path),
    name: str(o, 'name', path),
    runnerScaleSetId: num(o, 'runnerScaleSetId', path),
  };
  const status = pickField(o, 'status');
  if (typeof status === 'string') {
    runner.status = status;
  }
  for (const key of ['busy', 'ephemeral', 'enabled'] as const) {
    const flag = pickField(o, key);
    if (typeof flag === 'boolean') {
      runner[key] = flag;
    }
  }
  return runner;
}

/** A `{count, value}` list decided by `count` (§4.1). */
export function decodeList<T>(
  value: unknown,
  decode: (v: unknown, path: string) => T,
): { count: number; first: T | undefined } {
  const o = asObj(value, 'list');
  const count = num(o, 'count', 'list');
  const items = pickField(o, 'value');
  if (count === 1) {
    if (!Array.isArray(items) || items.length === 0) {
      throw new WireDecodeError('list: count is 1 but value is empty');
    }
    return { count, first: decode(items[0], 'list.value[0]') };
  }
  return { count, first: undefined };
}

/** Decodes the JIT response (§5.7); the config is attached as a non-enumerable property. */
export function decodeJitConfig(value: unknown): RunnerScaleSetJitRunnerConfig {
  const o = asObj(value, 'jitConfig');
  const runnerValue = pickField(o, 'runner');
  const runner =
    runnerValue === undefined || runnerValue === null
      ? { id: 0, name: '', runnerScaleSetId: 0 }
      : decodeRunnerReference(runnerValue, 'jitConfig.runner');
  const config = { runner } as { runner: RunnerReference; encodedJITConfig: string };
  Object.defineProperty(config, 'encodedJITConfig', {
    value: str(o, 'encodedJITConfig', 'jitConfig'),
    enumerable: false,
    writable: false,
  });
  return config;
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Decodes a session (§5.8); `sessionId` must be a UUID when present. */
export function decodeSession(value: unknown): RunnerScaleSetSession {
  const path = 'session';
  const o = asObj(value, path);
  const rawId = pickField(o, 'sessionId');
  let sessionId = NIL_UUID;
  if (rawId !== undefined && rawId !== null) {
    if (typeof rawId !== 'string' || !UUID.test(rawId)) {
      throw new WireDecodeError('session.sessionId: expected a UUID');
    }
    sessionId = rawId.toLowerCase();
  }
  const scaleSet = pickField(o, 'runnerScaleSet');
  return {
    sessionId,
    ownerName: str(o, 'ownerName', path),
    runnerScaleSet:
      scaleSet === undefined || scaleSet === null
        ? null
        : decodeRunnerScaleSet(scaleSet, 'session.runnerScaleSet'),
    messageQueueUrl: str(o, 'messageQueueUrl', path),
    messageQueueAccessToken: str(o, 'messageQueueAccessToken', path),
    statistics: optionalObj(o, 'statistics', path, decodeStatistics),
  };
}

/** Decodes the acquire-jobs response (§4.16): the acquired ids from `value`. */
export function decodeAcquiredJobs(value: unknown): number[] {
  const o = asObj(value, 'acquiredJobs');
  return list(o, 'value', 'acquiredJobs', (v, p) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      throw new WireDecodeError(`${p}: expected an integer`);
    }
    return v;
  });
}

function jobBase(o: Obj, p: string): JobMessageBase {
  return {
    runnerRequestId: num(o, 'runnerRequestId', p),
    repositoryName: str(o, 'repositoryName', p),
    ownerName: str(o, 'ownerName', p),
    jobId: str(o, 'jobId', p),
    jobWorkflowRef: str(o, 'jobWorkflowRef', p),
    jobDisplayName: str(o, 'jobDisplayName', p),
    workflowRunId: num(o, 'workflowRunId', p),
    eventName: str(o, 'eventName', p),
    requestLabels: list(o, 'requestLabels', p, (v, lp) => {
      if (typeof v !== 'string') {
        throw new WireDecodeError(`${lp}: expected a string`);
      }
      return v;
    }),
    queueTime: time(o, 'queueTime', p),
    scaleSetAssignTime: time(o, 'scaleSetAssignTime', p),
    runnerAssignTime: time(o, 'runnerAssignTime', p),
    finishTime: time(o, 'finishTime', p),
  };
}

/** The only envelope type the client accepts (§6.1). */
export const RUNNER_SCALE_SET_JOB_MESSAGES = 'RunnerScaleSetJobMessages';

/**
 * Parses a message envelope (§6.1): the type must be `RunnerScaleSetJobMessages`; `body`
 * is a JSON string holding an array of job messages; unknown job types are ignored; any
 * malformed element fails the whole message.
 */
export function decodeMessage(value: unknown): RunnerScaleSetMessage {
  const o = asObj(value, 'message');
  const messageType = str(o, 'messageType', 'message');
  if (messageType !== RUNNER_SCALE_SET_JOB_MESSAGES) {
    throw new WireDecodeError(`unsupported message type "${messageType.slice(0, 100)}"`);
  }
  const messageId = num(o, 'messageId', 'message');
  const available: JobAvailable[] = [];
  const assigned: JobAssigned[] = [];
  const started: JobStarted[] = [];
  const completed: JobCompleted[] = [];
  const body = str(o, 'body', 'message');
  if (body !== '') {
    let elements: unknown;
    try {
      elements = JSON.parse(body);
    } catch {
      throw new WireDecodeError('message.body: not a JSON array of job messages');
    }
    if (!Array.isArray(elements)) {
      throw new WireDecodeError('message.body: expected a JSON array of job messages');
    }
    elements.forEach((element: unknown, i) => {
      const p = `message.body[${i}]`;
      const job = asObj(element, p);
      const type = str(job, 'messageType', p);
      switch (type) {
        case 'JobAvailable':
          available.push({
            ...jobBase(job, p),
            messageType: type,
            acquireJobUrl: str(job, 'acquireJobUrl', p),
          });
          break;
        case 'JobAssigned':
          assigned.push({ ...jobBase(job, p), messageType: type });
          break;
        case 'JobStarted':
          started.push({
            ...jobBase(job, p),
            messageType: type,
            runnerId: num(job, 'runnerId', p),
            runnerName: str(job, 'runnerName', p),
          });
          break;
        case 'JobCompleted':
          completed.push({
            ...jobBase(job, p),
            messageType: type,
            result: str(job, 'result', p),
            runnerId: num(job, 'runnerId', p),
            runnerName: str(job, 'runnerName', p),
          });
          break;
        default:
          // Unknown job types are ignored, as the SDK does (§6.1 rule 4).
          break;
      }
    });
  }
  return {
    messageId,
    messageType: RUNNER_SCALE_SET_JOB_MESSAGES,
    statistics: optionalObj(o, 'statistics', 'message', decodeStatistics),
    jobAvailableMessages: available,
    jobAssignedMessages: assigned,
    jobStartedMessages: started,
    jobCompletedMessages: completed,
  };
}

function encodeRunnerSetting(setting: RunnerSetting | undefined): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  if (setting?.ephemeral === true) {
    out.ephemeral = true;
  }
  if (setting?.isElastic === true) {
    out.isElastic = true;
  }
  if (setting?.disableUpdate === true) {
    out.disableUpdate = true;
  }
  return out;
}

/**
 * Serialises a scale set for create/update (§4.4/§4.5): empty fields omitted, empty
 * label types become `System`, `RunnerSetting` (capital R) and the zero `createdOn`
 * always present, keys in the SDK's order.
 */
export function encodeRunnerScaleSet(input: RunnerScaleSetInput): string {
  const out: Record<string, unknown> = {};
  if (input.id !== undefined && input.id !== 0) {
    out.id = input.id;
  }
  if (input.name !== undefined && input.name !== '') {
    out.name = input.name;
  }
  if (input.runnerGroupId !== undefined && input.runnerGroupId !== 0) {
    out.runnerGroupId = input.runnerGroupId;
  }
  if (input.runnerGroupName !== undefined && input.runnerGroupName !== '') {
    out.runnerGroupName = input.runnerGroupName;
  }
  if (input.labels !== undefined && input.labels.length > 0) {
    out.labels = input.labels.map((label) => ({
      type: label.type === undefined || label.type === '' ? 'System' : label.type,
      name: label.name,
    }));
  }
  out.RunnerSetting = encodeRunnerSetting(input.runnerSetting);
  out.createdOn = ZERO_TIME;
  if (input.runnerJitConfigUrl !== undefined && input.runnerJitConfigUrl !== '') {
    out.runnerJitConfigUrl = input.runnerJitConfigUrl;
  }
  if (input.statistics !== undefined && input.statistics !== null) {
    out.statistics = input.statistics;
  }
  return JSON.stringify(out);
}

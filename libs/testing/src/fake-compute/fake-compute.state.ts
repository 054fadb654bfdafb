import { randomBytes } from 'node:crypto';
import { ComputeApiError, invalidField, notFound } from './fake-compute.errors';
import type { InsertFault, OperationFailure } from './fake-compute.faults';
import { parseListFilter } from './fake-compute.filter';
import {
  checkLabels,
  checkMetadataItems,
  fingerprint,
  googleTime,
  instanceUrl,
  metadataResource,
  numericId,
  validateInsert,
  zoneUrl,
  API_BASE,
  type MetadataItem,
  type ResourceScope,
} from './fake-compute.resources';
import type {
  FakeComputeEvent,
  FakeComputeInstance,
  FakeComputeStatus,
} from './fake-compute.types';

/** One live instance. `resource` is kept in the shape `instances.get` returns. */
export interface InstanceRecord {
  readonly name: string;
  readonly zone: string;
  readonly id: string;
  resource: Record<string, unknown>;
  status: FakeComputeStatus;
  labels: Record<string, string>;
  metadata: MetadataItem[];
  readonly guestAttributes: Map<string, Map<string, string>>;
  readonly insertBody: Record<string, unknown> | undefined;
  /** Set once a delete started (or the instance vanished); status timers then stand down. */
  gone: boolean;
  /** Set while a guest program runs inside; aborted when the VM stops or disappears. */
  guest: AbortController | undefined;
}

interface OperationRecord {
  readonly zone: string;
  readonly name: string;
  resource: Record<string, unknown>;
  readonly waiters: Set<() => void>;
}

/** Status changes the server reacts to (starting and stopping guests). */
export interface StateListener {
  statusChanged(record: InstanceRecord, from: FakeComputeStatus | 'NONE'): void;
  removed(record: InstanceRecord): void;
}

/** Timing knobs of the state machine. */
export interface StateTiming {
  bootDelayMs: number;
  operationDelayMs: number;
}

/** A page of a list call. */
interface Page<T> {
  items: T[];
  nextPageToken: string | undefined;
}

const MAX_RESULTS = 500;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
const MAX_EVENTS = 10_000;

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** Operation names look like `operation-1536679018444-57599f70734e0-984d5118-84d4d0cd`. */
function operationName(): string {
  return `operation-${Date.now()}-${hex(7).slice(0, 13)}-${hex(4)}-${hex(4)}`;
}

function encodePageToken(after: string): string {
  return Buffer.from(JSON.stringify({ after })).toString('base64url');
}

function decodePageToken(token: string | undefined): string | undefined {
  if (token === undefined || token === '') {
    return undefined;
  }
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (typeof parsed === 'object' && parsed !== null && 'after' in parsed) {
      const after = parsed.after;
      if (typeof after === 'string') {
        return after;
      }
    }
  } catch {
    // fall through to the error below
  }
  throw invalidField('pageToken', token, 'Invalid page token.');
}

function parseMaxResults(value: string | undefined): number {
  if (value === undefined || value === '' || value === '0') {
    return MAX_RESULTS;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > MAX_RESULTS) {
    throw invalidField(
      'maxResults',
      value,
      `Must be an integer between 0 and ${MAX_RESULTS} (inclusive).`,
    );
  }
  return n;
}

function paginate<T>(
  sorted: { key: string; item: T }[],
  pageToken: string | undefined,
  maxResults: string | undefined,
): Page<T> {
  const after = decodePageToken(pageToken);
  const limit = parseMaxResults(maxResults);
  const rest = after === undefined ? sorted : sorted.filter((e) => e.key > after);
  const page = rest.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: page.map((e) => e.item),
    nextPageToken: rest.length > limit && last ? encodePageToken(last.key) : undefined,
  };
}

/**
 * Everything the fake Compute API knows: instances, zonal operations and request ids, plus the
 * timers that move instances through PROVISIONING → STAGING → RUNNING and operations to DONE.
 */
export class ComputeState {
  private readonly instancesByKey = new Map<string, InstanceRecord>();
  private readonly operations = new Map<string, OperationRecord>();
  private readonly requestIds = new Map<string, OperationRecord>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly eventLog: FakeComputeEvent[] = [];
  private created = 0;
  private closed = false;

  constructor(
    readonly scope: ResourceScope,
    private readonly timing: StateTiming,
    private readonly listener: StateListener,
  ) {}

  // ---- control-side views -----------------------------------------------------------------

  get insertCount(): number {
    return this.created;
  }

  events(): FakeComputeEvent[] {
    return [...this.eventLog];
  }

  event(type: FakeComputeEvent['type'], detail: string, instance?: string): void {
    const entry: FakeComputeEvent = { at: Date.now(), type, detail };
    if (instance !== undefined) {
      entry.instance = instance;
    }
    this.eventLog.push(entry);
    if (this.eventLog.length > MAX_EVENTS) {
      this.eventLog.splice(0, this.eventLog.length - MAX_EVENTS);
    }
  }

  records(): InstanceRecord[] {
    return [...this.instancesByKey.values()];
  }

  findByName(name: string): InstanceRecord | undefined {
    return this.records().find((r) => r.name === name);
  }

  snapshot(record: InstanceRecord): FakeComputeInstance {
    return {
      name: record.name,
      zone: record.zone,
      id: record.id,
      status: record.status,
      labels: { ...record.labels },
      metadata: Object.fromEntries(record.metadata.map((i) => [i.key, i.value])),
      resource: structuredClone(record.resource),
      creationTimestamp: String(record.resource.creationTimestamp),
      insertBody: record.insertBody === undefined ? undefined : structuredClone(record.insertBody),
    };
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Stops every timer and releases pending `wait` calls. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) {
      clearTimeout(timer);
    }
    this.timers.clear();
    for (const op of this.operations.values()) {
      for (const wake of op.waiters) {
        wake();
      }
    }
  }

  private later(ms: number, fn: () => void): void {
    if (this.closed) {
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  setStatus(record: InstanceRecord, status: FakeComputeStatus): void {
    const from = record.status;
    if (from === status) {
      return;
    }
    record.status = status;
    record.resource.status = status;
    const now = googleTime(Date.now());
    if (status === 'RUNNING') {
      record.resource.lastStartTimestamp = now;
      record.resource.cpuPlatform = 'Intel Broadwell';
    }
    if (status === 'TERMINATED') {
      record.resource.lastStopTimestamp = now;
    }
    this.event('status', `${from} -> ${status}`, record.name);
    this.listener.statusChanged(record, from);
  }

  private remove(record: InstanceRecord): void {
    record.gone = true;
    if (this.instancesByKey.get(`${record.zone}/${record.name}`) === record) {
      this.instancesByKey.delete(`${record.zone}/${record.name}`);
      this.event('status', `${record.status} -> deleted`, record.name);
      this.listener.removed(record);
    }
  }

  /** The instance disappears now (deleted in the console, or by another tool). */
  deleteOutOfBand(record: InstanceRecord): void {
    this.remove(record);
  }

  /** Power-off from inside: STOPPING, then TERMINATED after the operation delay. */
  shutdown(record: InstanceRecord): void {
    if (record.gone || record.status === 'TERMINATED' || record.status === 'STOPPING') {
      return;
    }
    this.setStatus(record, 'STOPPING');
    this.later(this.timing.operationDelayMs, () => {
      if (!record.gone && record.status === 'STOPPING') {
        this.setStatus(record, 'TERMINATED');
      }
    });
  }

  /** Adds a pre-existing instance (created outside the API; no guest is started for it). */
  addInstance(zone: string, input: Record<string, unknown>): InstanceRecord {
    this.requireZone(zone);
    const name = typeof input.name === 'string' ? input.name : `instance-${hex(3)}`;
    if (this.instancesByKey.has(`${zone}/${name}`)) {
      throw new Error(`instance ${name} already exists in ${zone}`);
    }
    const now = Date.now();
    const id = typeof input.id === 'string' ? input.id : numericId();
    const labels = checkLabels(input.labels, 'resource.labels');
    const metadataInput = input.metadata as { items?: unknown } | undefined;
    const metadata = checkMetadataItems(metadataInput?.items, 'resource.metadata.items');
    const status = (
      typeof input.status === 'string' ? input.status : 'RUNNING'
    ) as FakeComputeStatus;
    const resource: Record<string, unknown> = {
      kind: 'compute#instance',
      id,
      creationTimestamp: googleTime(now),
      machineType: `${zoneUrl(this.scope.project, zone)}/machineTypes/e2-small`,
      scheduling: {
        onHostMaintenance: 'MIGRATE',
        automaticRestart: true,
        preemptible: false,
        provisioningModel: 'STANDARD',
      },
      tags: { fingerprint: fingerprint([]) },
      disks: [],
      networkInterfaces: [],
      ...structuredClone(input),
      name,
      status,
      zone: zoneUrl(this.scope.project, zone),
      selfLink: instanceUrl(this.scope.project, zone, name),
      metadata: metadataResource(metadata),
      labelFingerprint: fingerprint(labels),
    };
    if (Object.keys(labels).length > 0) {
      resource.labels = labels;
    }
    const record: InstanceRecord = {
      name,
      zone,
      id,
      resource,
      status,
      labels,
      metadata,
      guestAttributes: new Map(),
      insertBody: undefined,
      gone: false,
      guest: undefined,
    };
    this.instancesByKey.set(`${zone}/${name}`, record);
    this.event('status', `added out of band as ${status}`, name);
    return record;
  }

  // ---- lookups --------------------------------------------------------------------------------

  requireZone(zone: string): void {
    if (!this.scope.zones.includes(zone)) {
      throw invalidField('zone', zone, 'Unknown zone.');
    }
  }

  requireInstance(zone: string, name: string): InstanceRecord {
    const record = this.instancesByKey.get(`${zone}/${name}`);
    if (!record) {
      throw notFound(`projects/${this.scope.project}/zones/${zone}/instances/${name}`);
    }
    return record;
  }

  private requireOperation(zone: string, name: string): OperationRecord {
    const op = this.operations.get(`${zone}/${name}`);
    if (!op) {
      throw notFound(`projects/${this.scope.project}/zones/${zone}/operations/${name}`);
    }
    return op;
  }

  /** Whether a request id was seen before (its call will return the earlier operation). */
  knowsRequestId(requestId: string | undefined): boolean {
    return requestId !== undefined && this.requestIds.has(requestId.toLowerCase());
  }

  private checkRequestId(requestId: string | undefined): OperationRecord | undefined {
    if (requestId === undefined || requestId === '') {
      return undefined;
    }
    if (!UUID.test(requestId) || requestId === ZERO_UUID) {
      throw invalidField(
        'requestId',
        requestId,
        'Must be a valid UUID other than the zero UUID (00000000-0000-0000-0000-000000000000).',
      );
    }
    return this.requestIds.get(requestId.toLowerCase());
  }

  // ---- operations -----------------------------------------------------------------------------

  private startOperation(
    zone: string,
    type: string,
    target: { name: string; id: string },
    user: string,
    requestId: string | undefined,
  ): OperationRecord {
    const name = operationName();
    const now = googleTime(Date.now());
    const op: OperationRecord = {
      zone,
      name,
      waiters: new Set(),
      resource: {
        kind: 'compute#operation',
        id: numericId(),
        name,
        zone: zoneUrl(this.scope.project, zone),
        operationType: type,
        targetLink: instanceUrl(this.scope.project, zone, target.name),
        targetId: target.id,
        status: 'RUNNING',
        user,
        progress: 0,
        insertTime: now,
        startTime: now,
        selfLink: `${zoneUrl(this.scope.project, zone)}/operations/${name}`,
      },
    };
    this.operations.set(`${zone}/${name}`, op);
    if (requestId !== undefined && requestId !== '') {
      this.requestIds.set(requestId.toLowerCase(), op);
    }
    return op;
  }

  private finishOperation(op: OperationRecord, failure?: OperationFailure): void {
    op.resource.status = 'DONE';
    op.resource.progress = 100;
    op.resource.endTime = googleTime(Date.now());
    if (failure) {
      const error: Record<string, unknown> = { code: failure.code, message: failure.message };
      if (failure.errorDetails) {
        error.errorDetails = failure.errorDetails;
      }
      op.resource.error = { errors: [error] };
      op.resource.httpErrorStatusCode = failure.httpStatus;
      op.resource.httpErrorMessage = failure.httpMessage;
    }
    for (const wake of op.waiters) {
      wake();
    }
    op.waiters.clear();
  }

  getOperation(zone: string, name: string): Record<string, unknown> {
    return structuredClone(this.requireOperation(zone, name).resource);
  }

  /** `zoneOperations.wait`: returns when DONE, after `timeoutMs` or when the fake closes. */
  async waitOperation(
    zone: string,
    name: string,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    const op = this.requireOperation(zone, name);
    if (op.resource.status !== 'DONE' && !this.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          op.waiters.delete(wake);
          resolve();
        }, timeoutMs);
        const wake = (): void => {
          clearTimeout(timer);
          resolve();
        };
        op.waiters.add(wake);
      });
    }
    return structuredClone(op.resource);
  }

  // ---- instances ------------------------------------------------------------------------------

  /**
   * `instances.insert`. A repeated `requestId` returns the operation of the first call, whatever
   * happened since. An injected `fault` fails the call after validation, or makes the operation
   * end in an error without creating the instance.
   */
  insert(
    zone: string,
    body: unknown,
    requestId: string | undefined,
    user: string,
    fault: InsertFault | undefined,
  ): Record<string, unknown> {
    const previous = this.checkRequestId(requestId);
    if (previous) {
      return structuredClone(previous.resource);
    }
    const id = numericId();
    const now = Date.now();
    const valid = validateInsert(body, zone, this.scope, id, now);
    if (this.instancesByKey.has(`${zone}/${valid.name}`)) {
      throw new ComputeApiError(
        409,
        `The resource 'projects/${this.scope.project}/zones/${zone}/instances/${valid.name}' already exists`,
        'alreadyExists',
      );
    }
    if (fault?.synchronous) {
      throw fault.synchronous;
    }
    const op = this.startOperation(zone, 'insert', { name: valid.name, id }, user, requestId);
    if (fault) {
      this.later(this.timing.operationDelayMs, () => {
        this.finishOperation(op, fault.operation);
      });
      return structuredClone(op.resource);
    }
    const record: InstanceRecord = {
      name: valid.name,
      zone,
      id,
      resource: { ...valid.resource, status: 'PROVISIONING' },
      status: 'PROVISIONING',
      labels: valid.labels,
      metadata: valid.metadata,
      guestAttributes: new Map(),
      insertBody: structuredClone(body as Record<string, unknown>),
      gone: false,
      guest: undefined,
    };
    this.instancesByKey.set(`${zone}/${valid.name}`, record);
    this.created += 1;
    this.event('status', 'inserted as PROVISIONING', record.name);
    this.later(this.timing.operationDelayMs, () => {
      this.finishOperation(op);
    });
    this.later(this.timing.bootDelayMs / 2, () => {
      if (!record.gone && record.status === 'PROVISIONING') {
        this.setStatus(record, 'STAGING');
      }
    });
    this.later(this.timing.bootDelayMs, () => {
      if (!record.gone && record.status === 'STAGING') {
        this.setStatus(record, 'RUNNING');
      }
    });
    return structuredClone(op.resource);
  }

  getInstance(zone: string, name: string): Record<string, unknown> {
    return structuredClone(this.requireInstance(zone, name).resource);
  }

  /** `instances.delete`: STOPPING now, gone (and the operation DONE) after the delay. */
  delete(
    zone: string,
    name: string,
    requestId: string | undefined,
    user: string,
  ): Record<string, unknown> {
    const previous = this.checkRequestId(requestId);
    if (previous) {
      return structuredClone(previous.resource);
    }
    const record = this.requireInstance(zone, name);
    const op = this.startOperation(zone, 'delete', record, user, requestId);
    if (record.status !== 'TERMINATED') {
      this.setStatus(record, 'STOPPING');
    }
    this.later(this.timing.operationDelayMs, () => {
      this.remove(record);
      this.finishOperation(op);
    });
    return structuredClone(op.resource);
  }

  /** `instances.setMetadata`; the fingerprint must match the current one (412 otherwise). */
  setMetadata(
    zone: string,
    name: string,
    body: unknown,
    requestId: string | undefined,
    user: string,
  ): Record<string, unknown> {
    const previous = this.checkRequestId(requestId);
    if (previous) {
      return structuredClone(previous.resource);
    }
    const record = this.requireInstance(zone, name);
    const input = (typeof body === 'object' && body !== null ? body : {}) as Record<
      string,
      unknown
    >;
    const current = (record.resource.metadata as { fingerprint: string }).fingerprint;
    if (input.fingerprint !== current) {
      throw new ComputeApiError(
        412,
        'Supplied fingerprint does not match current metadata fingerprint.',
        'conditionNotMet',
      );
    }
    const items = checkMetadataItems(input.items, 'metadata.items');
    record.metadata = items;
    record.resource.metadata = metadataResource(items);
    const op = this.startOperation(zone, 'setMetadata', record, user, requestId);
    this.later(this.timing.operationDelayMs, () => {
      this.finishOperation(op);
    });
    return structuredClone(op.resource);
  }

  /** `instances.setLabels`; the label fingerprint must match (412 otherwise). */
  setLabels(
    zone: string,
    name: string,
    body: unknown,
    requestId: string | undefined,
    user: string,
  ): Record<string, unknown> {
    const previous = this.checkRequestId(requestId);
    if (previous) {
      return structuredClone(previous.resource);
    }
    const record = this.requireInstance(zone, name);
    const input = (typeof body === 'object' && body !== null ? body : {}) as Record<
      string,
      unknown
    >;
    if (input.labelFingerprint !== record.resource.labelFingerprint) {
      throw new ComputeApiError(
        412,
        'Labels fingerprint either invalid or resource labels have changed',
        'conditionNotMet',
      );
    }
    const labels = checkLabels(input.labels, 'labels');
    record.labels = labels;
    record.resource.labelFingerprint = fingerprint(labels);
    if (Object.keys(labels).length > 0) {
      record.resource.labels = labels;
    } else {
      delete record.resource.labels;
    }
    const op = this.startOperation(zone, 'setLabels', record, user, requestId);
    this.later(this.timing.operationDelayMs, () => {
      this.finishOperation(op);
    });
    return structuredClone(op.resource);
  }

  /** `instances.list` of one zone. */
  list(zone: string, query: Record<string, string>): Record<string, unknown> {
    const matches = parseListFilter(query.filter);
    const sorted = this.records()
      .filter((r) => r.zone === zone && matches(r.resource))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((r) => ({ key: r.name, item: structuredClone(r.resource) }));
    const page = paginate(sorted, query.pageToken, query.maxResults);
    const body: Record<string, unknown> = {
      kind: 'compute#instanceList',
      id: `projects/${this.scope.project}/zones/${zone}/instances`,
    };
    if (page.items.length > 0) {
      body.items = page.items;
    }
    if (page.nextPageToken !== undefined) {
      body.nextPageToken = page.nextPageToken;
    }
    body.selfLink = `${zoneUrl(this.scope.project, zone)}/instances`;
    return body;
  }

  /**
   * `instances.aggregatedList`: every known zone appears on every page, either with `instances`
   * or with the `NO_RESULTS_ON_PAGE` warning, as Google answers.
   */
  aggregatedList(query: Record<string, string>): Record<string, unknown> {
    const matches = parseListFilter(query.filter);
    const zoneIndex = (zone: string): string =>
      String(this.scope.zones.indexOf(zone)).padStart(4, '0');
    const sorted = this.records()
      .filter((r) => matches(r.resource))
      .map((r) => ({ key: `${zoneIndex(r.zone)}/${r.name}`, item: r }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const page = paginate(sorted, query.pageToken, query.maxResults);
    const items: Record<string, unknown> = {};
    for (const zone of this.scope.zones) {
      const scope = `zones/${zone}`;
      const inZone = page.items.filter((r) => r.zone === zone);
      items[scope] =
        inZone.length > 0
          ? { instances: inZone.map((r) => structuredClone(r.resource)) }
          : {
              warning: {
                code: 'NO_RESULTS_ON_PAGE',
                message: `There are no results for scope '${scope}' on this page.`,
                data: [{ key: 'scope', value: scope }],
              },
            };
    }
    const body: Record<string, unknown> = {
      kind: 'compute#instanceAggregatedList',
      id: `projects/${this.scope.project}/aggregated/instances`,
      items,
    };
    if (page.nextPageToken !== undefined) {
      body.nextPageToken = page.nextPageToken;
    }
    body.selfLink = `${API_BASE}projects/${this.scope.project}/aggregated/instances`;
    if (query.returnPartialSuccess === 'true') {
      body.unreachables = [];
    }
    return body;
  }

  /** `instances.getGuestAttributes` with `queryPath` (`''`, `ns/`, `ns/key`) or `variableKey`. */
  guestAttributes(zone: string, name: string, query: Record<string, string>): object {
    const record = this.requireInstance(zone, name);
    const self = `${instanceUrl(this.scope.project, zone, name)}/guestAttributes`;
    const all: { namespace: string; key: string; value: string }[] = [];
    for (const [namespace, entries] of record.guestAttributes) {
      for (const [key, value] of entries) {
        all.push({ namespace, key, value });
      }
    }
    const missing = (path: string): ComputeApiError =>
      notFound(
        `projects/${this.scope.project}/zones/${zone}/instances/${name}/guestAttributes/${path}`,
      );
    if (query.variableKey !== undefined) {
      const [namespace = '', key = ''] = query.variableKey.split('/');
      const found = all.find((a) => a.namespace === namespace && a.key === key);
      if (!found) {
        throw missing(query.variableKey);
      }
      return {
        kind: 'compute#guestAttributes',
        variableKey: query.variableKey,
        variableValue: found.value,
        selfLink: `${self}/${query.variableKey}`,
      };
    }
    const path = query.queryPath ?? '';
    const [namespace = '', key = ''] = path.split('/');
    const items = all.filter(
      (a) => (namespace === '' || a.namespace === namespace) && (key === '' || a.key === key),
    );
    if (items.length === 0) {
      throw missing(path);
    }
    return {
      kind: 'compute#guestAttributes',
      queryPath: path,
      queryValue: { items },
      selfLink: `${self}/${path}`,
    };
  }
}

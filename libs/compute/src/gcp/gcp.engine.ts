import { setTimeout as delay } from 'node:timers/promises';
import {
  ComputeEngine,
  type EngineInstance,
  type EngineRef,
  type EngineTarget,
  type OwnerLabels,
  type RunnerSpec,
} from '../compute.engine';
import {
  EngineCapacityError,
  EngineConfigError,
  EngineNameConflictError,
  EngineQuotaExceededError,
  EngineTimeoutError,
  EngineTransientError,
  type EngineError,
} from '../errors';
import { assertRunnerSpec } from '../runner.labels';
import {
  GcpClientApi,
  type GcpCallOptions,
  type GcpComputeApi,
  type GcpOperation,
} from './gcp.api';
import {
  classifyGcpFailure,
  describeGcpFailure,
  failureToEngineError,
  operationFailure,
  toGcpEngineError,
  type GcpFailure,
  type GcpFailureKind,
  type GcpOperation as GcpOperationName,
} from './gcp-error.mapper';
import {
  buildInstanceResource,
  deleteRequestId,
  gcpState,
  holdsJitConfig,
  insertRequestId,
  jitDigest,
  metadataValue,
  toEngineInstance,
  type GcpInstance,
} from './gcp.instance';
import {
  GCP_METADATA_KEYS,
  GCP_RUNNER_LABELS,
  gcpOwnerFilter,
  matchesGcpOwner,
} from './gcp.labels';
import {
  gcpEndpointOptions,
  resolveGcpEngineOptions,
  type GcpEngineOptions,
  type ResolvedGcpEngineOptions,
} from './gcp.options';
import {
  JIT_CONSUMED_GUEST_ATTRIBUTE,
  JIT_CONSUMED_VALUE,
  type StartupScriptEndpoints,
} from './gcp.startup-script';

/** What the engine can be given besides its options (tests, special credentials). */
export interface GcpEngineDeps {
  /**
   * Extra `InstancesClient`/`ZoneOperationsClient` options, merged last: an `authClient`,
   * `credentials`, `scopes`... Without them the clients use Application Default Credentials.
   */
  readonly clientOptions?: Readonly<Record<string, unknown>>;
  /** A Compute API implementation to use instead of the official client (unit tests). */
  readonly api?: GcpComputeApi;
  /** Where the generated startup script reaches the metadata server and the API (tests). */
  readonly startupScriptEndpoints?: StartupScriptEndpoints;
  /** Instances per aggregated list page; default 500 (the API's maximum). */
  readonly listPageSize?: number;
}

// RFC 1035 label: GCE's rule for instance names.
const INSTANCE_NAME = /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
// Attempts of one API request on transient failures (same requestId each time).
const REQUEST_ATTEMPTS = 3;
const RETRY_BASE_MS = 500;
// Bounded so two workers fighting over one name end in an error instead of a loop.
const MAX_START_ROUNDS = 4;
// zoneOperations.wait returns after at most about two minutes even if the operation runs on.
const MAX_WAIT_CALL_MS = 150_000;
// Pause between waits that came back early without the operation being done.
const WAIT_POLL_MS = 1_000;
// How many instances still holding a JIT config one list call checks and cleans up.
const MAX_SCRUBS_PER_LIST = 10;
const RETRYABLE: ReadonlySet<GcpFailureKind> = new Set<GcpFailureKind>([
  'unavailable',
  'server-error',
  'rate-limited',
  'timeout',
  'unknown',
]);

interface CallContext {
  readonly operation: GcpOperationName;
  readonly resource: string;
  readonly zone?: string;
  readonly signal?: AbortSignal | undefined;
  readonly secrets?: readonly string[];
  readonly timeoutMs?: number;
}

type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly kind: GcpFailureKind; readonly failure: GcpFailure };

interface Located {
  readonly zone: string;
  readonly instance: GcpInstance;
}

type InsertResult =
  | { readonly created: EngineRef }
  | { readonly exists: true }
  | { readonly refused: GcpFailureKind; readonly failure: GcpFailure };

/**
 * Runs each runner as one Compute Engine VM named after the runner (`@google-cloud/compute`
 * over REST, Application Default Credentials). VMs are created with deterministic request
 * ids, fall back across the configured zones on stockouts and quota errors, never restart,
 * power themselves off when their runner exits, and are only ever deleted, never stopped.
 * The JIT config travels in instance metadata and is removed from it as soon as the VM has
 * read it (see docs/gcp/README.md).
 */
export class GcpEngine extends ComputeEngine {
  override readonly kind = 'gcp' as const;
  private readonly options: ResolvedGcpEngineOptions;
  private readonly api: GcpComputeApi;
  private readonly endpoints: StartupScriptEndpoints;
  private readonly lifetime = new AbortController();

  /**
   * Validates `options` (throws {@link EngineConfigError}) and prepares the clients; no call
   * is made to the API until the first operation.
   */
  constructor(options: GcpEngineOptions, deps: GcpEngineDeps = {}) {
    super();
    this.options = resolveGcpEngineOptions(options);
    if (deps.api === undefined && (process.env['GOOGLE_SDK_NODE_LOGGING'] ?? '') !== '') {
      // The client's debug log prints whole requests, and an insert carries the JIT config.
      throw new EngineConfigError(
        'GOOGLE_SDK_NODE_LOGGING',
        'must be unset for the gcp engine: the Google client would log request bodies, which hold runner credentials',
        { engine: 'gcp' },
      );
    }
    this.api =
      deps.api ??
      new GcpClientApi(
        this.options.project,
        gcpEndpointOptions(this.options.apiEndpoint),
        deps.clientOptions,
        deps.listPageSize,
      );
    this.endpoints = deps.startupScriptEndpoints ?? {};
  }

  /** The validated options, defaults applied. */
  get config(): ResolvedGcpEngineOptions {
    return this.options;
  }

  override async start(spec: RunnerSpec, signal?: AbortSignal): Promise<EngineRef> {
    this.assertName(spec.name, 'spec.name');
    assertRunnerSpec(spec, 'gcp');
    // Builds (and so validates) the resource before any call is made.
    buildInstanceResource(this.options, spec, this.options.zones[0] ?? '', this.endpoints);
    const secrets = [spec.jitConfig];
    const digest = jitDigest(spec.jitConfig);

    for (let round = 0; round < MAX_START_ROUNDS; round++) {
      const [existing] = await this.locate(spec.name, signal, secrets);
      if (existing) {
        this.assertAdoptable(existing.instance, spec);
        const state = gcpState(existing.instance.status);
        const sameConfig = metadataValue(existing.instance, GCP_METADATA_KEYS.jitDigest) === digest;
        if (!sameConfig && (state === 'starting' || state === 'running')) {
          // Holding another JIT config: the caller has registered the runner again (which
          // voids the old registration), typically after seeing this VM still booting. The
          // VM would run a dead config: replace it instead of adopting a dud. A used (exited)
          // VM is reported as it is; the caller decides.
          await this.deleteInstance(existing, signal);
          continue;
        }
        return {
          name: spec.name,
          engineId: engineIdOf(existing.instance),
          adopted: true,
          state,
        };
      }
      const created = await this.insertWithFallback(spec, digest, signal);
      if (created !== null) {
        return created;
      }
      // Another process created it meanwhile: adopt it in the next round.
    }
    throw new EngineTransientError(
      `VM ${spec.name} kept appearing and disappearing while starting it; another process is ` +
        `working on the same runner. Will retry.`,
      { code: 'CONFLICT', engine: 'gcp', operation: 'start', resource: spec.name },
    );
  }

  override async destroy(target: EngineTarget, signal?: AbortSignal): Promise<void> {
    this.assertName(target.name, 'target.name');
    const found = await this.locate(target.name, signal);
    for (const located of found) {
      if (located.instance.labels?.[GCP_RUNNER_LABELS.owner] === this.options.ownerId) {
        await this.deleteInstance(located, signal);
      }
    }
  }

  override async list(owner: OwnerLabels, signal?: AbortSignal): Promise<EngineInstance[]> {
    if (owner.owner === '') {
      throw new EngineConfigError('owner.owner', 'must not be empty', { engine: 'gcp' });
    }
    const zones = new Set(this.options.zones);
    const found: Located[] = [];
    const total = AbortSignal.timeout(this.options.operationTimeoutMs);
    const combined = AbortSignal.any([total, this.lifetime.signal, ...(signal ? [signal] : [])]);
    try {
      for await (const page of this.api.listInstances(gcpOwnerFilter(owner), {
        timeoutMs: this.options.apiTimeoutMs,
        signal: combined,
      })) {
        for (const [zone, instances] of page.zones) {
          if (!zones.has(zone)) {
            continue;
          }
          for (const instance of instances) {
            if (matchesGcpOwner(instance.labels, owner)) {
              found.push({ zone, instance });
            }
          }
        }
      }
    } catch (err) {
      throw toGcpEngineError(err, {
        operation: 'list-instances',
        resource: `owner=${owner.owner}`,
        timedOut: total.aborted,
        aborted: combined.aborted && !total.aborted,
        timeoutMs: this.options.operationTimeoutMs,
      });
    }
    await this.scrubJitConfigs(
      found.filter((l) => holdsJitConfig(l.instance)).slice(0, MAX_SCRUBS_PER_LIST),
      signal,
    );
    return found
      .map((l) => toEngineInstance(l.instance))
      .filter((i): i is EngineInstance => i !== null);
  }

  override async inspect(name: string, signal?: AbortSignal): Promise<EngineInstance | null> {
    this.assertName(name, 'name');
    const found = await this.locate(name, signal);
    const ours = found.find(
      (l) => l.instance.labels?.[GCP_RUNNER_LABELS.owner] === this.options.ownerId,
    );
    if (!ours) {
      return null;
    }
    await this.scrubJitConfigs([ours], signal);
    return toEngineInstance(ours.instance);
  }

  override async close(): Promise<void> {
    this.lifetime.abort();
    await this.api.close();
  }

  /**
   * Inserts the VM in the first zone with capacity. Stockouts and quota refusals (from the
   * request or from the finished operation) move on to the next zone; `null` means a VM of
   * that name appeared meanwhile (to be adopted).
   */
  private async insertWithFallback(
    spec: RunnerSpec,
    digest: string,
    signal: AbortSignal | undefined,
  ): Promise<EngineRef | null> {
    const refusals: { zone: string; kind: GcpFailureKind; failure: GcpFailure }[] = [];
    for (const zone of this.options.zones) {
      const result = await this.insertInZone(spec, zone, digest, signal);
      if ('created' in result) {
        return result.created;
      }
      if ('exists' in result) {
        return null;
      }
      refusals.push({ zone, kind: result.refused, failure: result.failure });
    }
    const zones = refusals.map((r) => r.zone);
    const details = refusals.map((r) => `${r.zone}: ${r.failure.message}`).join('; ');
    const context = {
      engine: 'gcp' as const,
      operation: 'insert-instance',
      resource: spec.name,
    };
    if (refusals.every((r) => r.kind === 'quota')) {
      throw new EngineQuotaExceededError(
        `No runner VM ${spec.name} could be created: quota exceeded in every zone tried ` +
          `(${zones.join(', ')}): ${details}. Will retry; raise the quota or lower max_runners.`,
        zones,
        context,
      );
    }
    throw new EngineCapacityError(
      `No runner VM ${spec.name} could be created: no capacity for ${this.options.machineType} ` +
        `in any zone tried (${zones.join(', ')}): ${details}. Will retry; add zones to ` +
        `engine.gcp.zones or pick another machine type.`,
      zones,
      context,
    );
  }

  private async insertInZone(
    spec: RunnerSpec,
    zone: string,
    digest: string,
    signal: AbortSignal | undefined,
  ): Promise<InsertResult> {
    const secrets = [spec.jitConfig];
    const resource = buildInstanceResource(this.options, spec, zone, this.endpoints);
    const requestId = insertRequestId(this.options.ownerId, spec.name, zone, digest);
    const ctx = {
      operation: 'insert-instance' as const,
      resource: spec.name,
      zone,
      signal,
      secrets,
    };
    const handled: GcpFailureKind[] = ['stockout', 'quota', 'already-exists'];
    const inserted = await this.call(
      ctx,
      (o) => this.api.insertInstance(zone, resource, requestId, o),
      handled,
    );
    if (!inserted.ok) {
      return inserted.kind === 'already-exists'
        ? { exists: true }
        : { refused: inserted.kind, failure: inserted.failure };
    }
    const done = await this.waitForOperation(zone, inserted.value, ctx);
    const failure = done === null ? null : operationFailure(done, secrets);
    if (failure !== null) {
      const kind = classifyGcpFailure(failure);
      if (kind === 'stockout' || kind === 'quota') {
        return { refused: kind, failure };
      }
      if (kind === 'already-exists') {
        return { exists: true };
      }
      throw failureToEngineError(failure, { ...ctx, serviceAccount: this.hasServiceAccount() });
    }
    const instance = await this.getInstance(zone, spec.name, signal, secrets);
    if (instance === null) {
      throw new EngineTransientError(
        `VM ${spec.name} in ${zone} was gone right after it was created (deleted by someone ` +
          `else, or preempted). Will retry.`,
        { code: 'CONFLICT', engine: 'gcp', operation: 'insert-instance', resource: spec.name },
      );
    }
    return {
      created: {
        name: spec.name,
        engineId: engineIdOf(instance),
        adopted: false,
        state: gcpState(instance.status),
      },
    };
  }

  /** Deletes one VM and waits for it to be gone; a VM that is already gone is success. */
  private async deleteInstance(located: Located, signal: AbortSignal | undefined): Promise<void> {
    const { zone, instance } = located;
    const name = instance.name ?? '';
    const requestId = deleteRequestId(this.options.ownerId, name, zone, engineIdOf(instance));
    const ctx = { operation: 'delete-instance' as const, resource: name, zone, signal };
    const started = await this.call(ctx, (o) => this.api.deleteInstance(zone, name, requestId, o), [
      'not-found',
    ]);
    if (!started.ok) {
      return;
    }
    const done = await this.waitForOperation(zone, started.value, ctx);
    const failure = done === null ? null : operationFailure(done);
    if (failure !== null && classifyGcpFailure(failure) !== 'not-found') {
      throw failureToEngineError(failure, ctx);
    }
  }

  /**
   * Waits until a zone operation is DONE, within `operation_timeout` and the caller's signal.
   * `null` when the operation is no longer known (404): it finished long ago.
   */
  private async waitForOperation(
    zone: string,
    operation: GcpOperation,
    ctx: CallContext,
  ): Promise<GcpOperation | null> {
    const timeoutMs = this.options.operationTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    let op = operation;
    for (let polls = 0; op.status !== 'DONE'; polls++) {
      const name = op.name ?? '';
      if (name === '') {
        throw new EngineTransientError(
          `The Compute API answered ${ctx.operation} ${ctx.resource} without an operation name.`,
          { code: 'UNKNOWN', engine: 'gcp', operation: ctx.operation, resource: ctx.resource },
        );
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new EngineTimeoutError(timeoutMs, {
          engine: 'gcp',
          operation: ctx.operation,
          resource: ctx.resource,
        });
      }
      if (polls > 0) {
        await this.pause(Math.min(WAIT_POLL_MS, remaining), ctx);
      }
      const waited = await this.call(
        {
          ...ctx,
          operation: 'wait-operation',
          timeoutMs: Math.max(1, Math.min(deadline - Date.now(), MAX_WAIT_CALL_MS)),
        },
        (o) => this.api.waitOperation(zone, name, o),
        ['not-found', 'timeout'],
      );
      if (!waited.ok) {
        if (waited.kind === 'timeout') {
          continue; // the deadline check above decides whether to wait again
        }
        return null;
      }
      op = waited.value;
    }
    return op;
  }

  /** The VMs of that name in the configured zones (normally at most one), in zone order. */
  private async locate(
    name: string,
    signal: AbortSignal | undefined,
    secrets?: readonly string[],
  ): Promise<Located[]> {
    const found = await Promise.all(
      this.options.zones.map(async (zone) => {
        const instance = await this.getInstance(zone, name, signal, secrets);
        return instance === null ? null : { zone, instance };
      }),
    );
    return found.filter((l): l is Located => l !== null);
  }

  private async getInstance(
    zone: string,
    name: string,
    signal: AbortSignal | undefined,
    secrets?: readonly string[],
  ): Promise<GcpInstance | null> {
    const got = await this.call(
      { operation: 'get-instance', resource: name, zone, signal, ...(secrets ? { secrets } : {}) },
      (o) => this.api.getInstance(zone, name, o),
      ['not-found'],
    );
    return got.ok ? got.value : null;
  }

  /**
   * Second line of defence for the JIT config (the VM removes it itself at boot): removes
   * `scaleset-jit-config` from VMs that still hold it although they have taken it (guest
   * attribute set), stopped or exited. Best effort: a failure is left for the next call.
   */
  private async scrubJitConfigs(
    located: readonly Located[],
    signal: AbortSignal | undefined,
  ): Promise<void> {
    await Promise.allSettled(
      located
        .filter((l) => holdsJitConfig(l.instance))
        .map(async (l) => {
          const state = gcpState(l.instance.status);
          const name = l.instance.name ?? '';
          if (state === 'starting') {
            return;
          }
          if (state === 'running') {
            const attribute = await this.call(
              { operation: 'get-guest-attributes', resource: name, zone: l.zone, signal },
              (o) => this.api.getGuestAttribute(l.zone, name, JIT_CONSUMED_GUEST_ATTRIBUTE, o),
            );
            if (!attribute.ok || attribute.value !== JIT_CONSUMED_VALUE) {
              return;
            }
          }
          await this.removeJitConfig(l, signal);
        }),
    );
  }

  /** setMetadata without the JIT config key, guarded by the fingerprint (412: read again). */
  private async removeJitConfig(located: Located, signal: AbortSignal | undefined): Promise<void> {
    const name = located.instance.name ?? '';
    let instance: GcpInstance | null = located.instance;
    for (let attempt = 0; attempt < REQUEST_ATTEMPTS && instance !== null; attempt++) {
      if (!holdsJitConfig(instance)) {
        return;
      }
      const items = (instance.metadata?.items ?? []).filter(
        (i) => i.key !== GCP_METADATA_KEYS.jitConfig,
      );
      const fingerprint = instance.metadata?.fingerprint ?? null;
      const ctx = {
        operation: 'set-metadata' as const,
        resource: name,
        zone: located.zone,
        signal,
        secrets: [metadataValue(instance, GCP_METADATA_KEYS.jitConfig) ?? ''],
      };
      const started = await this.call(
        ctx,
        (o) => this.api.setMetadata(located.zone, name, { fingerprint, items }, o),
        ['conflict', 'not-found'],
      );
      if (started.ok) {
        const done = await this.waitForOperation(located.zone, started.value, ctx);
        const failure = done === null ? null : operationFailure(done);
        if (failure === null) {
          return;
        }
        if (classifyGcpFailure(failure) !== 'conflict') {
          return;
        }
      } else if (started.kind === 'not-found') {
        return;
      }
      instance = await this.getInstance(located.zone, name, signal);
    }
  }

  /**
   * Runs one API request with its timeout, the caller's signal and `close()`. Transient
   * failures are retried (the same request, so the same requestId); failures of a kind in
   * `handled` are returned to the caller; everything else is thrown as an engine error.
   */
  private async call<T>(
    ctx: CallContext,
    fn: (o: GcpCallOptions) => Promise<T>,
    handled: readonly GcpFailureKind[] = [],
  ): Promise<Outcome<T>> {
    const timeoutMs = ctx.timeoutMs ?? this.options.apiTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      const timeout = AbortSignal.timeout(timeoutMs);
      const combined = AbortSignal.any([
        timeout,
        this.lifetime.signal,
        ...(ctx.signal ? [ctx.signal] : []),
      ]);
      let err: unknown;
      try {
        return {
          ok: true,
          value: await untilAborted(fn({ timeoutMs, signal: combined }), combined),
        };
      } catch (caught) {
        err = caught;
      }
      const aborted = combined.aborted && !timeout.aborted;
      const failure = describeGcpFailure(err, ctx.secrets);
      const kind: GcpFailureKind = timeout.aborted ? 'timeout' : classifyGcpFailure(failure);
      if (!aborted && handled.includes(kind)) {
        return { ok: false, kind, failure };
      }
      if (!aborted && RETRYABLE.has(kind) && attempt < REQUEST_ATTEMPTS) {
        await this.pause(RETRY_BASE_MS * 2 ** (attempt - 1) * (0.5 + Math.random()), ctx);
        continue;
      }
      throw this.mapError(err, ctx, { timedOut: timeout.aborted, aborted, timeoutMs });
    }
  }

  private mapError(
    err: unknown,
    ctx: CallContext,
    flags: { timedOut: boolean; aborted: boolean; timeoutMs: number },
  ): EngineError {
    return toGcpEngineError(err, {
      operation: ctx.operation,
      resource: ctx.resource,
      ...(ctx.zone === undefined ? {} : { zone: ctx.zone }),
      ...(ctx.secrets === undefined ? {} : { secrets: ctx.secrets }),
      ...flags,
      serviceAccount: this.hasServiceAccount(),
    });
  }

  private async pause(ms: number, ctx: CallContext): Promise<void> {
    const signals = [this.lifetime.signal, ...(ctx.signal ? [ctx.signal] : [])];
    try {
      await delay(ms, undefined, { signal: AbortSignal.any(signals) });
    } catch (err) {
      throw this.mapError(err, ctx, { timedOut: false, aborted: true, timeoutMs: ms });
    }
  }

  private hasServiceAccount(): boolean {
    return this.options.serviceAccount !== null;
  }

  private assertName(name: string, field: string): void {
    if (!INSTANCE_NAME.test(name)) {
      throw new EngineConfigError(
        field,
        'must be a GCE instance name: 1-63 lower-case letters, digits or "-", starting with a letter and not ending with "-"',
        { engine: 'gcp' },
      );
    }
  }

  private assertAdoptable(instance: GcpInstance, spec: RunnerSpec): void {
    const labels = instance.labels ?? {};
    const context = { engine: 'gcp' as const, operation: 'start' };
    if (labels[GCP_RUNNER_LABELS.owner] !== this.options.ownerId) {
      throw new EngineNameConflictError(
        spec.name,
        `it does not carry this deployment's ${GCP_RUNNER_LABELS.owner} label`,
        context,
      );
    }
    const runner = metadataValue(instance, GCP_METADATA_KEYS.runnerName) ?? spec.name;
    if (runner !== spec.name || labels[GCP_RUNNER_LABELS.scaleSetId] !== String(spec.scaleSetId)) {
      throw new EngineNameConflictError(
        spec.name,
        'it belongs to another runner or scale set of this deployment',
        context,
      );
    }
  }
}

function engineIdOf(instance: GcpInstance): string {
  const id = instance.id;
  return id === null || id === undefined || String(id) === '' || String(id) === '0'
    ? (instance.name ?? '')
    : String(id);
}

/** Settles with `promise`, or rejects as soon as `signal` aborts (the request may run on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    void promise.catch(() => undefined);
    return Promise.reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
  }
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => {
      void promise.catch(() => undefined);
      reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    };
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

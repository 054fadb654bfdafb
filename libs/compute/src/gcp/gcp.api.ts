import { createRequire } from 'node:module';
import type * as GoogleCompute from '@google-cloud/compute';
import type { InstancesClient, ZoneOperationsClient, protos } from '@google-cloud/compute';
import type { GcpInstance } from './gcp.instance';
import type { GcpEndpointOptions } from './gcp.options';

/** A zone operation as the Compute API returns it (REST JSON shape). */
export type GcpOperation = protos.google.cloud.compute.v1.IOperation;

/** Instance metadata with its fingerprint, as `setMetadata` takes it. */
export type GcpMetadata = protos.google.cloud.compute.v1.IMetadata;

/** Per-call limits: every request has a timeout and stops when `signal` aborts. */
export interface GcpCallOptions {
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

/** One page of an aggregated instance list: the instances of each zone scope. */
export interface GcpInstancePage {
  /** `[zone name, instances]` pairs (scopes without instances are left out). */
  readonly zones: readonly (readonly [string, readonly GcpInstance[]])[];
}

/**
 * The few Compute API calls the engine makes (style.md 4): the real implementation wraps
 * `InstancesClient` and `ZoneOperationsClient`; unit tests pass a hand-written fake.
 * Failures are the client's own errors; the engine maps them.
 */
export interface GcpComputeApi {
  /** The instance, or a 404 error. */
  getInstance(zone: string, name: string, o: GcpCallOptions): Promise<GcpInstance>;
  /** Starts an insert; returns the zone operation. */
  insertInstance(
    zone: string,
    instance: GcpInstance,
    requestId: string,
    o: GcpCallOptions,
  ): Promise<GcpOperation>;
  /** Starts a delete; returns the zone operation. */
  deleteInstance(
    zone: string,
    name: string,
    requestId: string,
    o: GcpCallOptions,
  ): Promise<GcpOperation>;
  /** Replaces the instance's metadata (guarded by its fingerprint); returns the operation. */
  setMetadata(
    zone: string,
    name: string,
    metadata: GcpMetadata,
    o: GcpCallOptions,
  ): Promise<GcpOperation>;
  /** One guest attribute's value, or `null` when it is not set (404). */
  getGuestAttribute(
    zone: string,
    name: string,
    variableKey: string,
    o: GcpCallOptions,
  ): Promise<string | null>;
  /** Every instance matching `filter` across the project's zones, page by page. */
  listInstances(filter: string, o: GcpCallOptions): AsyncIterable<GcpInstancePage>;
  /** Waits (server-side, up to about two minutes) for a zone operation; returns it. */
  waitOperation(zone: string, operation: string, o: GcpCallOptions): Promise<GcpOperation>;
  /** Closes the clients. */
  close(): Promise<void>;
}

function callOptions(o: GcpCallOptions): { timeout: number; signal: AbortSignal; retry: null } {
  // No client-side retries: the engine retries itself, with the same requestId, within its
  // own deadlines, so a hidden retry can never outlive the caller's timeout.
  return { timeout: o.timeoutMs, signal: o.signal, retry: null };
}

function operationOf(result: readonly unknown[]): GcpOperation {
  // insert/delete/setMetadata resolve to [wrapper, undefined, raw], the wrapper holding the
  // operation as `latestResponse`.
  const wrapper = result[0] as { latestResponse?: GcpOperation } | undefined;
  return wrapper?.latestResponse ?? {};
}

function isNotFound(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) {
    return false;
  }
  const e = err as { code?: unknown; httpStatusCode?: unknown };
  return e.httpStatusCode === 404 || e.code === 404 || e.code === 5;
}

/**
 * Loads `@google-cloud/compute` on first use. The client and its dependencies take about 200 MiB
 * and a second to load, so a process that never builds a GCP engine (a listener, a Docker
 * worker) must not pay for it just by loading the compute lib.
 */
function googleCompute(): typeof GoogleCompute {
  return createRequire(__filename)('@google-cloud/compute') as typeof GoogleCompute;
}

/** The production {@link GcpComputeApi}: the official client over REST, with ADC. */
export class GcpClientApi implements GcpComputeApi {
  private readonly instances: InstancesClient;
  private readonly operations: ZoneOperationsClient;

  /**
   * Creates the clients (no network call until the first request). `clientOptions` are
   * merged last (tests inject credentials or an auth client here). `pageSize` is the
   * `maxResults` of each aggregated list page.
   */
  constructor(
    private readonly project: string,
    endpoint: GcpEndpointOptions,
    clientOptions: Readonly<Record<string, unknown>> = {},
    private readonly pageSize = 500,
  ) {
    const options = { fallback: true, ...endpoint, ...clientOptions };
    const compute = googleCompute();
    this.instances = new compute.InstancesClient({ ...options });
    this.operations = new compute.ZoneOperationsClient({ ...options });
  }

  async getInstance(zone: string, name: string, o: GcpCallOptions): Promise<GcpInstance> {
    const [instance] = await this.instances.get(
      { project: this.project, zone, instance: name },
      callOptions(o),
    );
    return instance;
  }

  async insertInstance(
    zone: string,
    instance: GcpInstance,
    requestId: string,
    o: GcpCallOptions,
  ): Promise<GcpOperation> {
    return operationOf(
      await this.instances.insert(
        { project: this.project, zone, instanceResource: instance, requestId },
        callOptions(o),
      ),
    );
  }

  async deleteInstance(
    zone: string,
    name: string,
    requestId: string,
    o: GcpCallOptions,
  ): Promise<GcpOperation> {
    return operationOf(
      await this.instances.delete(
        { project: this.project, zone, instance: name, requestId },
        callOptions(o),
      ),
    );
  }

  async setMetadata(
    zone: string,
    name: string,
    metadata: GcpMetadata,
    o: GcpCallOptions,
  ): Promise<GcpOperation> {
    return operationOf(
      await this.instances.setMetadata(
        { project: this.project, zone, instance: name, metadataResource: metadata },
        callOptions(o),
      ),
    );
  }

  async getGuestAttribute(
    zone: string,
    name: string,
    variableKey: string,
    o: GcpCallOptions,
  ): Promise<string | null> {
    try {
      const [attributes] = await this.instances.getGuestAttributes(
        { project: this.project, zone, instance: name, variableKey },
        callOptions(o),
      );
      return attributes.variableValue ?? null;
    } catch (err) {
      if (isNotFound(err)) {
        return null;
      }
      throw err;
    }
  }

  async *listInstances(filter: string, o: GcpCallOptions): AsyncIterable<GcpInstancePage> {
    const pages = this.instances.aggregatedListAsync(
      { project: this.project, filter, maxResults: this.pageSize },
      // The async iterator pages by itself; gax warns unless auto-pagination is off.
      { ...callOptions(o), autoPaginate: false },
    );
    // The iterator yields one [scope, list] pair at a time, fetching pages as needed.
    for await (const [scope, list] of pages) {
      const instances = list.instances ?? [];
      if (instances.length > 0) {
        yield { zones: [[scope.slice(scope.lastIndexOf('/') + 1), instances]] };
      }
    }
  }

  async waitOperation(zone: string, operation: string, o: GcpCallOptions): Promise<GcpOperation> {
    const [op] = await this.operations.wait(
      { project: this.project, zone, operation },
      callOptions(o),
    );
    return op;
  }

  async close(): Promise<void> {
    await Promise.all([this.instances.close(), this.operations.close()]);
  }
}

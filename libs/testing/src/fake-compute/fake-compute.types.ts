/** Options of {@link FakeCompute}; every field is optional. */
export interface FakeComputeOptions {
  /** The one project the fake serves; default `fake-project`. Other projects get 403 forbidden. */
  project?: string;
  /** Known zones; default `us-central1-a`, `us-central1-b`, `us-central1-c`. */
  zones?: string[];
  /**
   * Known images as `projects/<p>/global/images/<name>` or `projects/<p>/global/images/family/<f>`.
   * Default: any well-formed image path is accepted. With a list, an insert naming another image
   * fails with 400 `The resource '...' was not found` (reason `notFound`).
   */
  images?: string[];
  /** Time from insert to RUNNING (STAGING at half of it); default 50 ms. */
  bootDelayMs?: number;
  /** How long insert, delete and setMetadata operations stay RUNNING before DONE; default 20 ms. */
  operationDelayMs?: number;
  /** What runs inside a VM once it is RUNNING; default `null` (nothing). */
  guest?: FakeComputeGuest | null;
  /** Listen address; default `127.0.0.1`. */
  host?: string;
  /** Require `Authorization: Bearer ...` on API calls (any token or JWT); default `true`. */
  requireAuth?: boolean;
}

/** A program run inside every VM when it reaches RUNNING (a startup script, in process). */
export type FakeComputeGuest = (vm: FakeGuestContext) => Promise<void>;

/** What a guest program can see and do from inside its VM. */
export interface FakeGuestContext {
  readonly name: string;
  readonly zone: string;
  /** The metadata the guest sees through the metadata server (a snapshot at boot). */
  readonly metadata: Readonly<Record<string, string>>;
  /**
   * What a startup script does through the Compute API with the VM's own service account:
   * removes one metadata key via `instances.setMetadata` (with the fingerprint, retried on 412),
   * sent over HTTP to the fake and recorded as a request like any other.
   */
  removeMetadataKey(key: string): Promise<void>;
  /**
   * Writes a guest attribute (read through `instances.getGuestAttributes`). Like the real metadata
   * server, this throws unless the instance metadata has `enable-guest-attributes` = `TRUE`.
   */
  setGuestAttribute(namespace: string, key: string, value: string): void;
  /** Power off from inside (like `shutdown -h now`): the instance goes STOPPING, then TERMINATED. */
  shutdown(): void;
  /** Writes a line to the fake's event log (a `guest-warning` event), like a serial console. */
  log(message: string): void;
  /** Aborted when the instance is deleted, stops (TERMINATED) or the fake closes. */
  readonly signal: AbortSignal;
}

/** Instance lifecycle states of the Compute API that the fake uses. */
export type FakeComputeStatus =
  'PROVISIONING' | 'STAGING' | 'RUNNING' | 'STOPPING' | 'TERMINATED' | 'SUSPENDED';

/** A snapshot of one instance as the fake holds it. */
export interface FakeComputeInstance {
  name: string;
  /** Short zone name, e.g. `us-central1-a`. */
  zone: string;
  id: string;
  status: FakeComputeStatus;
  labels: Record<string, string>;
  metadata: Record<string, string>;
  /** The full stored instance resource as the API returns it (a copy). */
  resource: Record<string, unknown>;
  creationTimestamp: string;
  /**
   * The body of the insert request as received (a copy), for asserting on input-only fields such
   * as `disks[].initializeParams`; `undefined` for instances made with `addInstance`.
   */
  insertBody: Record<string, unknown> | undefined;
}

/** One HTTP request the fake answered (or dropped). */
export interface FakeComputeRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  /** Parsed JSON body, or `undefined` when there was none. */
  body: unknown;
  /** Status sent (or that would have been sent, for a dropped response). */
  status: number;
  /** Arrival time (ms since the epoch). */
  at: number;
  /** What the `Authorization` header carried: a JWT, another bearer token, or nothing usable. */
  auth: 'jwt' | 'token' | 'none';
  /** `true` when a `dropResponse` fault destroyed the socket instead of answering. */
  dropped: boolean;
}

/** Filter of {@link FakeComputeRequest}s. */
export interface FakeComputeRequestFilter {
  method?: string;
  pathIncludes?: string;
}

/**
 * A scripted failure. Each applies to the next `times` matching requests (default 1; `Infinity`
 * for "until cleared"). Faults are checked in the order they were injected; one fault applies per
 * request. `method` matches the HTTP verb; `pathIncludes` is a substring of the request path
 * *with* its query string (so `'/instances?'` singles out insert and list calls).
 * Faults apply to the guests' own API calls too.
 */
export type FakeComputeFault =
  | {
      /**
       * Inserts in `zone` fail for lack of capacity. `mode: 'operation'` (default): the insert is
       * accepted and its operation ends DONE with error `ZONE_RESOURCE_POOL_EXHAUSTED`;
       * `mode: 'synchronous'`: the insert call itself fails with 503
       * `ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS`.
       */
      kind: 'stockout';
      zone: string;
      times?: number;
      mode?: 'operation' | 'synchronous';
    }
  | {
      /**
       * Inserts (in `zone`, or any zone) exceed a regional quota (`metric`, default `CPUS`).
       * `mode: 'synchronous'` (default): 403 reason `quotaExceeded`; `mode: 'operation'`: the
       * operation ends DONE with error `QUOTA_EXCEEDED`.
       */
      kind: 'quota';
      zone?: string;
      times?: number;
      metric?: string;
      mode?: 'operation' | 'synchronous';
    }
  | {
      /** Any API error in Google's format (429 rateLimitExceeded, 500, 503, 403 ...). */
      kind: 'http';
      status: number;
      method?: string;
      pathIncludes?: string;
      times?: number;
      /** `errors[0].reason`; a default per status otherwise. */
      reason?: string;
    }
  | {
      /** Process the request, then destroy the socket without answering. */
      kind: 'dropResponse';
      method?: string;
      pathIncludes?: string;
      times?: number;
    }
  | { kind: 'delay'; ms: number; method?: string; pathIncludes?: string; times?: number };

/** Something that happened inside the fake (state changes, guest output and failures). */
export interface FakeComputeEvent {
  at: number;
  /** Instance name, when the event is about one. */
  instance?: string;
  type: 'status' | 'guest-started' | 'guest-finished' | 'guest-error' | 'guest-warning';
  detail: string;
}

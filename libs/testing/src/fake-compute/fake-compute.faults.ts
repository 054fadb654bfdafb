import {
  ComputeApiError,
  defaultMessage,
  defaultReason,
  STATUS_NAMES,
} from './fake-compute.errors';
import { regionOf, zoneUrl } from './fake-compute.resources';
import type { FakeComputeFault } from './fake-compute.types';

/** An operation error in the shape of `operation.error.errors[]`. */
export interface OperationFailure {
  httpStatus: number;
  httpMessage: string;
  code: string;
  message: string;
  errorDetails?: Record<string, unknown>[];
}

/** How an insert fault shows: the insert call fails, or its operation ends in an error. */
export type InsertFault =
  { synchronous: ComputeApiError } | { operation: OperationFailure; synchronous?: undefined };

/** What the request at hand is, for matching faults. */
export interface FaultTarget {
  method: string;
  /** Path plus query string, as received. */
  url: string;
  /** Set for `instances.insert` calls (stockout and quota faults apply only to those). */
  insertZone: string | undefined;
}

interface ArmedFault {
  spec: FakeComputeFault;
  remaining: number;
}

const RESOURCE_ERROR_DOCS = 'https://cloud.google.com/compute/docs/resource-error';

/** Holds scripted faults and hands out the first one matching a request, consuming one use. */
export class FaultInjector {
  private faults: ArmedFault[] = [];

  add(spec: FakeComputeFault): void {
    const times = spec.times ?? 1;
    if (!(times === Number.POSITIVE_INFINITY || (Number.isInteger(times) && times >= 1))) {
      throw new RangeError(`fault times must be a positive integer or Infinity, got ${times}`);
    }
    if (spec.kind === 'http' && (spec.status < 400 || spec.status > 599)) {
      throw new RangeError(`http fault status must be 4xx or 5xx, got ${spec.status}`);
    }
    this.faults.push({ spec, remaining: times });
  }

  clear(): void {
    this.faults = [];
  }

  take(target: FaultTarget): FakeComputeFault | undefined {
    this.faults = this.faults.filter((f) => f.remaining > 0);
    for (const fault of this.faults) {
      if (matches(fault.spec, target)) {
        fault.remaining -= 1;
        return fault.spec;
      }
    }
    return undefined;
  }
}

function matches(spec: FakeComputeFault, target: FaultTarget): boolean {
  switch (spec.kind) {
    case 'stockout':
      return target.insertZone === spec.zone;
    case 'quota':
      return (
        target.insertZone !== undefined &&
        (spec.zone === undefined || spec.zone === target.insertZone)
      );
    case 'http':
    case 'dropResponse':
    case 'delay':
      return (
        (spec.method === undefined || spec.method.toUpperCase() === target.method) &&
        (spec.pathIncludes === undefined || target.url.includes(spec.pathIncludes))
      );
  }
}

/** The error body of an `http` fault, in Google's format. */
export function httpFaultError(
  spec: Extract<FakeComputeFault, { kind: 'http' }>,
  project: string,
): ComputeApiError {
  const status = spec.status;
  // Errors from Google's front end (auth, rate limits) carry `status`; Compute's own do not.
  const fromFrontEnd = status === 401 || status === 429;
  const extra: { statusName?: string; domain?: string } = {};
  if (fromFrontEnd) {
    const name = STATUS_NAMES[status];
    if (name !== undefined) {
      extra.statusName = name;
    }
  }
  if (status === 429) {
    extra.domain = 'usageLimits';
  }
  return new ComputeApiError(
    status,
    defaultMessage(status, project),
    spec.reason ?? defaultReason(status),
    extra,
  );
}

function stockoutMessage(project: string, zone: string): string {
  return (
    `The zone 'projects/${project}/zones/${zone}' does not have enough resources available ` +
    'to fulfill the request.  Try a different zone, or try again later.'
  );
}

function stockoutDetails(zone: string, vmType: string): Record<string, unknown>[] {
  return [
    {
      help: { links: [{ description: 'Troubleshooting documentation', url: RESOURCE_ERROR_DOCS }] },
    },
    {
      localizedMessage: {
        locale: 'en-US',
        message:
          `A ${vmType} VM instance is currently unavailable in the ${zone} zone. Alternatively, ` +
          'you can try your request again with a different VM hardware configuration or at a ' +
          'later time. For more information, see the troubleshooting documentation.',
      },
    },
    {
      errorInfo: {
        domain: 'compute.googleapis.com',
        metadatas: { attachment: '', vmType, zone, zonesAvailable: '' },
        reason: 'resource_availability',
      },
    },
  ];
}

function machineTypeName(body: unknown): string {
  const raw =
    typeof body === 'object' && body !== null
      ? (body as { machineType?: unknown }).machineType
      : '';
  return typeof raw === 'string' ? (raw.split('/').pop() ?? '') : '';
}

/** The stockout or quota failure of an insert in `zone`. */
export function insertFault(
  spec: Extract<FakeComputeFault, { kind: 'stockout' | 'quota' }>,
  project: string,
  zone: string,
  body: unknown,
): InsertFault {
  const vmType = machineTypeName(body);
  if (spec.kind === 'stockout') {
    if (spec.mode === 'synchronous') {
      return {
        synchronous: new ComputeApiError(
          503,
          `The zone 'projects/${project}/zones/${zone}' does not have enough resources ` +
            "available to fulfill the request.  '(resource type:compute)'.",
          'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS',
          {
            details: [
              {
                '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
                reason: 'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS',
                domain: 'compute.googleapis.com',
                metadata: { zone, vmType, zonesAvailable: '' },
              },
              {
                '@type': 'type.googleapis.com/google.rpc.Help',
                links: [{ description: 'Troubleshooting documentation', url: RESOURCE_ERROR_DOCS }],
              },
            ],
          },
        ),
      };
    }
    return {
      operation: {
        httpStatus: 503,
        httpMessage: 'SERVICE UNAVAILABLE',
        code: 'ZONE_RESOURCE_POOL_EXHAUSTED',
        message: stockoutMessage(project, zone),
        errorDetails: stockoutDetails(zone, vmType),
      },
    };
  }
  const metric = spec.metric ?? 'CPUS';
  const region = regionOf(zone);
  // Google writes two spaces after "exceeded."; keep that so message matching stays honest.
  const message = `Quota '${metric}' exceeded.  Limit: 24.0 in region ${region}.`;
  const quotaInfo = {
    metricName: `compute.googleapis.com/${metric.toLowerCase()}`,
    limitName: `${metric}-per-project-region`,
    dimensions: { region },
    limit: 24,
  };
  if (spec.mode === 'operation') {
    return {
      operation: {
        httpStatus: 403,
        httpMessage: 'FORBIDDEN',
        code: 'QUOTA_EXCEEDED',
        message,
        errorDetails: [{ quotaInfo }],
      },
    };
  }
  return {
    synchronous: new ComputeApiError(403, message, 'quotaExceeded', {
      domain: 'usageLimits',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'QUOTA_EXCEEDED',
          domain: 'compute.googleapis.com',
          metadata: { quota_metric: quotaInfo.metricName, region, zone: zoneUrl(project, zone) },
        },
      ],
    }),
  };
}

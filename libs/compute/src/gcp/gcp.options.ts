import type { GcpEngineConfig } from '@app/config';
import { EngineConfigError } from '../errors';
import { GCP_LABEL_KEY, GCP_LABEL_VALUE, RESERVED_GCP_LABEL_PREFIX } from './gcp.labels';

/**
 * Settings of the GCP Compute Engine engine: the validated config section (`engine.gcp`) plus
 * the owner id and two engine-internal timeouts.
 */
export interface GcpEngineOptions extends GcpEngineConfig {
  /** Deployment id written as the owner label on every VM. */
  readonly ownerId: string;
  /** Timeout of each Compute API request (not of the operations they start), in ms. Default 30 000. */
  readonly apiTimeoutMs?: number;
}

/** {@link GcpEngineOptions} with defaults applied and every value checked. */
export interface ResolvedGcpEngineOptions {
  readonly ownerId: string;
  readonly project: string;
  /** Zones tried in order; never empty. */
  readonly zones: readonly string[];
  readonly image: string;
  readonly machineType: string;
  readonly diskSizeGb: number;
  readonly diskType: string;
  /** The network as the API wants it: `global/networks/<name>` or the self-link given. */
  readonly network: string;
  /** Subnet name or self-link as configured; resolved per zone by {@link subnetworkFor}. */
  readonly subnet: string | null;
  readonly publicIp: boolean;
  readonly serviceAccount: string | null;
  readonly scopes: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly tags: readonly string[];
  readonly provisioningModel: 'STANDARD' | 'SPOT';
  readonly metadata: Readonly<Record<string, string>>;
  readonly startupScript: string | null;
  readonly apiEndpoint: string | null;
  readonly operationTimeoutMs: number;
  readonly apiTimeoutMs: number;
}

/** Where the Compute client connects: the parts of its options that `api_endpoint` sets. */
export interface GcpEndpointOptions {
  readonly apiEndpoint?: string;
  readonly port?: number;
  readonly protocol?: 'http' | 'https';
}

/** Metadata keys scaleset writes itself; user metadata may not set them. */
export const RESERVED_GCP_METADATA = /^(startup-script|startup-script-url|scaleset-.*)$/;

const ZONE = /^[a-z]+-[a-z]+\d+-[a-z]$/;
// Project ids, including the legacy domain-scoped form `example.com:my-project`.
const PROJECT = /^(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
// Machine and disk type names; a URL would pin one zone while zones fall back.
const TYPE_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const SUBNET_REGION = /(?:^|\/)regions\/([a-z]+-[a-z]+\d+)\/subnetworks\//;
const METADATA_KEY = /^[a-zA-Z0-9_-]{1,128}$/;

/** The region of a zone: `us-central1-a` → `us-central1`. */
export function regionOf(zone: string): string {
  return zone.replace(/-[a-z]$/, '');
}

/**
 * Turns `api_endpoint` into client options: `http://127.0.0.1:8080` becomes an http endpoint
 * with a port (a local fake), `https://host[:port]` or a bare host an https one. Unset keeps
 * the client's default (`compute.googleapis.com`).
 */
export function gcpEndpointOptions(apiEndpoint: string | null | undefined): GcpEndpointOptions {
  if (apiEndpoint === null || apiEndpoint === undefined || apiEndpoint === '') {
    return {};
  }
  let url: URL;
  try {
    url = new URL(apiEndpoint.includes('://') ? apiEndpoint : `https://${apiEndpoint}`);
  } catch {
    throw new EngineConfigError('engine.gcp.api_endpoint', 'must be a host name or an http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new EngineConfigError('engine.gcp.api_endpoint', 'must be a host name or an http(s) URL');
  }
  if (url.pathname !== '/' && url.pathname !== '') {
    throw new EngineConfigError(
      'engine.gcp.api_endpoint',
      'must not have a path; the client adds /compute/v1 itself',
    );
  }
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? (protocol === 'http' ? 80 : 443) : Number(url.port);
  return { apiEndpoint: host, port, protocol };
}

/**
 * The subnetwork for a VM in `zone`: a name becomes `regions/<region of zone>/subnetworks/<name>`
 * (a same-named subnet is expected in every region the zones span); a path is used as given.
 */
export function subnetworkFor(subnet: string | null, zone: string): string | null {
  if (subnet === null) {
    return null;
  }
  return subnet.includes('/') ? subnet : `regions/${regionOf(zone)}/subnetworks/${subnet}`;
}

function positiveMs(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) {
    return fallback;
  }
  if (!Number.isInteger(value) || value <= 0) {
    throw new EngineConfigError(field, 'must be a positive whole number of milliseconds');
  }
  return value;
}

function nonEmpty(value: string | undefined, field: string): string {
  if (value === undefined || value.trim() === '' || /\s/.test(value)) {
    throw new EngineConfigError(field, 'must be a non-empty value without spaces');
  }
  return value;
}

/**
 * Applies defaults and validates the options again (the config lib already did for values that
 * come from the file; the engine can also be built directly). Throws {@link EngineConfigError}
 * naming the `engine.gcp.*` field; messages never echo values.
 */
export function resolveGcpEngineOptions(options: GcpEngineOptions): ResolvedGcpEngineOptions {
  if (!GCP_LABEL_VALUE.test(options.ownerId) || options.ownerId === '') {
    throw new EngineConfigError(
      'deployment.id',
      'must be 1-63 lower-case letters, digits, "_" or "-" to be a GCP label value',
    );
  }
  if (!PROJECT.test(options.project)) {
    throw new EngineConfigError(
      'engine.gcp.project',
      'must be a project id such as my-project-123',
    );
  }
  const zones = [...new Set(options.zones)];
  if (zones.length === 0) {
    throw new EngineConfigError('engine.gcp.zone', 'at least one zone is required');
  }
  zones.forEach((zone, i) => {
    if (!ZONE.test(zone)) {
      throw new EngineConfigError(
        `engine.gcp.zones[${i}]`,
        'must be a zone name such as us-central1-a',
      );
    }
  });
  const image = nonEmpty(options.image, 'engine.gcp.image');
  for (const [value, field] of [
    [options.machineType, 'engine.gcp.machine_type'],
    [options.diskType, 'engine.gcp.disk_type'],
  ] as const) {
    if (!TYPE_NAME.test(value)) {
      throw new EngineConfigError(
        field,
        'must be a type name such as e2-medium or pd-balanced (not a URL: the zone varies)',
      );
    }
  }
  if (!Number.isInteger(options.diskSizeGb) || options.diskSizeGb < 10) {
    throw new EngineConfigError('engine.gcp.disk_size_gb', 'must be a whole number, at least 10');
  }
  const network = nonEmpty(options.network, 'engine.gcp.network');
  const subnet =
    options.subnet === undefined ? null : nonEmpty(options.subnet, 'engine.gcp.subnet');
  const subnetRegion = subnet === null ? undefined : SUBNET_REGION.exec(subnet)?.[1];
  if (subnetRegion !== undefined) {
    const outside = zones.filter((z) => regionOf(z) !== subnetRegion);
    if (outside.length > 0) {
      throw new EngineConfigError(
        'engine.gcp.subnet',
        `is in region ${subnetRegion} but zones ${outside.join(', ')} are not; give the subnet by name to use one per region`,
      );
    }
  }
  for (const key of Object.keys(options.labels)) {
    if (!GCP_LABEL_KEY.test(key) || key.startsWith(RESERVED_GCP_LABEL_PREFIX)) {
      throw new EngineConfigError(
        `engine.gcp.labels.${key}`,
        `must be a GCP label key not starting with "${RESERVED_GCP_LABEL_PREFIX}"`,
      );
    }
  }
  for (const [key, value] of Object.entries(options.labels)) {
    if (!GCP_LABEL_VALUE.test(value)) {
      throw new EngineConfigError(
        `engine.gcp.labels.${key}`,
        'label values may hold at most 63 lower-case letters, digits, "_" or "-"',
      );
    }
  }
  for (const key of Object.keys(options.metadata)) {
    if (!METADATA_KEY.test(key) || RESERVED_GCP_METADATA.test(key)) {
      throw new EngineConfigError(
        `engine.gcp.metadata.${key}`,
        'must be a metadata key of letters, digits, "_" or "-" that scaleset does not set itself (startup-script, scaleset-*)',
      );
    }
  }
  if (options.serviceAccount !== undefined && !options.serviceAccount.includes('@')) {
    throw new EngineConfigError('engine.gcp.service_account', 'must be a service account email');
  }
  if (options.startupScript?.trim() === '') {
    throw new EngineConfigError('engine.gcp.startup_script', 'must not be empty; leave it unset');
  }
  gcpEndpointOptions(options.apiEndpoint);
  return {
    ownerId: options.ownerId,
    project: options.project,
    zones,
    image,
    machineType: options.machineType,
    diskSizeGb: options.diskSizeGb,
    diskType: options.diskType,
    network: network.includes('/') ? network : `global/networks/${network}`,
    subnet,
    publicIp: options.publicIp,
    serviceAccount: options.serviceAccount ?? null,
    scopes: [...options.scopes],
    labels: { ...options.labels },
    tags: [...options.tags],
    provisioningModel: options.provisioningModel,
    metadata: { ...options.metadata },
    startupScript: options.startupScript ?? null,
    apiEndpoint: options.apiEndpoint ?? null,
    operationTimeoutMs: positiveMs(
      options.operationTimeoutMs,
      300_000,
      'engine.gcp.operation_timeout',
    ),
    apiTimeoutMs: positiveMs(options.apiTimeoutMs, 30_000, 'engine.gcp.api_timeout'),
  };
}

import { createHash } from 'node:crypto';
import type { protos } from '@google-cloud/compute';
import type { EngineInstance, EngineState, RunnerSpec } from '../compute.engine';
import { GCP_METADATA_KEYS, GCP_RUNNER_LABELS, buildGcpLabels } from './gcp.labels';
import { subnetworkFor, type ResolvedGcpEngineOptions } from './gcp.options';
import { runnerStartupScript, type StartupScriptEndpoints } from './gcp.startup-script';

/** The Compute API's instance resource (REST JSON shape). */
export type GcpInstance = protos.google.cloud.compute.v1.IInstance;

/** The metadata keys whose values are secret and never leave the engine. */
const SECRET_METADATA_KEYS: ReadonlySet<string> = new Set([GCP_METADATA_KEYS.jitConfig]);

/**
 * Maps a Compute Engine instance status to the engine-neutral state. A VM that powered itself
 * off after its job (TERMINATED), was preempted or suspended is `exited`: a used runner that
 * must be deleted. GCE has no "deleting" status: a VM being deleted shows STOPPING and then
 * disappears.
 */
export function gcpState(status: string | null | undefined): EngineState {
  switch (status) {
    case 'PROVISIONING':
    case 'STAGING':
    case 'PENDING':
      return 'starting';
    case 'RUNNING':
      return 'running';
    case 'STOPPING':
    case 'SUSPENDING':
    case 'PENDING_STOP':
    case 'REPAIRING':
      return 'stopping';
    case 'TERMINATED':
    case 'SUSPENDED':
      return 'exited';
    case null:
    case undefined:
    default:
      return 'starting';
  }
}

/** SHA-256 of the JIT config (hex): tells an instance's config apart without holding it. */
export function jitDigest(jitConfig: string): string {
  return createHash('sha256').update(jitConfig).digest('hex');
}

/**
 * A deterministic Compute API `requestId` (a UUID, as the API requires): the same `parts`
 * always give the same id, so a retried insert or delete is recognised by Compute Engine as
 * the same request (for at least 60 minutes) and never runs twice.
 */
export function gcpRequestId(...parts: readonly string[]): string {
  const hex = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  // Shaped as a version-5-style UUID (name-based): version nibble 5, RFC 4122 variant.
  const variant = ((parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return [
    hex.slice(0, 8),
    hex.slice(8, 12),
    `5${hex.slice(13, 16)}`,
    `${variant}${hex.slice(17, 20)}`,
    hex.slice(20, 32),
  ].join('-');
}

/**
 * The insert request id of a runner in a zone: one per (owner, runner name, zone, JIT config).
 * A retry of the same start reuses it; a start with a new JIT config (the worker regenerates
 * it on every attempt) gets a new one, so a replaced VM is really created again.
 */
export function insertRequestId(owner: string, name: string, zone: string, digest: string): string {
  return gcpRequestId('insert', owner, name, zone, digest);
}

/** The delete request id of one VM (its numeric id): a later VM of the same name gets another. */
export function deleteRequestId(
  owner: string,
  name: string,
  zone: string,
  instanceId: string,
): string {
  return gcpRequestId('delete', owner, name, zone, instanceId);
}

/**
 * The instance resource for a runner in `zone`: one boot disk deleted with the VM, scaleset's
 * labels, the generated startup script, the JIT config in `scaleset-jit-config`, and a
 * scheduling that never restarts a runner (SPOT: deleted on preemption).
 */
export function buildInstanceResource(
  options: ResolvedGcpEngineOptions,
  spec: RunnerSpec,
  zone: string,
  endpoints: StartupScriptEndpoints = {},
): GcpInstance {
  const o = options;
  const hasHook = o.startupScript !== null;
  const metadata: Record<string, string> = {
    ...o.metadata,
    [GCP_METADATA_KEYS.guestAttributes]: 'TRUE',
    [GCP_METADATA_KEYS.startupScript]: runnerStartupScript(hasHook, endpoints),
    [GCP_METADATA_KEYS.runnerName]: spec.name,
    [GCP_METADATA_KEYS.scaleSetName]: spec.scaleSetName,
    [GCP_METADATA_KEYS.jitDigest]: jitDigest(spec.jitConfig),
    [GCP_METADATA_KEYS.jitConfig]: spec.jitConfig,
  };
  if (o.startupScript !== null) {
    metadata[GCP_METADATA_KEYS.startupHook] = o.startupScript;
  }
  const subnetwork = subnetworkFor(o.subnet, zone);
  const spot = o.provisioningModel === 'SPOT';
  return {
    name: spec.name,
    description: `scaleset runner ${spec.name} of scale set ${spec.scaleSetName} (${spec.scaleSetId})`,
    machineType: `zones/${zone}/machineTypes/${o.machineType}`,
    labels: buildGcpLabels(o.ownerId, spec, o.labels),
    tags: { items: [...o.tags] },
    metadata: { items: Object.entries(metadata).map(([key, value]) => ({ key, value })) },
    disks: [
      {
        boot: true,
        autoDelete: true,
        type: 'PERSISTENT',
        initializeParams: {
          sourceImage: o.image,
          diskSizeGb: String(o.diskSizeGb),
          diskType: `zones/${zone}/diskTypes/${o.diskType}`,
        },
      },
    ],
    networkInterfaces: [
      {
        network: o.network,
        ...(subnetwork === null ? {} : { subnetwork }),
        ...(o.publicIp
          ? { accessConfigs: [{ name: 'External NAT', type: 'ONE_TO_ONE_NAT' }] }
          : {}),
      },
    ],
    ...(o.serviceAccount === null
      ? {}
      : { serviceAccounts: [{ email: o.serviceAccount, scopes: [...o.scopes] }] }),
    scheduling: {
      // A runner that crashed or whose host failed must not come back: its job is gone.
      automaticRestart: false,
      onHostMaintenance: 'TERMINATE',
      provisioningModel: o.provisioningModel,
      ...(spot ? { instanceTerminationAction: 'DELETE' } : {}),
    },
  };
}

/** A metadata item's value, or `undefined`. */
export function metadataValue(instance: GcpInstance, key: string): string | undefined {
  const item = instance.metadata?.items?.find((i) => i.key === key);
  return item?.value ?? undefined;
}

/** Whether the instance still carries the JIT config in its metadata. */
export function holdsJitConfig(instance: GcpInstance): boolean {
  return metadataValue(instance, GCP_METADATA_KEYS.jitConfig) !== undefined;
}

/**
 * A copy of an instance without secret metadata values, safe to keep or log: the JIT config
 * is replaced by `[REDACTED]`.
 */
export function withoutSecrets(instance: GcpInstance): GcpInstance {
  const items = instance.metadata?.items;
  if (!items) {
    return instance;
  }
  return {
    ...instance,
    metadata: {
      ...instance.metadata,
      items: items.map((i) =>
        i.key !== null && i.key !== undefined && SECRET_METADATA_KEYS.has(i.key)
          ? { key: i.key, value: '[REDACTED]' }
          : i,
      ),
    },
  };
}

/** The zone name of an instance (from its `zone` URL), or `fallback`. */
export function zoneOf(instance: GcpInstance, fallback: string): string {
  const zone = instance.zone ?? '';
  return zone === '' ? fallback : zone.slice(zone.lastIndexOf('/') + 1);
}

/**
 * What `list` and `inspect` report for a VM carrying scaleset's owner label, or `null`
 * without one. The exact runner and scale set names come from metadata (labels may have been
 * mapped to GCP's alphabet); nothing secret is included.
 */
export function toEngineInstance(instance: GcpInstance): EngineInstance | null {
  const labels: Record<string, string> = { ...(instance.labels ?? {}) };
  const owner = labels[GCP_RUNNER_LABELS.owner];
  if (owner === undefined || owner === '') {
    return null;
  }
  const name = instance.name ?? '';
  const rawId = labels[GCP_RUNNER_LABELS.scaleSetId];
  const created = instance.creationTimestamp ? new Date(instance.creationTimestamp) : new Date(0);
  return {
    name,
    engineId: instance.id === null || instance.id === undefined ? name : String(instance.id),
    state: gcpState(instance.status),
    owner,
    scaleSetId: rawId !== undefined && /^\d+$/.test(rawId) ? Number(rawId) : null,
    scaleSetName:
      metadataValue(instance, GCP_METADATA_KEYS.scaleSetName) ??
      labels[GCP_RUNNER_LABELS.scaleSetName] ??
      null,
    runnerName:
      metadataValue(instance, GCP_METADATA_KEYS.runnerName) ??
      labels[GCP_RUNNER_LABELS.runnerName] ??
      name,
    createdAt: Number.isNaN(created.getTime()) ? new Date(0) : created,
    labels,
  };
}

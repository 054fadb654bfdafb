import { createHash, randomBytes } from 'node:crypto';
import {
  ComputeApiError,
  invalidField,
  notFound,
  projectNumber,
  requiredField,
} from './fake-compute.errors';

/**
 * Validation and shaping of instance resources: what `instances.insert` accepts and what
 * `instances.get` returns. Rules follow the Compute API reference (resource names are RFC 1035,
 * label and metadata formats, one boot disk, zonal references in the instance's zone).
 */

/** Self links use Google's public form even though the fake is served locally. */
export const API_BASE = 'https://www.googleapis.com/compute/v1/';

const NAME = /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
const NAME_REGEX_TEXT = '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)';
const LABEL_KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
const LABEL_VALUE = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u;
const METADATA_KEY = /^[a-zA-Z0-9_-]{1,128}$/;
const MACHINE_TYPE = /^(?:[a-z][a-z0-9]*-)+[a-z0-9]+$/;
const MAX_LABELS = 64;
const MAX_METADATA_VALUE_BYTES = 256 * 1024;
const MAX_METADATA_TOTAL_BYTES = 512 * 1024;
const DISK_TYPES = new Set([
  'pd-standard',
  'pd-balanced',
  'pd-ssd',
  'pd-extreme',
  'hyperdisk-balanced',
  'hyperdisk-extreme',
  'hyperdisk-throughput',
  'hyperdisk-ml',
]);
const PACIFIC_OFFSET_MS = 7 * 3_600_000;

/** A `{key, value}` metadata entry. */
export interface MetadataItem {
  key: string;
  value: string;
}

/** The parts of an insert the state needs besides the resource itself. */
export interface ValidatedInsert {
  name: string;
  resource: Record<string, unknown>;
  labels: Record<string, string>;
  metadata: MetadataItem[];
}

/** Where the fake's reference checks look things up. */
export interface ResourceScope {
  project: string;
  zones: readonly string[];
  /** Normalised known image paths, or `undefined` when any well-formed image is accepted. */
  images: ReadonlySet<string> | undefined;
}

/**
 * Timestamps in Google's style: RFC 3339 with milliseconds and a Pacific offset
 * (`2024-06-26T11:42:22.006-07:00`), so consumers must parse the offset, not assume `Z`.
 */
export function googleTime(ms: number): string {
  return new Date(ms - PACIFIC_OFFSET_MS).toISOString().replace('Z', '-07:00');
}

/** A numeric id the way Compute returns them: a decimal uint64 in a string. */
export function numericId(): string {
  const n = randomBytes(8).readBigUInt64BE() % 8_000_000_000_000_000_000n;
  return String(n + 1_000_000_000_000_000_000n);
}

/** An 8-byte base64 fingerprint of a value (Compute fingerprints look like `tYIvEwFDLtk=`). */
export function fingerprint(value: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(value))
    .digest()
    .subarray(0, 8)
    .toString('base64');
}

/** The region of a zone: `us-central1-a` → `us-central1`. */
export function regionOf(zone: string): string {
  return zone.replace(/-[a-z]$/, '');
}

export function zoneUrl(project: string, zone: string): string {
  return `${API_BASE}projects/${project}/zones/${zone}`;
}

export function instanceUrl(project: string, zone: string, name: string): string {
  return `${zoneUrl(project, zone)}/instances/${name}`;
}

/**
 * Turns a full URL (`https://www.googleapis.com/compute/v1/projects/...`, also
 * `compute.googleapis.com`), a `projects/...` path or a path relative to the project
 * (`zones/...`, `global/...`, `regions/...`) into `projects/<p>/...`.
 */
export function normaliseReference(value: string, project: string): string {
  const stripped = value.replace(/^https?:\/\/[^/]+\/compute\/(?:v1|beta|alpha)\//, '');
  return stripped.startsWith('projects/') ? stripped : `projects/${project}/${stripped}`;
}

/** A value as it appears in an error message (strings bare, everything else as JSON). */
export function display(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  // JSON.stringify returns undefined for undefined and functions, despite its type.
  const json = JSON.stringify(value) as string | undefined;
  return json ?? 'undefined';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== 'string') {
    throw invalidField(field, JSON.stringify(value), 'Expected a string.');
  }
  return value;
}

/** Checks a resource name (RFC 1035, at most 63 characters). */
export function checkName(value: unknown, field: string): string {
  const name = optionalString(value, field);
  if (name === undefined || name === '') {
    throw requiredField(field);
  }
  if (!NAME.test(name)) {
    throw invalidField(field, name, `Must be a match of regex '${NAME_REGEX_TEXT}'`);
  }
  return name;
}

/** Checks labels against GCP's label rules. */
export function checkLabels(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) {
    return {};
  }
  if (!isRecord(value)) {
    throw invalidField(field, JSON.stringify(value), 'Labels must be a map of strings.');
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_LABELS) {
    throw invalidField(field, '', `At most ${MAX_LABELS} labels are allowed.`);
  }
  const labels: Record<string, string> = {};
  for (const [key, raw] of entries) {
    if (!LABEL_KEY.test(key)) {
      throw invalidField(
        field,
        '',
        `Label key '${key}' violates format constraints. The key must start with a lowercase ` +
          'character, can only contain lowercase letters, numeric characters, underscores and ' +
          'dashes. The key can be at most 63 characters long. International characters are allowed.',
      );
    }
    if (typeof raw !== 'string' || !LABEL_VALUE.test(raw)) {
      throw invalidField(
        field,
        '',
        `Label value '${display(raw)}' of key '${key}' violates format constraints. The value ` +
          'can only contain lowercase letters, numeric characters, underscores and dashes. The ' +
          'value can be at most 63 characters long. International characters are allowed.',
      );
    }
    labels[key] = raw;
  }
  return labels;
}

/** Checks `metadata.items` (key format, sizes, duplicates). */
export function checkMetadataItems(value: unknown, field: string): MetadataItem[] {
  if (value === undefined || value === null) {
    return [];
  }
  if (!Array.isArray(value)) {
    throw invalidField(field, JSON.stringify(value), 'Expected a list of {key, value}.');
  }
  const seen = new Set<string>();
  let total = 0;
  return value.map((raw: unknown, i) => {
    const item = isRecord(raw) ? raw : {};
    const key = item.key;
    if (typeof key !== 'string' || !METADATA_KEY.test(key)) {
      throw invalidField(
        `${field}[${i}].key`,
        String(key),
        "Must be a match of regex '[a-zA-Z0-9-_]{1,128}'",
      );
    }
    if (seen.has(key)) {
      throw invalidField(field, '', `Duplicate metadata key '${key}'.`);
    }
    seen.add(key);
    const itemValue = item.value ?? '';
    if (typeof itemValue !== 'string') {
      throw invalidField(`${field}[${i}].value`, JSON.stringify(itemValue), 'Expected a string.');
    }
    const bytes = Buffer.byteLength(itemValue);
    if (bytes > MAX_METADATA_VALUE_BYTES) {
      throw invalidField(
        `${field}[${i}].value`,
        '',
        `Metadata value of key '${key}' is ${bytes} bytes; the limit is 262144 bytes.`,
      );
    }
    total += bytes + key.length;
    if (total > MAX_METADATA_TOTAL_BYTES) {
      throw invalidField(field, '', 'Metadata is larger than the limit of 524288 bytes.');
    }
    return { key, value: itemValue };
  });
}

/** The `metadata` field of an instance resource. */
export function metadataResource(items: MetadataItem[]): Record<string, unknown> {
  const resource: Record<string, unknown> = {
    kind: 'compute#metadata',
    fingerprint: fingerprint(items),
  };
  if (items.length > 0) {
    resource.items = items.map((i) => ({ ...i }));
  }
  return resource;
}

function zonalReference(
  value: unknown,
  field: string,
  collection: 'machineTypes' | 'diskTypes',
  zone: string,
  scope: ResourceScope,
): { url: string; type: string } {
  const raw = optionalString(value, field);
  if (raw === undefined || raw === '') {
    throw requiredField(field);
  }
  const path = normaliseReference(raw, scope.project);
  const m = new RegExp(`^projects/([^/]+)/zones/([^/]+)/${collection}/([^/]+)$`).exec(path);
  if (!m) {
    throw invalidField(
      field,
      raw,
      `Must be a URL or path of the form 'zones/<zone>/${collection}/<name>'.`,
    );
  }
  const [, project = '', refZone = '', type = ''] = m;
  if (project !== scope.project) {
    throw invalidField(field, raw, `Cross-project references are not allowed for ${collection}.`);
  }
  if (refZone !== zone) {
    throw invalidField(
      field,
      raw,
      `The ${collection === 'machineTypes' ? 'machine' : 'disk'} type is in zone '${refZone}', ` +
        `but the instance is in zone '${zone}'; they must match.`,
    );
  }
  return { url: `${API_BASE}${path}`, type };
}

function checkImage(value: unknown, field: string, scope: ResourceScope): string {
  const raw = optionalString(value, field);
  if (raw === undefined || raw === '') {
    throw requiredField(field);
  }
  const path = normaliseReference(raw, scope.project);
  if (!/^projects\/[^/]+\/global\/images\/(?:family\/)?[^/]+$/.test(path)) {
    throw invalidField(
      field,
      raw,
      "Must be a URL or path of the form 'projects/<project>/global/images/<name>' or " +
        "'projects/<project>/global/images/family/<family>'.",
    );
  }
  if (scope.images !== undefined && !scope.images.has(path)) {
    // Google answers an insert naming a missing image with 400 and reason notFound.
    const error = notFound(path);
    throw new ComputeApiError(400, error.message, 'notFound');
  }
  return path;
}

function checkDisks(
  value: unknown,
  name: string,
  zone: string,
  scope: ResourceScope,
): Record<string, unknown>[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw invalidField('resource.disks', '', 'Exactly one boot disk must be specified.');
  }
  const disks: unknown[] = value;
  const boots = disks.filter((d) => isRecord(d) && d.boot === true);
  if (boots.length !== 1) {
    throw invalidField(
      'resource.disks',
      '',
      `Exactly one boot disk must be specified (found ${boots.length} disks with boot: true).`,
    );
  }
  let nonBootIndex = 0;
  return disks.map((raw: unknown, index) => {
    const field = `resource.disks[${index}]`;
    if (!isRecord(raw)) {
      throw invalidField(field, JSON.stringify(raw), 'Expected an attached disk.');
    }
    const boot = raw.boot === true;
    if (raw.source !== undefined && raw.source !== null) {
      // The fake models no standalone disks, so an existing disk can never be found.
      throw notFound(normaliseReference(display(raw.source), scope.project));
    }
    const params = isRecord(raw.initializeParams) ? raw.initializeParams : undefined;
    if (params === undefined) {
      throw requiredField(`${field}.initializeParams`);
    }
    if (boot) {
      checkImage(params.sourceImage, `${field}.initializeParams.sourceImage`, scope);
    }
    const sizeRaw = params.diskSizeGb ?? '10';
    const size = Number(sizeRaw);
    if (!Number.isInteger(size) || size < 1 || size > 65_536) {
      throw invalidField(
        `${field}.initializeParams.diskSizeGb`,
        display(sizeRaw),
        'Must be an integer between 1 and 65536.',
      );
    }
    if (params.diskType !== undefined && params.diskType !== null) {
      const diskType = zonalReference(
        params.diskType,
        `${field}.initializeParams.diskType`,
        'diskTypes',
        zone,
        scope,
      );
      if (!DISK_TYPES.has(diskType.type)) {
        throw invalidField(
          `${field}.initializeParams.diskType`,
          display(params.diskType),
          `Disk type '${diskType.type}' does not exist in zone '${zone}'.`,
        );
      }
    }
    const diskName =
      optionalString(params.diskName, `${field}.initializeParams.diskName`) ??
      (boot ? name : `${name}-${(nonBootIndex += 1)}`);
    checkName(diskName, `${field}.initializeParams.diskName`);
    const disk: Record<string, unknown> = {
      kind: 'compute#attachedDisk',
      type: typeof raw.type === 'string' ? raw.type : 'PERSISTENT',
      mode: typeof raw.mode === 'string' ? raw.mode : 'READ_WRITE',
      source: `${zoneUrl(scope.project, zone)}/disks/${diskName}`,
      deviceName: typeof raw.deviceName === 'string' ? raw.deviceName : `persistent-disk-${index}`,
      index,
      boot,
      autoDelete: raw.autoDelete === true,
      interface: typeof raw.interface === 'string' ? raw.interface : 'SCSI',
      diskSizeGb: String(size),
      guestOsFeatures: [{ type: 'VIRTIO_SCSI_MULTIQUEUE' }, { type: 'GVNIC' }],
      architecture: 'X86_64',
    };
    if (boot) {
      disk.licenses = [];
    }
    return disk;
  });
}

function checkNetworkInterfaces(
  value: unknown,
  zone: string,
  scope: ResourceScope,
): Record<string, unknown>[] {
  if (value === undefined || value === null) {
    return [];
  }
  if (!Array.isArray(value)) {
    throw invalidField('resource.networkInterfaces', JSON.stringify(value), 'Expected a list.');
  }
  const nics: unknown[] = value;
  return nics.map((raw: unknown, index) => {
    const field = `resource.networkInterfaces[${index}]`;
    const nic = isRecord(raw) ? raw : {};
    const network = normaliseReference(
      optionalString(nic.network, `${field}.network`) ?? 'global/networks/default',
      scope.project,
    );
    if (!/^projects\/[^/]+\/global\/networks\/[^/]+$/.test(network)) {
      throw invalidField(`${field}.network`, display(nic.network), 'Not a network URL or path.');
    }
    const out: Record<string, unknown> = {
      kind: 'compute#networkInterface',
      network: `${API_BASE}${network}`,
      networkIP: `10.128.0.${2 + Math.floor(Math.random() * 250)}`,
      name: `nic${index}`,
      fingerprint: fingerprint([zone, index, Math.random()]),
      stackType: typeof nic.stackType === 'string' ? nic.stackType : 'IPV4_ONLY',
    };
    const subnetRaw = optionalString(nic.subnetwork, `${field}.subnetwork`);
    if (subnetRaw !== undefined) {
      const subnet = normaliseReference(subnetRaw, scope.project);
      const m = /^projects\/[^/]+\/regions\/([^/]+)\/subnetworks\/[^/]+$/.exec(subnet);
      if (!m) {
        throw invalidField(`${field}.subnetwork`, subnetRaw, 'Not a subnetwork URL or path.');
      }
      if (m[1] !== regionOf(zone)) {
        throw invalidField(
          `${field}.subnetwork`,
          subnetRaw,
          `The subnetwork is in region '${m[1] ?? ''}', not in the instance's region ` +
            `'${regionOf(zone)}'.`,
        );
      }
      out.subnetwork = `${API_BASE}${subnet}`;
    }
    if (typeof nic.nicType === 'string') {
      out.nicType = nic.nicType;
    }
    if (nic.accessConfigs !== undefined && nic.accessConfigs !== null) {
      if (!Array.isArray(nic.accessConfigs) || nic.accessConfigs.length > 1) {
        throw invalidField(
          `${field}.accessConfigs`,
          '',
          'At most one access config currently supported.',
        );
      }
      const configs: unknown[] = nic.accessConfigs;
      out.accessConfigs = configs.map((rawConfig: unknown) => {
        const config = isRecord(rawConfig) ? rawConfig : {};
        const type = config.type ?? 'ONE_TO_ONE_NAT';
        if (type !== 'ONE_TO_ONE_NAT') {
          throw invalidField(`${field}.accessConfigs[0].type`, display(type), 'Unsupported type.');
        }
        return {
          kind: 'compute#accessConfig',
          type,
          name: typeof config.name === 'string' ? config.name : 'External NAT',
          // TEST-NET-3 (RFC 5737): looks like a public address, routes nowhere.
          natIP:
            typeof config.natIP === 'string'
              ? config.natIP
              : `203.0.113.${1 + Math.floor(Math.random() * 254)}`,
          networkTier: typeof config.networkTier === 'string' ? config.networkTier : 'PREMIUM',
        };
      });
    }
    return out;
  });
}

function checkServiceAccounts(value: unknown, scope: ResourceScope): Record<string, unknown>[] {
  if (value === undefined || value === null) {
    return [];
  }
  if (!Array.isArray(value) || value.length > 1) {
    throw invalidField('resource.serviceAccounts', '', 'At most one service account is allowed.');
  }
  const accounts: unknown[] = value;
  return accounts.map((raw: unknown) => {
    const account = isRecord(raw) ? raw : {};
    const email = optionalString(account.email, 'resource.serviceAccounts[0].email') ?? 'default';
    const scopes: unknown = account.scopes ?? [];
    if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string')) {
      throw invalidField('resource.serviceAccounts[0].scopes', '', 'Expected a list of strings.');
    }
    return {
      email:
        email === 'default'
          ? `${projectNumber(scope.project)}-compute@developer.gserviceaccount.com`
          : email,
      scopes: [...scopes],
    };
  });
}

function checkScheduling(value: unknown): Record<string, unknown> {
  const input = isRecord(value) ? value : {};
  const model = input.provisioningModel ?? 'STANDARD';
  if (model !== 'STANDARD' && model !== 'SPOT') {
    throw invalidField(
      'resource.scheduling.provisioningModel',
      display(model),
      'Must be STANDARD or SPOT.',
    );
  }
  const action = input.instanceTerminationAction;
  if (action !== undefined && action !== null && action !== 'STOP' && action !== 'DELETE') {
    throw invalidField(
      'resource.scheduling.instanceTerminationAction',
      display(action),
      'Must be STOP or DELETE.',
    );
  }
  const spot = model === 'SPOT' || input.preemptible === true;
  if (spot && input.onHostMaintenance !== undefined && input.onHostMaintenance !== 'TERMINATE') {
    throw invalidField(
      'resource.scheduling.onHostMaintenance',
      display(input.onHostMaintenance),
      'Spot and preemptible instances must have onHostMaintenance set to TERMINATE.',
    );
  }
  if (spot && input.automaticRestart === true) {
    throw invalidField(
      'resource.scheduling.automaticRestart',
      'true',
      'Spot and preemptible instances cannot be restarted automatically.',
    );
  }
  const scheduling: Record<string, unknown> = {
    onHostMaintenance: spot ? 'TERMINATE' : (input.onHostMaintenance ?? 'MIGRATE'),
    automaticRestart: spot ? false : input.automaticRestart !== false,
    preemptible: spot,
    provisioningModel: model,
  };
  if (model === 'SPOT') {
    scheduling.instanceTerminationAction = action ?? 'STOP';
  } else if (action !== undefined && action !== null) {
    scheduling.instanceTerminationAction = action;
  }
  return scheduling;
}

function checkTags(value: unknown): Record<string, unknown> {
  const input = isRecord(value) ? value : {};
  const items: unknown = input.items ?? [];
  if (!Array.isArray(items)) {
    throw invalidField('resource.tags.items', JSON.stringify(items), 'Expected a list.');
  }
  const tags = items.map((t: unknown, i) => checkName(t, `resource.tags.items[${i}]`));
  const out: Record<string, unknown> = { fingerprint: fingerprint(tags) };
  if (tags.length > 0) {
    out.items = tags;
  }
  return out;
}

/** Output-only fields a client may echo back in an insert body; the fake ignores them. */
const OUTPUT_ONLY = new Set([
  'kind',
  'id',
  'creationTimestamp',
  'status',
  'statusMessage',
  'zone',
  'selfLink',
  'cpuPlatform',
  'labelFingerprint',
  'fingerprint',
  'lastStartTimestamp',
  'lastStopTimestamp',
]);

/**
 * Validates an `instances.insert` body for `zone` and returns the resource `instances.get` will
 * return (without status fields, which the state adds).
 */
export function validateInsert(
  body: unknown,
  zone: string,
  scope: ResourceScope,
  id: string,
  now: number,
): ValidatedInsert {
  if (!isRecord(body)) {
    throw requiredField('resource');
  }
  const name = checkName(body.name, 'resource.name');
  const machineType = zonalReference(
    body.machineType,
    'resource.machineType',
    'machineTypes',
    zone,
    scope,
  );
  if (!MACHINE_TYPE.test(machineType.type)) {
    throw invalidField(
      'resource.machineType',
      display(body.machineType),
      `Machine type with name '${machineType.type}' does not exist in zone '${zone}'.`,
    );
  }
  const labels = checkLabels(body.labels, 'resource.labels');
  const metadataInput = isRecord(body.metadata) ? body.metadata : {};
  const metadata = checkMetadataItems(metadataInput.items, 'resource.metadata.items');
  const disks = checkDisks(body.disks, name, zone, scope);
  const networkInterfaces = checkNetworkInterfaces(body.networkInterfaces, zone, scope);
  const serviceAccounts = checkServiceAccounts(body.serviceAccounts, scope);
  const scheduling = checkScheduling(body.scheduling);
  const tags = checkTags(body.tags);
  const description = optionalString(body.description, 'resource.description');

  const passthrough: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (!OUTPUT_ONLY.has(key)) {
      passthrough[key] = structuredClone(value);
    }
  }
  const resource: Record<string, unknown> = {
    ...passthrough,
    kind: 'compute#instance',
    id,
    creationTimestamp: googleTime(now),
    name,
    tags,
    machineType: machineType.url,
    zone: zoneUrl(scope.project, zone),
    canIpForward: body.canIpForward === true,
    networkInterfaces,
    disks,
    metadata: metadataResource(metadata),
    selfLink: instanceUrl(scope.project, zone, name),
    scheduling,
    cpuPlatform: 'Unknown CPU Platform',
    labelFingerprint: fingerprint(labels),
    startRestricted: false,
    deletionProtection: body.deletionProtection === true,
    fingerprint: fingerprint([id, now]),
  };
  if (description !== undefined) {
    resource.description = description;
  } else {
    delete resource.description;
  }
  if (serviceAccounts.length > 0) {
    resource.serviceAccounts = serviceAccounts;
  } else {
    delete resource.serviceAccounts;
  }
  if (Object.keys(labels).length > 0) {
    resource.labels = labels;
  } else {
    delete resource.labels;
  }
  return { name, resource, labels, metadata };
}

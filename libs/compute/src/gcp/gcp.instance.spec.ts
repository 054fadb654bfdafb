import {
  buildInstanceResource,
  deleteRequestId,
  gcpRequestId,
  gcpState,
  insertRequestId,
  jitDigest,
  metadataValue,
  toEngineInstance,
  withoutSecrets,
  type GcpInstance,
} from './gcp.instance';
import { GCP_METADATA_KEYS, GCP_RUNNER_LABELS } from './gcp.labels';
import { resolveGcpEngineOptions, type GcpEngineOptions } from './gcp.options';

const JIT = 'eyJqaXQiOiJzZWNyZXQtcnVubmVyLWNvbmZpZyJ9';
const spec = { name: 'linux-abc123', jitConfig: JIT, scaleSetId: 7, scaleSetName: 'Linux X64' };

function options(overrides: Partial<GcpEngineOptions> = {}): GcpEngineOptions {
  return {
    ownerId: 'deploy-1',
    project: 'my-project',
    zones: ['us-central1-a', 'us-central1-b'],
    image: 'projects/my-project/global/images/family/runner',
    machineType: 'n2-standard-4',
    diskSizeGb: 80,
    diskType: 'pd-ssd',
    network: 'ci-net',
    subnet: 'ci-subnet',
    publicIp: false,
    scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    labels: { team: 'infra' },
    tags: ['runner', 'no-ssh'],
    provisioningModel: 'STANDARD',
    metadata: { 'block-project-ssh-keys': 'TRUE' },
    operationTimeoutMs: 300_000,
    ...overrides,
  };
}

function build(overrides: Partial<GcpEngineOptions> = {}, zone = 'us-central1-b'): GcpInstance {
  return buildInstanceResource(resolveGcpEngineOptions(options(overrides)), spec, zone);
}

describe('buildInstanceResource', () => {
  it('describes one runner VM in the given zone', () => {
    const vm = build({ serviceAccount: 'runner@my-project.iam.gserviceaccount.com' });

    expect(vm.name).toBe('linux-abc123');
    expect(vm.machineType).toBe('zones/us-central1-b/machineTypes/n2-standard-4');
    expect(vm.disks).toEqual([
      {
        boot: true,
        autoDelete: true,
        type: 'PERSISTENT',
        initializeParams: {
          sourceImage: 'projects/my-project/global/images/family/runner',
          diskSizeGb: '80',
          diskType: 'zones/us-central1-b/diskTypes/pd-ssd',
        },
      },
    ]);
    expect(vm.networkInterfaces).toEqual([
      {
        network: 'global/networks/ci-net',
        subnetwork: 'regions/us-central1/subnetworks/ci-subnet',
      },
    ]);
    expect(vm.serviceAccounts).toEqual([
      {
        email: 'runner@my-project.iam.gserviceaccount.com',
        scopes: ['https://www.googleapis.com/auth/cloud-platform'],
      },
    ]);
    expect(vm.tags).toEqual({ items: ['runner', 'no-ssh'] });
    expect(vm.labels).toEqual({
      team: 'infra',
      [GCP_RUNNER_LABELS.owner]: 'deploy-1',
      [GCP_RUNNER_LABELS.scaleSetId]: '7',
      [GCP_RUNNER_LABELS.scaleSetName]: 'linux-x64',
      [GCP_RUNNER_LABELS.runnerName]: 'linux-abc123',
    });
  });

  it('adds an external IP only with public_ip', () => {
    expect(build({ publicIp: true }).networkInterfaces?.[0]?.accessConfigs).toEqual([
      { name: 'External NAT', type: 'ONE_TO_ONE_NAT' },
    ]);
    expect(build({ publicIp: false }).networkInterfaces?.[0]).not.toHaveProperty('accessConfigs');
  });

  it('never restarts a runner; spot VMs are deleted on preemption', () => {
    expect(build().scheduling).toEqual({
      automaticRestart: false,
      onHostMaintenance: 'TERMINATE',
      provisioningModel: 'STANDARD',
    });
    expect(build({ provisioningModel: 'SPOT' }).scheduling).toEqual({
      automaticRestart: false,
      onHostMaintenance: 'TERMINATE',
      provisioningModel: 'SPOT',
      instanceTerminationAction: 'DELETE',
    });
  });

  it('carries the JIT config in its own key, the names, the script and user metadata', () => {
    const vm = build({ startupScript: '#!/bin/bash\necho hook' });
    const keys = (vm.metadata?.items ?? []).map((i) => i.key);

    expect(metadataValue(vm, GCP_METADATA_KEYS.jitConfig)).toBe(JIT);
    expect(metadataValue(vm, GCP_METADATA_KEYS.jitDigest)).toBe(jitDigest(JIT));
    expect(metadataValue(vm, GCP_METADATA_KEYS.scaleSetName)).toBe('Linux X64');
    expect(metadataValue(vm, GCP_METADATA_KEYS.runnerName)).toBe('linux-abc123');
    expect(metadataValue(vm, GCP_METADATA_KEYS.startupHook)).toBe('#!/bin/bash\necho hook');
    expect(metadataValue(vm, 'enable-guest-attributes')).toBe('TRUE');
    expect(metadataValue(vm, 'block-project-ssh-keys')).toBe('TRUE');
    expect(new Set(keys).size).toBe(keys.length);
    // The JIT config is nowhere else in the resource.
    const withoutJitItem = {
      ...vm,
      metadata: { items: vm.metadata?.items?.filter((i) => i.key !== GCP_METADATA_KEYS.jitConfig) },
    };
    expect(JSON.stringify(withoutJitItem)).not.toContain(JIT);
  });

  it('accepts image self-links and family paths as given', () => {
    const link = 'https://www.googleapis.com/compute/v1/projects/p/global/images/runner-v3';

    expect(build({ image: link }).disks?.[0]?.initializeParams?.sourceImage).toBe(link);
  });
});

describe('request ids', () => {
  it('are UUIDs, the same for the same inputs and different otherwise', () => {
    const id = insertRequestId('d1', 'runner-1', 'us-central1-a', jitDigest('a'));

    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(insertRequestId('d1', 'runner-1', 'us-central1-a', jitDigest('a'))).toBe(id);
    expect(
      new Set([
        id,
        insertRequestId('d2', 'runner-1', 'us-central1-a', jitDigest('a')),
        insertRequestId('d1', 'runner-2', 'us-central1-a', jitDigest('a')),
        insertRequestId('d1', 'runner-1', 'us-central1-b', jitDigest('a')),
        insertRequestId('d1', 'runner-1', 'us-central1-a', jitDigest('b')),
        deleteRequestId('d1', 'runner-1', 'us-central1-a', '123'),
      ]).size,
    ).toBe(6);
    expect(gcpRequestId('a', 'bc')).not.toBe(gcpRequestId('ab', 'c'));
  });
});

describe('gcpState', () => {
  it.each([
    ['PROVISIONING', 'starting'],
    ['STAGING', 'starting'],
    ['RUNNING', 'running'],
    ['STOPPING', 'stopping'],
    ['SUSPENDING', 'stopping'],
    ['TERMINATED', 'exited'],
    ['SUSPENDED', 'exited'],
    ['', 'starting'],
  ])('%s → %s', (status, state) => {
    expect(gcpState(status)).toBe(state);
  });
});

describe('toEngineInstance', () => {
  it('reports exact names from metadata and never the JIT config', () => {
    const vm: GcpInstance = {
      ...build(),
      id: '8123456789',
      status: 'TERMINATED',
      creationTimestamp: '2025-01-02T03:04:05.000-08:00',
      zone: 'https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-b',
    };
    const instance = toEngineInstance(vm);

    expect(instance).toEqual({
      name: 'linux-abc123',
      engineId: '8123456789',
      state: 'exited',
      owner: 'deploy-1',
      scaleSetId: 7,
      scaleSetName: 'Linux X64',
      runnerName: 'linux-abc123',
      createdAt: new Date('2025-01-02T11:04:05.000Z'),
      labels: vm.labels,
    });
    expect(JSON.stringify(instance)).not.toContain(JIT);
    expect(JSON.stringify(withoutSecrets(vm))).not.toContain(JIT);
  });

  it('ignores VMs without the owner label', () => {
    expect(toEngineInstance({ name: 'x', labels: { team: 'a' } })).toBeNull();
  });
});

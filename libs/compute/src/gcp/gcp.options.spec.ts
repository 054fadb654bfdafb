import { createComputeEngine } from '../compute.factory';
import { EngineConfigError } from '../errors';
import { GcpEngine } from './gcp.engine';
import {
  gcpEndpointOptions,
  regionOf,
  resolveGcpEngineOptions,
  subnetworkFor,
  type GcpEngineOptions,
} from './gcp.options';

/** A valid options object as the config loader produces it. */
function gcpOptions(overrides: Partial<GcpEngineOptions> = {}): GcpEngineOptions {
  return {
    ownerId: 'deploy-1',
    project: 'my-project',
    zones: ['us-central1-a', 'us-central1-b'],
    image: 'projects/my-project/global/images/family/runner',
    machineType: 'e2-medium',
    diskSizeGb: 50,
    diskType: 'pd-balanced',
    network: 'default',
    publicIp: true,
    scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    labels: {},
    tags: [],
    provisioningModel: 'STANDARD',
    metadata: {},
    operationTimeoutMs: 300_000,
    ...overrides,
  };
}

describe('resolveGcpEngineOptions', () => {
  it('applies defaults and turns a network name into its path', () => {
    const o = resolveGcpEngineOptions(gcpOptions());

    expect(o.network).toBe('global/networks/default');
    expect(o.subnet).toBeNull();
    expect(o.apiTimeoutMs).toBe(30_000);
    expect(o.zones).toEqual(['us-central1-a', 'us-central1-b']);
  });

  it('keeps network self-links as given', () => {
    const link = 'https://www.googleapis.com/compute/v1/projects/p/global/networks/ci';

    expect(resolveGcpEngineOptions(gcpOptions({ network: link })).network).toBe(link);
  });

  it.each<[string, Partial<GcpEngineOptions>]>([
    ['deployment.id', { ownerId: 'Deploy 1' }],
    ['engine.gcp.project', { project: 'x' }],
    ['engine.gcp.zone', { zones: [] }],
    ['engine.gcp.zones[1]', { zones: ['us-central1-a', 'moon'] }],
    ['engine.gcp.image', { image: ' ' }],
    ['engine.gcp.machine_type', { machineType: 'zones/us-central1-a/machineTypes/e2-medium' }],
    ['engine.gcp.disk_size_gb', { diskSizeGb: 5 }],
    ['engine.gcp.labels.scaleset-owner', { labels: { 'scaleset-owner': 'x' } }],
    ['engine.gcp.metadata.startup-script', { metadata: { 'startup-script': 'x' } }],
    ['engine.gcp.metadata.scaleset-jit-config', { metadata: { 'scaleset-jit-config': 'x' } }],
    ['engine.gcp.service_account', { serviceAccount: 'not-an-email' }],
    ['engine.gcp.api_endpoint', { apiEndpoint: 'ftp://x' }],
    ['engine.gcp.subnet', { subnet: 'projects/p/regions/europe-west1/subnetworks/s' }],
  ])('refuses a bad %s', (field, overrides) => {
    let thrown: unknown;
    try {
      resolveGcpEngineOptions(gcpOptions(overrides));
    } catch (err) {
      thrown = err;
    }

    expect(thrown).toBeInstanceOf(EngineConfigError);
    expect((thrown as EngineConfigError).field).toBe(field);
  });
});

describe('gcpEndpointOptions', () => {
  it('maps a loopback http URL to host, port and http (a local fake)', () => {
    expect(gcpEndpointOptions('http://127.0.0.1:8085')).toEqual({
      apiEndpoint: '127.0.0.1',
      port: 8085,
      protocol: 'http',
    });
  });

  it('maps https hosts, with or without a scheme', () => {
    expect(gcpEndpointOptions('compute-psc.p.googleapis.com')).toEqual({
      apiEndpoint: 'compute-psc.p.googleapis.com',
      port: 443,
      protocol: 'https',
    });
    expect(gcpEndpointOptions('https://x.example:8443')).toEqual({
      apiEndpoint: 'x.example',
      port: 8443,
      protocol: 'https',
    });
    expect(gcpEndpointOptions(undefined)).toEqual({});
  });
});

describe('subnets and regions', () => {
  it('resolves a subnet name in the region of each zone', () => {
    expect(regionOf('europe-west4-b')).toBe('europe-west4');
    expect(subnetworkFor('ci', 'europe-west4-b')).toBe('regions/europe-west4/subnetworks/ci');
    expect(subnetworkFor('projects/p/regions/r1/subnetworks/s', 'x-y1-a')).toBe(
      'projects/p/regions/r1/subnetworks/s',
    );
    expect(subnetworkFor(null, 'x-y1-a')).toBeNull();
  });
});

describe('createComputeEngine (gcp)', () => {
  it('builds the GCP engine without contacting the API', async () => {
    const engine = createComputeEngine({ kind: 'gcp', gcp: gcpOptions() });

    expect(engine).toBeInstanceOf(GcpEngine);
    expect(engine.kind).toBe('gcp');
    await engine.close?.();
  });

  it('fails at build time on invalid options', () => {
    expect(() => createComputeEngine({ kind: 'gcp', gcp: gcpOptions({ zones: [] }) })).toThrow(
      EngineConfigError,
    );
  });

  it('refuses to run while the Google client would log request bodies', () => {
    process.env['GOOGLE_SDK_NODE_LOGGING'] = 'compute';
    try {
      expect(() => new GcpEngine(gcpOptions())).toThrow(/GOOGLE_SDK_NODE_LOGGING/);
    } finally {
      delete process.env['GOOGLE_SDK_NODE_LOGGING'];
    }
  });
});

import { loadConfig } from './config.loader';
import { redactedConfig } from './config.redact';
import { ConfigValidationError } from './errors';

const BASE = 'github:\n  url: https://github.com/o\n  token: t\nscaleset:\n  name: n\n';

function load(engineYaml: string) {
  return loadConfig({ env: {}, readFile: () => `${BASE}engine:\n${engineYaml}` });
}

function issuesOf(engineYaml: string): { path: string; message: string }[] {
  try {
    load(engineYaml);
  } catch (err) {
    if (err instanceof ConfigValidationError) {
      return err.issues.map((i) => ({ path: i.path, message: i.message }));
    }
    throw err;
  }
  throw new Error('the configuration was accepted');
}

const GCP =
  '  gcp:\n    enable: true\n    project: my-project\n    image: projects/p/global/images/family/runner\n';

describe('engine.gcp', () => {
  it('applies the original defaults and the new ones', () => {
    const engine = load(`${GCP}    zone: us-central1-a\n`).scaleSets[0]?.engine;
    expect(engine).toEqual({
      kind: 'gcp',
      gcp: {
        project: 'my-project',
        zones: ['us-central1-a'],
        image: 'projects/p/global/images/family/runner',
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
      },
    });
  });

  it('tries zone first, then the fallback zones, once each', () => {
    const engine = load(
      `${GCP}    zone: us-central1-a\n    zones: [us-central1-b, us-central1-a, us-east1-c]\n`,
    ).scaleSets[0]?.engine;
    expect(engine?.kind === 'gcp' && engine.gcp.zones).toEqual([
      'us-central1-a',
      'us-central1-b',
      'us-east1-c',
    ]);
  });

  it('takes every optional field', () => {
    const engine = load(
      `${GCP}    zones: [europe-west4-b]\n    machine_type: n2-standard-4\n    disk_size_gb: 100\n` +
        `    disk_type: pd-ssd\n    network: vpc\n    subnet: runners\n    public_ip: false\n` +
        `    service_account: runner@my-project.iam.gserviceaccount.com\n    scopes: [s1]\n` +
        `    labels: {team: ci}\n    tags: [runner, no-ingress]\n    spot: true\n` +
        `    metadata: {enable-oslogin: "TRUE"}\n    startup_script: "echo hi"\n` +
        `    api_endpoint: http://127.0.0.1:8089\n    operation_timeout: 90s\n`,
    ).scaleSets[0]?.engine;
    expect(engine).toMatchObject({
      kind: 'gcp',
      gcp: {
        zones: ['europe-west4-b'],
        machineType: 'n2-standard-4',
        diskSizeGb: 100,
        diskType: 'pd-ssd',
        network: 'vpc',
        subnet: 'runners',
        publicIp: false,
        serviceAccount: 'runner@my-project.iam.gserviceaccount.com',
        scopes: ['s1'],
        labels: { team: 'ci' },
        tags: ['runner', 'no-ingress'],
        provisioningModel: 'SPOT',
        metadata: { 'enable-oslogin': 'TRUE' },
        startupScript: 'echo hi',
        apiEndpoint: 'http://127.0.0.1:8089',
        operationTimeoutMs: 90_000,
      },
    });
  });

  it.each([
    ['    zones: []\n', 'engine.gcp.zone', 'is required'],
    ['    zone: us-central1\n', 'engine.gcp.zone', 'zone name'],
    ['    zone: us-central1-a\n    labels: {Team: ci}\n', 'engine.gcp.labels.Team', 'lowercase'],
    ['    zone: us-central1-a\n    labels: {team: "C I"}\n', 'engine.gcp.labels.team', '63'],
    [
      '    zone: us-central1-a\n    labels: {scaleset-owner: x}\n',
      'engine.gcp.labels.scaleset-owner',
      'reserved',
    ],
    ['    zone: us-central1-a\n    tags: [Runner]\n', 'engine.gcp.tags[0]', 'network tags'],
    [
      '    zone: us-central1-a\n    spot: true\n    provisioning_model: STANDARD\n',
      'engine.gcp.spot',
      'contradicts',
    ],
    [
      '    zone: us-central1-a\n    provisioning_model: PREEMPTIBLE\n',
      'engine.gcp.provisioning_model',
      'STANDARD or SPOT',
    ],
    [
      '    zone: us-central1-a\n    metadata: {startup-script: x}\n',
      'engine.gcp.metadata.startup-script',
      'startup_script',
    ],
    [
      '    zone: us-central1-a\n    metadata: {scaleset-jit-config: x}\n',
      'engine.gcp.metadata.scaleset-jit-config',
      'set by scaleset',
    ],
    [
      '    zone: us-central1-a\n    api_endpoint: http://compute.example.com\n',
      'engine.gcp.api_endpoint',
      'loopback',
    ],
    ['    zone: us-central1-a\n    disk_size_gb: 5\n', 'engine.gcp.disk_size_gb', 'at least 10'],
    [
      '    zone: us-central1-a\n    operation_timeout: soon\n',
      'engine.gcp.operation_timeout',
      'duration',
    ],
  ])('rejects %j naming %s', (extra, path, message) => {
    const issues = issuesOf(`${GCP}${extra}`);
    expect(issues).toContainEqual({ path, message: expect.stringContaining(message) as unknown });
  });

  it('refuses a project id GCP would refuse', () => {
    const issues = issuesOf(GCP.replace('my-project', 'My_Project') + '    zone: us-central1-a\n');
    expect(issues).toEqual([
      { path: 'engine.gcp.project', message: expect.stringContaining('project id') as unknown },
    ]);
  });

  it('reports a missing project and image by name', () => {
    const paths = issuesOf('  gcp:\n    enable: true\n    zone: us-central1-a\n').map(
      (i) => i.path,
    );
    expect(paths).toEqual(['engine.gcp.project', 'engine.gcp.image']);
  });

  it('redacts metadata values and the startup script when printed', () => {
    const config = load(
      `${GCP}    zone: us-central1-a\n    metadata: {token: META-SECRET}\n    startup_script: "export T=SCRIPT-SECRET"\n`,
    );
    const printed = JSON.stringify(redactedConfig(config));
    expect(printed).not.toContain('META-SECRET');
    expect(printed).not.toContain('SCRIPT-SECRET');
    expect(printed).toContain('"zones":["us-central1-a"]');
  });
});

describe('engine.simulated', () => {
  it('defaults to an instant engine with in-process fake runners', () => {
    expect(load('  simulated:\n    enable: true\n').scaleSets[0]?.engine).toEqual({
      kind: 'simulated',
      simulated: {
        startLatencyMs: 0,
        destroyLatencyMs: 0,
        jitter: 0,
        failureRate: 0,
        capacity: 0,
        runner: 'fake',
        runnerLifetimeMs: 0,
      },
    });
  });

  it('takes latencies as durations, rates as fractions', () => {
    const engine = load(
      '  simulated:\n    enable: true\n    start_latency: 2s\n    destroy_latency: 250ms\n' +
        '    jitter: 0.2\n    failure_rate: 0.05\n    capacity: 300\n    runner: none\n    runner_lifetime: 1m\n',
    ).scaleSets[0]?.engine;
    expect(engine).toEqual({
      kind: 'simulated',
      simulated: {
        startLatencyMs: 2000,
        destroyLatencyMs: 250,
        jitter: 0.2,
        failureRate: 0.05,
        capacity: 300,
        runner: 'none',
        runnerLifetimeMs: 60_000,
      },
    });
  });

  it.each([
    ['    jitter: 1.5\n', 'engine.simulated.jitter'],
    ['    failure_rate: -0.1\n', 'engine.simulated.failure_rate'],
    ['    capacity: 2.5\n', 'engine.simulated.capacity'],
    ['    runner: docker\n', 'engine.simulated.runner'],
    ['    start_latency: later\n', 'engine.simulated.start_latency'],
  ])('rejects %j naming %s', (extra, path) => {
    expect(issuesOf(`  simulated:\n    enable: true\n${extra}`).map((i) => i.path)).toContain(path);
  });

  it('is one engine among the others: enabling it with docker is refused', () => {
    expect(
      issuesOf('  docker:\n    enable: true\n  simulated:\n    enable: true\n')[0]?.message,
    ).toContain('more than one engine');
  });
});

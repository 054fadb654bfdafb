import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configJsonSchema } from './config.schema-json';
import { checkGitHubUrl, isLoopbackHost, loadConfig } from './config.loader';
import { ConfigValidationError } from './errors';

const REPO = join(__dirname, '..', '..', '..');

/** An in-memory file system for loadConfig. */
function files(map: Record<string, string>): (path: string) => string {
  return (path) => {
    const hit = Object.entries(map).find(([name]) => path.endsWith(`/${name}`));
    if (hit === undefined) {
      throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    }
    return hit[1];
  };
}

// The original Go tool's config.example.yaml, as its users have it (empty strings and a
// zero installation id mean "unset"; the engine chosen with the legacy `type`).
const ORIGINAL_LEGACY = `
github:
  url: "https://github.com/org/repo"
  app:
    client_id: ""
    installation_id: 0
    private_key_path: ""
  token: "ghp_original"

scaleset:
  name: "my-scaleset"
  labels: []
  runner_group: "default"
  min_runners: 0
  max_runners: 10

engine:
  type: "docker"
  docker:
    image: "ghcr.io/actions/actions-runner:latest"
    dind: false

logging:
  level: "info"
  format: "text"
`;

// The newer original format: one `enable` per engine, otel and prometheus sections.
const ORIGINAL_CURRENT = `
github:
  url: "https://github.com/org/repo"
  app:
    client_id: "Iv1.abc123"
    installation_id: 12345
    private_key_path: "/path/to/private-key.pem"
scaleset:
  name: "my-runners"
engine:
  docker:
    enable: true
    image: "ghcr.io/actions/actions-runner:latest"
    dind: true
  gcp:
    enable: false
    project: "my-project"
    zone: "us-central1-a"
    image: "projects/my-project/global/images/family/scaleset-runner"
    machine_type: "e2-medium"
    disk_size_gb: 50
    public_ip: true
otel:
  enabled: true
  endpoint: "localhost:4318"
  insecure: true
prometheus:
  enable: true
  port: 9090
`;

const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n';

describe('loadConfig', () => {
  it('loads the original tool’s legacy file unchanged, with its defaults', () => {
    const config = loadConfig({ env: {}, readFile: files({ 'config.yaml': ORIGINAL_LEGACY }) });
    expect(config.github.auth).toEqual({ kind: 'pat', token: 'ghp_original' });
    expect(config.scaleSets).toHaveLength(1);
    const [s] = config.scaleSets;
    expect(s?.name).toBe('my-scaleset');
    expect(s?.runnerGroup).toBe('default');
    expect(s?.maxRunners).toBe(10);
    expect(s?.engine.kind).toBe('docker');
    expect(config.logging).toEqual({ level: 'info', format: 'text' });
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
    expect(config.prometheus).toEqual({ enable: false, port: 9090 });
  });

  it('loads the original tool’s current file unchanged', () => {
    const config = loadConfig({
      env: {},
      readFile: files({ 'config.yaml': ORIGINAL_CURRENT, 'private-key.pem': PEM }),
    });
    expect(config.github.auth).toEqual({
      kind: 'app',
      clientId: 'Iv1.abc123',
      installationId: 12345,
      privateKey: PEM.trim(),
    });
    const engine = config.scaleSets[0]?.engine;
    expect(engine?.kind === 'docker' && engine.docker.dind).toBe(true);
    expect(config.otel).toEqual({
      enabled: true,
      endpoint: 'localhost:4318',
      insecure: true,
      stdout: false,
    });
    expect(config.prometheus).toEqual({ enable: true, port: 9090 });
  });

  it('applies the documented defaults', () => {
    const config = loadConfig({
      env: {},
      flags: { url: 'https://github.com/o', token: 't', name: 'n' },
      readFile: files({ 'config.yaml': 'engine:\n  docker:\n    enable: true\n' }),
    });
    const s = config.scaleSets[0];
    expect(s).toMatchObject({ runnerGroup: 'Default', minRunners: 0, maxRunners: 10, labels: [] });
    expect(s?.engine).toEqual({
      kind: 'docker',
      docker: {
        image: 'ghcr.io/actions/actions-runner:latest',
        dind: false,
        pullPolicy: 'if-not-present',
        env: {},
        labels: {},
        volumes: [],
        privileged: false,
      },
    });
    expect(config.redis.prefix).toBe('scaleset');
    expect(config.deployment.id).toMatch(/^[a-f0-9]{12}$/);
  });

  it('takes file < environment < flags', () => {
    const yaml =
      'github:\n  url: https://github.com/from-file\n  token: file-token\nscaleset:\n  name: file-name\n  max_runners: 3\n  min_runners: 1\nengine:\n  docker:\n    enable: true\nlogging:\n  level: warn\n';
    const readFile = files({ 'config.yaml': yaml });

    const fileOnly = loadConfig({ env: {}, readFile });
    expect(fileOnly.scaleSets[0]?.maxRunners).toBe(3);
    expect(fileOnly.github.url).toBe('https://github.com/from-file');

    const env = {
      SCALESET_SCALESET_MAX_RUNNERS: '5',
      SCALESET_GITHUB_URL: 'https://github.com/from-env',
      SCALESET_LOG_LEVEL: 'debug',
      SCALESET_GITHUB_TOKEN: 'env-token',
    };
    const withEnv = loadConfig({ env, readFile });
    expect(withEnv.scaleSets[0]?.maxRunners).toBe(5);
    expect(withEnv.github.url).toBe('https://github.com/from-env');
    expect(withEnv.logging.level).toBe('debug');
    expect(withEnv.github.auth).toEqual({ kind: 'pat', token: 'env-token' });
    expect(withEnv.scaleSets[0]?.name).toBe('file-name');

    const withFlags = loadConfig({
      env,
      readFile,
      flags: { 'max-runners': '7', url: 'https://github.com/from-flag', token: 'flag-token' },
    });
    expect(withFlags.scaleSets[0]?.maxRunners).toBe(7);
    expect(withFlags.github.url).toBe('https://github.com/from-flag');
    expect(withFlags.github.auth).toEqual({ kind: 'pat', token: 'flag-token' });
    expect(withFlags.logging.level).toBe('debug');
    expect(withFlags.scaleSets[0]?.minRunners).toBe(1);
  });

  it('lets a higher layer replace a secret file of a lower one', () => {
    const readFile = files({
      'config.yaml':
        'github:\n  url: https://github.com/o\n  token_file: tok\nscaleset:\n  name: n\nengine:\n  type: docker\n',
      tok: 'file-token\n',
    });
    expect(loadConfig({ env: {}, readFile }).github.auth).toEqual({
      kind: 'pat',
      token: 'file-token',
    });
    expect(
      loadConfig({ env: { SCALESET_GITHUB_TOKEN: 'env-token' }, readFile }).github.auth,
    ).toEqual({
      kind: 'pat',
      token: 'env-token',
    });
  });

  it('reads SCALESET_CONFIG and serves several scale sets with their own engines', () => {
    const yaml = `github:\n  url: https://github.com/o\n  token: t\nengine:\n  docker:\n    enable: true\n    image: base:1\nscalesets:\n  - name: a\n  - name: b\n    max_runners: 2\n    engine:\n      docker:\n        enable: true\n        image: big:1\n        cpus: 4\n        memory: 8g\n`;
    const config = loadConfig({
      env: { SCALESET_CONFIG: 'other.yaml' },
      readFile: files({ 'other.yaml': yaml }),
    });
    expect(config.scaleSets.map((s) => s.name)).toEqual(['a', 'b']);
    const images = config.scaleSets.map((s) =>
      s.engine.kind === 'docker' ? s.engine.docker.image : '',
    );
    expect(images).toEqual(['base:1', 'big:1']);
    expect(Object.isFrozen(config.scaleSets[1]?.engine)).toBe(true);
  });

  it('keeps the deployment id stable for the same deployment and distinct for another', () => {
    const yaml = (url: string) =>
      `github:\n  url: ${url}\n  token: t\nscaleset:\n  name: n\nengine:\n  type: docker\n`;
    const a1 = loadConfig({
      env: {},
      readFile: files({ 'config.yaml': yaml('https://github.com/a') }),
    });
    const a2 = loadConfig({
      env: {},
      readFile: files({ 'config.yaml': yaml('https://github.com/a') }),
    });
    const b = loadConfig({
      env: {},
      readFile: files({ 'config.yaml': yaml('https://github.com/b') }),
    });
    expect(a1.deployment.id).toBe(a2.deployment.id);
    expect(a1.deployment.id).not.toBe(b.deployment.id);
  });

  it('reports every problem at once, without values', () => {
    const yaml = `github:\n  url: http://evil.example/o\n  token: SECRET-TOKEN-VALUE\nscaleset:\n  name: n\n  min_runners: 4\n  max_runners: 2\nengine:\n  type: docker\n`;
    let error: unknown;
    try {
      loadConfig({ env: {}, readFile: files({ 'config.yaml': yaml }) });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigValidationError);
    const issues = (error as ConfigValidationError).issues.map((i) => i.path);
    expect(issues).toEqual(['github.url', 'scaleset.max_runners']);
    expect((error as Error).message).not.toContain('SECRET-TOKEN-VALUE');
  });
});

describe('durations', () => {
  const load = (extra: string) =>
    loadConfig({
      env: {},
      readFile: files({
        'config.yaml': `github:\n  url: https://github.com/o\n  token: t\nscaleset:\n  name: n\nengine:\n  type: docker\n${extra}`,
      }),
    });

  it('accepts units and plain seconds', () => {
    const config = load(
      'listener:\n  lease_ttl: 1500ms\n  scale_down_grace: 2m\nreconcile:\n  interval: 1h\n  startup_timeout: 90\n',
    );
    expect(config.listener.leaseTtlMs).toBe(1500);
    expect(config.listener.scaleDownGraceMs).toBe(120_000);
    expect(config.reconcile.intervalMs).toBe(3_600_000);
    expect(config.reconcile.startupTimeoutMs).toBe(90_000);
    expect(config.reconcile.maxLifetimeMs).toBe(0);
    expect(config.worker.concurrency).toBe(4);
  });

  it.each([
    ['listener:\n  lease_ttl: soon\n', 'listener.lease_ttl'],
    ['listener:\n  lease_ttl: 100ms\n', 'listener.lease_ttl'],
    ['reconcile:\n  interval: -5\n', 'reconcile.interval'],
    ['worker:\n  concurrency: 0\n', 'worker.concurrency'],
  ])('rejects %j', (extra, path) => {
    expect(() => load(extra)).toThrow(path);
  });
});

describe('checkGitHubUrl', () => {
  it.each([
    'https://github.com/org',
    'https://github.com/org/repo',
    'https://github.com/org/repo/',
    'https://github.com/enterprises/acme',
    'https://acme.ghe.com/org',
    'https://ghes.corp.example/org/repo',
    'http://127.0.0.1:8080/org',
    'http://localhost/org',
    'http://[::1]:3000/org/repo',
  ])('accepts %s', (url) => {
    expect(checkGitHubUrl(url)).toBeUndefined();
  });

  it.each([
    'github.com/org',
    'https://github.com',
    'https://github.com/a/b/c',
    'http://github.com/org',
    'http://10.0.0.1/org',
    'ftp://github.com/org',
    'https://user:pass@github.com/org',
  ])('rejects %s', (url) => {
    expect(checkGitHubUrl(url)).toEqual(expect.any(String));
  });

  it('knows loopback hosts', () => {
    expect(isLoopbackHost('127.1.2.3')).toBe(true);
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('128.0.0.1')).toBe(false);
    expect(isLoopbackHost('localhost.example.com')).toBe(false);
    // Every spelling URL parsing can produce for ::1 and IPv4-mapped 127/8.
    for (const url of [
      'http://[0:0:0:0:0:0:0:1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://[::ffff:127.9.8.7]/',
    ]) {
      expect(isLoopbackHost(new URL(url).hostname)).toBe(true);
    }
    expect(isLoopbackHost('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopbackHost('0:0:0:0:0:0:0:1')).toBe(true);
    expect(isLoopbackHost(new URL('http://[::ffff:10.0.0.1]/').hostname)).toBe(false);
    expect(isLoopbackHost('::2')).toBe(false);
    expect(isLoopbackHost('ip6-localhost')).toBe(true);
  });
});

describe('docs/config.schema.json', () => {
  it('is the JSON Schema generated from the validating schema (run npm run gen:schema)', () => {
    const committed: unknown = JSON.parse(
      readFileSync(join(REPO, 'docs', 'config.schema.json'), 'utf8'),
    );
    expect(committed).toEqual(configJsonSchema());
  });

  it('describes the fields users write', () => {
    const text = JSON.stringify(configJsonSchema());
    for (const key of ['private_key_path', 'max_runners', 'pull_policy', 'scalesets', 'redis']) {
      expect(text).toContain(`"${key}"`);
    }
  });
});

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '@app/config';

// docker-compose.yaml as the Compose tools themselves read it: `docker-compose config`
// (v1.29, Debian's package) must accept the file (v2 is checked too when installed), and
// the resolved model must wire Redis, listeners, workers, Prometheus and the OTLP receiver
// the way docs/operations.md says. Skipped only when no Compose binary is installed.

const ROOT = join(__dirname, '..', '..');
const COMPOSE_FILE = join(ROOT, 'docker-compose.yaml');

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown): Obj {
  return isObj(v) ? v : {};
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.map((x) => String(x)) : [];
}

interface Compose {
  readonly name: string;
  readonly args: readonly string[];
}

function composeTools(): Compose[] {
  const tools: Compose[] = [];
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) {
    tools.push({ name: 'docker-compose (v1)', args: ['docker-compose'] });
  }
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) {
    tools.push({ name: 'docker compose (v2)', args: ['docker', 'compose'] });
  }
  return tools;
}

function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  // Only PATH and HOME from the outside, so a developer's SCALESET_* variables do not leak in.
  return { PATH: process.env['PATH'], HOME: process.env['HOME'], ...extra };
}

function composeConfig(
  tool: Compose,
  file: string,
  projectDir: string,
  env: Record<string, string>,
): { status: number | null; stdout: string; stderr: string } {
  const [cmd, ...pre] = tool.args;
  const out = spawnSync(
    cmd ?? 'docker-compose',
    [...pre, '-f', file, '--project-directory', projectDir, 'config'],
    { cwd: projectDir, env: baseEnv(env), encoding: 'utf8', timeout: 60_000 },
  );
  return { status: out.status, stdout: out.stdout, stderr: out.stderr };
}

const tools = composeTools();
if (tools.length === 0) {
  process.stderr.write(
    'deploy-compose: neither docker-compose nor `docker compose` is installed (apt-get install docker-compose); skipping\n',
  );
}
if (tools.length === 0) {
  describe.skip('docker-compose.yaml (no Compose binary installed)', () => {
    it('is checked by `docker-compose config`', () => undefined);
  });
}
// jest refuses describe.each([]); with no tool the table holds a placeholder that is skipped.
const describeTools =
  tools.length > 0 ? describe.each(tools) : describe.skip.each([{ name: 'none', args: [] }]);

describeTools('docker-compose.yaml through $name', (tool) => {
  let model: Obj;
  let services: Obj;
  let tmp: string;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'deploy-compose-'));
    const out = composeConfig(tool, COMPOSE_FILE, ROOT, {
      SCALESET_GITHUB_TOKEN: 'sentinel-token-from-env',
      DOCKER_GID: '4242',
    });
    if (out.status !== 0) {
      throw new Error(`compose config failed (${String(out.status)}):\n${out.stderr}`);
    }
    model = obj(parse(out.stdout));
    services = obj(model['services']);
  });

  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  const svc = (name: string): Obj => obj(services[name]);
  const env = (name: string): Obj => obj(svc(name)['environment']);
  const replicas = (name: string): unknown =>
    obj(svc(name)['deploy'])['replicas'] ?? svc(name)['scale'];

  it('has Redis with AOF, noeviction and a healthcheck', () => {
    const cmd = strings(svc('redis')['command']).join(' ');
    expect(cmd).toContain('--appendonly yes');
    expect(cmd).toContain('--maxmemory-policy noeviction');
    expect(strings(obj(svc('redis')['healthcheck'])['test'])).toEqual(['CMD', 'redis-cli', 'ping']);
    expect(
      strings(svc('redis')['volumes']).some((v) => v.endsWith(':/data:rw') || v.endsWith(':/data')),
    ).toBe(true);
  });

  it('runs 2 listeners and 2 workers from one image, after Redis is healthy', () => {
    expect(replicas('listener')).toBe(2);
    expect(replicas('worker')).toBe(2);
    expect(strings(svc('listener')['command'])).toEqual(['listener']);
    expect(strings(svc('worker')['command'])).toEqual(['worker']);
    expect(svc('listener')['image']).toBe(svc('worker')['image']);
    for (const role of ['listener', 'worker']) {
      expect(obj(obj(svc(role)['depends_on'])['redis'])['condition']).toBe('service_healthy');
      expect(env(role)['SCALESET_REDIS_URL']).toBe('redis://redis:6379');
      expect(svc(role)['read_only']).toBe(true);
      expect(strings(svc(role)['cap_drop'])).toEqual(['ALL']);
      expect(svc(role)['user']).toBeUndefined();
      expect(
        strings(svc(role)['volumes']).some((v) => v.includes(':/etc/scaleset/config.yaml:ro')),
      ).toBe(true);
      expect(env(role)['SCALESET_CONFIG']).toBe('/etc/scaleset/config.yaml');
    }
  });

  it('gives only the workers the Docker socket, through the host group from DOCKER_GID', () => {
    expect(
      strings(svc('worker')['volumes']).some((v) =>
        v.includes('/var/run/docker.sock:/var/run/docker.sock'),
      ),
    ).toBe(true);
    expect(strings(svc('worker')['group_add'])).toEqual(['4242']);
    expect(strings(svc('listener')['volumes']).some((v) => v.includes('docker.sock'))).toBe(false);
  });

  it('health-checks the listener on listener.health_port /healthz', () => {
    const example = loadConfig({
      configPath: join(ROOT, 'config.example.yaml'),
      env: {},
      cwd: ROOT,
    });
    const test = strings(obj(svc('listener')['healthcheck'])['test']).join(' ');
    expect(test).toContain(`http://127.0.0.1:${example.listener.healthPort}/healthz`);
    expect(obj(svc('worker')['healthcheck'])['test']).toBeUndefined();
  });

  it('points metrics at Prometheus and traces at the Aspire dashboard over OTLP/HTTP', () => {
    const prom = obj(
      parse(readFileSync(join(ROOT, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')),
    );
    const jobs = new Map(
      (prom['scrape_configs'] as Obj[]).map((j) => [
        String(j['job_name']),
        obj((j['dns_sd_configs'] as Obj[] | undefined)?.[0]),
      ]),
    );
    for (const role of ['listener', 'worker']) {
      expect(env(role)['SCALESET_PROMETHEUS_ENABLE']).toBe('true');
      const sd = jobs.get(`scaleset-${role}`);
      expect(strings(sd?.['names'])).toEqual([role]);
      expect(String(sd?.['port'])).toBe(String(env(role)['SCALESET_PROMETHEUS_PORT']));
      expect(env(role)['SCALESET_OTEL_ENABLED']).toBe('true');
      const otlp = new URL(String(env(role)['SCALESET_OTEL_ENDPOINT']));
      expect(services[otlp.hostname]).toBeDefined();
      expect(otlp.port).toBe('18890');
    }
    expect(String(svc('aspire-dashboard')['image'])).toMatch(
      /^mcr\.microsoft\.com\/dotnet\/aspire-dashboard:/,
    );
    const promVolumes = strings(svc('prometheus')['volumes']);
    expect(
      promVolumes.some((v) =>
        v.startsWith(`${join(ROOT, 'deploy', 'prometheus')}:/etc/prometheus`),
      ),
    ).toBe(true);
    expect(strings(svc('prometheus')['command'])).toContain(
      '--config.file=/etc/prometheus/prometheus.yml',
    );
  });

  it('passes secrets through from the environment and never holds one itself', () => {
    expect(env('listener')['SCALESET_GITHUB_TOKEN']).toBe('sentinel-token-from-env');
    expect(env('worker')['SCALESET_GITHUB_TOKEN']).toBe('sentinel-token-from-env');
    const raw = obj(parse(readFileSync(COMPOSE_FILE, 'utf8')));
    const shared = obj(obj(raw['x-scaleset'])['environment']);
    for (const [key, value] of Object.entries(shared)) {
      if (/TOKEN|PRIVATE_KEY|PASSWORD/.test(key)) {
        expect([key, value]).toEqual([key, null]);
      }
    }
  });

  it('publishes nothing but the Prometheus and dashboard UIs, on the loopback only', () => {
    for (const [name, service] of Object.entries(services)) {
      const ports = Array.isArray(obj(service)['ports'])
        ? (obj(service)['ports'] as unknown[])
        : [];
      for (const p of ports) {
        const published = isObj(p)
          ? `${String(p['host_ip'])}:${String(p['published'])}`
          : String(p);
        expect([name, published.startsWith('127.0.0.1:')]).toEqual([name, true]);
      }
      if (['redis', 'listener', 'worker'].includes(name)) {
        expect([name, ports]).toEqual([name, []]);
      }
    }
  });

  it('reads secrets from a .env file next to the compose file', () => {
    copyFileSync(COMPOSE_FILE, join(tmp, 'docker-compose.yaml'));
    writeFileSync(
      join(tmp, '.env'),
      'SCALESET_GITHUB_TOKEN=sentinel-from-dotenv\nDOCKER_GID=977\n',
    );
    const out = composeConfig(tool, join(tmp, 'docker-compose.yaml'), tmp, {});
    expect(out.stderr).not.toMatch(/ERROR/);
    expect(out.status).toBe(0);
    const worker = obj(obj(obj(parse(out.stdout))['services'])['worker']);
    expect(obj(worker['environment'])['SCALESET_GITHUB_TOKEN']).toBe('sentinel-from-dotenv');
    expect(strings(worker['group_add'])).toEqual(['977']);
  });

  it('rejects a file the tool cannot read (the check can fail)', () => {
    const broken = join(tmp, 'broken.yaml');
    writeFileSync(
      broken,
      `name: scaleset\n${readFileSync(COMPOSE_FILE, 'utf8').replace('services:', 'servicez:')}`,
    );
    expect(composeConfig(tool, broken, ROOT, {}).status).not.toBe(0);
  });
});

// `npm test`: runs every test tier against real services.
// Uses REDIS_URL / DOCKER_HOST when they are set; otherwise starts its own
// redis-server and dockerd (as testing.md describes) in a temporary folder, and
// stops them, by pid, when the tests end. Run with Node 22.18+ (type stripping).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const started: { name: string; proc: ChildProcess }[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'scaleset-test-'));

function log(msg: string): void {
  process.stderr.write(`[test] ${msg}\n`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => {
        resolve(port);
      });
    });
  });
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) {
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
}

async function ensureRedis(): Promise<void> {
  if (process.env['REDIS_URL']) {
    log(`using REDIS_URL=${process.env['REDIS_URL']}`);
    return;
  }
  if (!has('redis-server')) {
    throw new Error(
      'redis-server is not installed: apt-get install redis-server, or set REDIS_URL',
    );
  }
  const port = await freePort();
  const dir = join(tmp, 'redis');
  mkdirSync(dir);
  const proc = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
    ],
    { stdio: 'ignore' },
  );
  started.push({ name: 'redis-server', proc });
  await waitFor(
    'redis-server',
    () =>
      spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() ===
      'PONG',
    10_000,
  );
  process.env['REDIS_URL'] = `redis://127.0.0.1:${port}`;
  log(`started redis-server pid ${proc.pid} on ${process.env['REDIS_URL']}`);
}

function dockerReady(host: string): boolean {
  return spawnSync('docker', ['-H', host, 'version'], { stdio: 'ignore' }).status === 0;
}

async function ensureDocker(): Promise<void> {
  if (process.env['DOCKER_HOST']) {
    log(`using DOCKER_HOST=${process.env['DOCKER_HOST']}`);
    return;
  }
  if (!has('dockerd') || process.getuid?.() !== 0) {
    log(
      'no DOCKER_HOST and cannot start dockerd (needs docker.io and root): Docker tests will fail',
    );
    return;
  }
  const dir = join(tmp, 'docker');
  mkdirSync(dir);
  const sock = join(dir, 'docker.sock');
  const proc = spawn(
    'dockerd',
    [
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '-H',
      `unix://${sock}`,
      '--pidfile',
      join(dir, 'docker.pid'),
      '--bridge=none',
      '--iptables=false',
      '--ip-masq=false',
    ],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  started.push({ name: 'dockerd', proc });
  const host = `unix://${sock}`;
  await waitFor('dockerd', () => existsSync(sock) && dockerReady(host), 60_000);
  process.env['DOCKER_HOST'] = host;
  log(`started dockerd pid ${proc.pid} on ${host}`);
}

async function stopAll(): Promise<void> {
  for (const { name, proc } of started.reverse()) {
    if (proc.exitCode !== null || proc.pid === undefined) {
      continue;
    }
    log(`stopping ${name} pid ${proc.pid}`);
    const exited = new Promise<void>((resolve) =>
      proc.once('exit', () => {
        resolve();
      }),
    );
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
  started.length = 0;
  // dockerd can leave mounts under its data root behind; detach them so the folder goes.
  try {
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[1] ?? '')
      .filter((target) => target.startsWith(tmp))
      .sort((a, b) => b.length - a.length);
    for (const target of mounts) {
      spawnSync('umount', ['-l', target], { stdio: 'ignore' });
    }
  } catch {
    // Not Linux, or no /proc: nothing to detach.
  }
  try {
    rmSync(tmp, { recursive: true, force: true });
  } catch (err) {
    // dockerd can leave busy mounts behind for a moment; a stale temp folder is harmless.
    log(`could not remove ${tmp}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function main(): Promise<number> {
  const tiers = process.argv.slice(2);
  const projects = tiers.length > 0 ? tiers : ['unit', 'integration', 'e2e', 'system'];
  if (projects.includes('e2e') || projects.includes('system')) {
    // End-to-end tests run the built binary, so build it from the current sources.
    log('npm run build');
    const build = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
    if (build.status !== 0) {
      return build.status ?? 1;
    }
  }
  await ensureRedis();
  await ensureDocker();
  let status = 0;
  for (const project of projects) {
    log(`jest --selectProjects ${project}`);
    const args = ['jest', '--selectProjects', project, '--passWithNoTests'];
    if (project !== 'unit') {
      args.push('--runInBand');
    }
    const res = spawnSync('npx', args, { stdio: 'inherit', env: process.env });
    if (res.status !== 0) {
      status = res.status ?? 1;
    }
  }
  return status;
}

process.on('SIGINT', () => {
  void stopAll().then(() => process.exit(130));
});

main()
  .then(async (code) => {
    await stopAll();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    log(err instanceof Error ? err.message : String(err));
    await stopAll();
    process.exit(1);
  });

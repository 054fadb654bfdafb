import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect as utilInspect } from 'node:util';
import Dockerode from 'dockerode';
import {
  DockerEngine,
  EngineImageNotFoundError,
  EngineNameConflictError,
  EnginePermanentError,
  EngineUnavailableError,
  RUNNER_LABELS,
  isPermanentEngineError,
  type DockerEngineOptions,
  type RunnerSpec,
} from '@app/compute';

jest.setTimeout(60_000);

// Proves the JIT config arrived without printing it: its hash, its length and the uid.
const RUN_SCRIPT = `#!/bin/sh
echo "jit-sha256=$(printf '%s' "$ACTIONS_RUNNER_INPUT_JITCONFIG" | sha256sum | cut -d' ' -f1)"
echo "uid=$(id -u)"
if [ -n "$RUNNER_TEST_EXIT" ]; then exit "$RUNNER_TEST_EXIT"; fi
exec sleep 3600
`;

const docker = new Dockerode();
const run = randomUUID().slice(0, 8);
const prefix = `sst-${run}`;
const image = `${prefix}-runner:test`;
const altImage = `${prefix}-alt:test`;
const owner = `owner-${run}`;
const engines: DockerEngine[] = [];
let tmp = '';

function engine(overrides: Partial<DockerEngineOptions> = {}): DockerEngine {
  const e = new DockerEngine({
    ownerId: owner,
    image,
    pullPolicy: 'never',
    network: 'host',
    ...overrides,
  });
  engines.push(e);
  return e;
}

function runnerSpec(suffix: string, extra: Partial<RunnerSpec> = {}): RunnerSpec {
  return {
    name: `${prefix}-${suffix}`,
    jitConfig: `jit-secret-${randomUUID()}`,
    scaleSetId: 7,
    scaleSetName: 'linux-x64',
    ...extra,
  };
}

/**
 * Builds a busybox runner image by `docker import` (no registry here). libs/compute may not
 * import @app/testing, whose buildRunnerTestImage does the same for other libs' tests.
 */
async function buildTestImage(ref: string, changes: readonly string[]): Promise<void> {
  const root = join(tmp, `rootfs-${randomUUID().slice(0, 8)}`);
  await mkdir(join(root, 'bin'), { recursive: true });
  await copyFile('/bin/busybox', join(root, 'bin', 'busybox'));
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'sleep', 'echo', 'printf', 'sha256sum', 'cut', 'id']) {
    await symlink('busybox', join(root, 'bin', applet));
  }
  await mkdir(join(root, 'etc'));
  await writeFile(
    join(root, 'etc', 'passwd'),
    'root:x:0:0::/:/bin/sh\nrunner:x:1001:1001::/:/bin/sh\n',
  );
  await mkdir(join(root, 'home', 'runner'), { recursive: true });
  await writeFile(join(root, 'home', 'runner', 'run.sh'), RUN_SCRIPT);
  await chmod(join(root, 'home', 'runner', 'run.sh'), 0o755);
  const tar = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [repo = ref, tag = 'latest'] = ref.split(':');
  const progress = await docker.importImage(tar.stdout, {
    repo,
    tag,
    changes: ['CMD ["/home/runner/run.sh"]', 'ENV PATH=/bin', ...changes],
  });
  for await (const chunk of progress) {
    expect(String(chunk)).not.toContain('"error"');
  }
  await docker.getImage(ref).inspect();
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function logsOf(id: string): Promise<string> {
  const buf = await docker.getContainer(id).logs({ stdout: true, stderr: true });
  return buf.toString('latin1');
}

async function waitForLog(id: string, text: string): Promise<string> {
  return waitFor(`"${text}" in the logs of ${id}`, async () => {
    const logs = await logsOf(id);
    return logs.includes(text) ? logs : undefined;
  });
}

async function containersNamed(name: string): Promise<Dockerode.ContainerInfo[]> {
  const all = await docker.listContainers({ all: true, filters: { name: [name] } });
  return all.filter((c) => c.Names.includes(`/${name}`));
}

async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => {
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  });
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), `${prefix}-`));
  await buildTestImage(image, ['VOLUME ["/home/runner/_work"]']);
  await buildTestImage(altImage, ['CMD ["/bin/sh", "-c", "echo alt-image-cmd; exec sleep 3600"]']);
});

afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  const leftovers = await docker.listContainers({ all: true, filters: { name: [prefix] } });
  await Promise.all(
    leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true })),
  );
  for (const ref of [image, altImage]) {
    await docker
      .getImage(ref)
      .remove({ force: true })
      .catch(() => undefined);
  }
  await rm(tmp, { recursive: true, force: true });
});

describe('DockerEngine against a real dockerd', () => {
  it('starts a labelled container that receives the JIT config, on the host network', async () => {
    const e = engine({ labels: { team: 'ci' }, env: { EXTRA: 'yes' } });
    const spec = runnerSpec('start', { labels: { pool: 'blue' } });

    const ref = await e.start(spec);

    expect(ref).toMatchObject({ name: spec.name, adopted: false, state: 'running' });
    const info = await docker.getContainer(ref.engineId).inspect();
    expect(info.Name).toBe(`/${spec.name}`);
    expect(info.State.Running).toBe(true);
    expect(info.Config.Labels).toMatchObject({
      [RUNNER_LABELS.owner]: owner,
      [RUNNER_LABELS.scaleSetId]: '7',
      [RUNNER_LABELS.scaleSetName]: 'linux-x64',
      [RUNNER_LABELS.runnerName]: spec.name,
      team: 'ci',
      pool: 'blue',
    });
    expect(info.Config.Env).toEqual(
      expect.arrayContaining([`ACTIONS_RUNNER_INPUT_JITCONFIG=${spec.jitConfig}`, 'EXTRA=yes']),
    );
    expect(info.Config.Cmd).toEqual(['/home/runner/run.sh']);
    expect(info.HostConfig.NetworkMode).toBe('host');
    expect(info.HostConfig.AutoRemove).toBe(false);
    expect(info.HostConfig.Privileged).toBe(false);
    await waitForLog(ref.engineId, `jit-sha256=${sha256(spec.jitConfig)}`);

    const seen = await e.inspect(spec.name);
    expect(seen).toMatchObject({
      name: spec.name,
      engineId: ref.engineId,
      state: 'running',
      owner,
      scaleSetId: 7,
      scaleSetName: 'linux-x64',
      runnerName: spec.name,
    });
    expect(seen?.createdAt).toBeInstanceOf(Date);
  });

  it('adopts an existing container on a second start and keeps exactly one', async () => {
    const e = engine();
    const spec = runnerSpec('adopt');
    const first = await e.start(spec);

    const second = await e.start(spec);

    expect(second).toEqual({
      name: spec.name,
      engineId: first.engineId,
      adopted: true,
      state: 'running',
    });
    expect(await containersNamed(spec.name)).toHaveLength(1);
  });

  it('creates one container when two starts race for the same runner', async () => {
    const e = engine();
    const spec = runnerSpec('race');

    const refs = await Promise.all([e.start(spec), e.start(spec), engine().start(spec)]);

    expect(new Set(refs.map((r) => r.engineId)).size).toBe(1);
    expect(refs.filter((r) => !r.adopted)).toHaveLength(1);
    const [container] = await containersNamed(spec.name);
    expect(container?.State).toBe('running');
    expect(await containersNamed(spec.name)).toHaveLength(1);
  });

  it('starts a created-but-never-started container holding the same JIT config', async () => {
    const e = engine();
    const spec = runnerSpec('created-same');
    const id = (
      await docker.createContainer({
        name: spec.name,
        Image: image,
        Env: [`ACTIONS_RUNNER_INPUT_JITCONFIG=${spec.jitConfig}`],
        Labels: {
          [RUNNER_LABELS.owner]: owner,
          [RUNNER_LABELS.scaleSetId]: '7',
          [RUNNER_LABELS.runnerName]: spec.name,
        },
        HostConfig: { NetworkMode: 'host' },
      })
    ).id;

    const ref = await e.start(spec);

    expect(ref).toMatchObject({ engineId: id, adopted: true, state: 'running' });
    expect((await docker.getContainer(id).inspect()).State.Running).toBe(true);
  });

  it('replaces a created-but-never-started container whose JIT config is stale', async () => {
    const e = engine();
    const spec = runnerSpec('created-stale');
    const staleId = (
      await docker.createContainer({
        name: spec.name,
        Image: image,
        Env: ['ACTIONS_RUNNER_INPUT_JITCONFIG=stale-config'],
        Labels: {
          [RUNNER_LABELS.owner]: owner,
          [RUNNER_LABELS.scaleSetId]: '7',
          [RUNNER_LABELS.runnerName]: spec.name,
        },
      })
    ).id;

    const ref = await e.start(spec);

    expect(ref.adopted).toBe(false);
    expect(ref.engineId).not.toBe(staleId);
    const info = await docker.getContainer(ref.engineId).inspect();
    expect(info.Config.Env).toContain(`ACTIONS_RUNNER_INPUT_JITCONFIG=${spec.jitConfig}`);
    expect(await containersNamed(spec.name)).toHaveLength(1);
  });

  it('destroys the container and its anonymous volumes; destroying again succeeds', async () => {
    const e = engine();
    const spec = runnerSpec('destroy');
    const ref = await e.start(spec);
    const mounts = (await docker.getContainer(ref.engineId).inspect()).Mounts;
    const anonymous = mounts.find((m) => m.Destination === '/home/runner/_work')?.Name;
    expect(anonymous).toBeDefined();

    await e.destroy(ref);

    expect(await e.inspect(spec.name)).toBeNull();
    expect(await containersNamed(spec.name)).toHaveLength(0);
    await expect(docker.getVolume(anonymous ?? '').inspect()).rejects.toMatchObject({
      statusCode: 404,
    });
    await expect(e.destroy({ name: spec.name })).resolves.toBeUndefined();
    await expect(e.destroy({ name: `${prefix}-never-existed` })).resolves.toBeUndefined();
  });

  it('lists and touches only containers with its owner label', async () => {
    const e = engine({ ownerId: `lister-${run}` });
    const ours = [
      await e.start(runnerSpec('list-a')),
      await e.start(runnerSpec('list-b', { scaleSetId: 8 })),
    ];
    const unlabelled = await docker.createContainer({ name: `${prefix}-foreign`, Image: image });
    const otherOwner = await docker.createContainer({
      name: `${prefix}-other-owner`,
      Image: image,
      Labels: {
        [RUNNER_LABELS.owner]: `someone-else-${run}`,
        [RUNNER_LABELS.scaleSetId]: '7',
        [RUNNER_LABELS.runnerName]: `${prefix}-other-owner`,
      },
    });

    const listed = await e.list({ owner: `lister-${run}` });
    const listedSet7 = await e.list({ owner: `lister-${run}`, scaleSetId: 7 });

    expect(listed.map((i) => i.name).sort()).toEqual(ours.map((r) => r.name).sort());
    expect(listedSet7.map((i) => i.name)).toEqual([`${prefix}-list-a`]);
    expect(await e.inspect(`${prefix}-foreign`)).toBeNull();
    expect(await e.inspect(`${prefix}-other-owner`)).toBeNull();

    await e.destroy({ name: `${prefix}-foreign` });
    await e.destroy({ name: `${prefix}-other-owner` });
    const foreignStart = e.start(runnerSpec('foreign'));
    await expect(foreignStart).rejects.toBeInstanceOf(EngineNameConflictError);
    await expect(foreignStart).rejects.toMatchObject({ retryable: false, code: 'NAME_CONFLICT' });
    const otherStart = e.start(runnerSpec('other-owner'));
    await expect(otherStart).rejects.toBeInstanceOf(EngineNameConflictError);

    const untouched = await Promise.all([unlabelled.inspect(), otherOwner.inspect()]);
    expect(untouched.map((i) => i.State.Status)).toEqual(['created', 'created']);
  });

  it('reports an exited runner as exited and never restarts it on start', async () => {
    const e = engine({ env: { RUNNER_TEST_EXIT: '3' } });
    const spec = runnerSpec('exited');
    const ref = await e.start(spec);

    const exited = await waitFor('the runner to exit', async () => {
      const seen = await e.inspect(spec.name);
      return seen?.state === 'exited' ? seen : undefined;
    });
    expect(exited.exitCode).toBe(3);
    const listed = (await e.list({ owner })).find((i) => i.name === spec.name);
    expect(listed).toMatchObject({ state: 'exited', exitCode: 3, engineId: ref.engineId });
    const startedAt = (await docker.getContainer(ref.engineId).inspect()).State.StartedAt;

    const again = await e.start(spec);

    expect(again).toMatchObject({ engineId: ref.engineId, adopted: true, state: 'exited' });
    const after = await docker.getContainer(ref.engineId).inspect();
    expect(after.State.Status).toBe('exited');
    expect(after.State.StartedAt).toBe(startedAt);
  });

  it('applies cpus, memory, env, volumes, user, privileged and dind to the container', async () => {
    const dataDir = join(tmp, 'data');
    const fakeSocket = join(tmp, 'fake-docker.sock');
    await writeFile(fakeSocket, '');
    await mkdir(dataDir);
    const e = engine({
      cpus: 0.5,
      memory: '64m',
      env: { FOO: 'bar' },
      volumes: [`${dataDir}:/data:ro`],
      privileged: true,
      user: 'runner',
      dind: true,
      dindHostSocket: fakeSocket,
    });
    const spec = runnerSpec('limits');

    const ref = await e.start(spec);

    const info = await docker.getContainer(ref.engineId).inspect();
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info.HostConfig.Memory).toBe(64 * 1024 * 1024);
    expect(info.HostConfig.Privileged).toBe(true);
    expect(info.HostConfig.Binds).toEqual([
      `${dataDir}:/data:ro`,
      `${fakeSocket}:/var/run/docker.sock`,
    ]);
    expect(info.Config.User).toBe('runner');
    expect(info.Config.Env).toEqual(
      expect.arrayContaining(['FOO=bar', 'DOCKER_HOST=unix:///var/run/docker.sock']),
    );
    await waitForLog(ref.engineId, 'uid=1001');
  });

  it('runs dind runners as root unless a user is configured', async () => {
    const fakeSocket = join(tmp, 'fake-docker-root.sock');
    await writeFile(fakeSocket, '');
    const ref = await engine({ dind: true, dindHostSocket: fakeSocket }).start(runnerSpec('dind'));

    const info = await docker.getContainer(ref.engineId).inspect();
    expect(info.Config.User).toBe('0');
    expect(info.Config.Env).toContain('RUNNER_ALLOW_RUNASROOT=1');
    await waitForLog(ref.engineId, 'uid=0');
  });

  it("uses a configured command, and the image's own command when command is null", async () => {
    const custom = await engine({
      image: altImage,
      command: ['/bin/sh', '-c', 'echo custom-cmd; exec sleep 3600'],
    }).start(runnerSpec('cmd-custom'));
    const imageDefault = await engine({ image: altImage, command: null }).start(
      runnerSpec('cmd-image'),
    );

    await waitForLog(custom.engineId, 'custom-cmd');
    const logs = await waitForLog(imageDefault.engineId, 'alt-image-cmd');
    expect(logs).not.toContain('custom-cmd');
  });

  it('fails permanently and without leaking the JIT config when the image is missing', async () => {
    const spec = runnerSpec('no-image');
    const never = engine({ image: `${prefix}-missing:v1`, pullPolicy: 'never' });
    const port = await closedPort();
    // A registry on a closed loopback port: the pull fails without leaving the machine.
    const ifNotPresent = engine({
      image: `127.0.0.1:${port}/${prefix}-missing:v1`,
      pullPolicy: 'if-not-present',
    });

    for (const e of [never, ifNotPresent]) {
      const err: unknown = await e.start(spec).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(err).toBeInstanceOf(EngineImageNotFoundError);
      expect(isPermanentEngineError(err)).toBe(true);
      expect(utilInspect(err, { depth: 10 })).not.toContain(spec.jitConfig);
      expect(String(err)).not.toContain(spec.jitConfig);
    }
    expect(await containersNamed(spec.name)).toHaveLength(0);
  });

  it('fails permanently when the daemon refuses the container config', async () => {
    const spec = runnerSpec('bad-network');
    const e = engine({ network: `${prefix}-no-such-network` });

    const err: unknown = await e.start(spec).then(
      () => undefined,
      (error: unknown) => error,
    );

    expect(err).toBeInstanceOf(EnginePermanentError);
    expect(utilInspect(err, { depth: 10 })).not.toContain(spec.jitConfig);
    expect(await containersNamed(spec.name)).toHaveLength(0);
  });

  it('reports an unreachable daemon as retryable', async () => {
    const port = await closedPort();
    const missingSocket = engine({ dockerHost: `unix://${join(tmp, 'no-such-docker.sock')}` });
    const closedTcp = engine({ dockerHost: `tcp://127.0.0.1:${port}` });

    for (const e of [missingSocket, closedTcp]) {
      const spec = runnerSpec('unreachable');
      const err: unknown = await e.start(spec).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(err).toBeInstanceOf(EngineUnavailableError);
      expect(isPermanentEngineError(err)).toBe(false);
      expect(utilInspect(err, { depth: 10 })).not.toContain(spec.jitConfig);
      await expect(e.list({ owner })).rejects.toMatchObject({
        retryable: true,
        code: 'UNAVAILABLE',
      });
      await expect(e.destroy({ name: spec.name })).rejects.toBeInstanceOf(EngineUnavailableError);
    }
  });

  it('never exposes the JIT config in what it returns', async () => {
    const e = engine();
    const spec = runnerSpec('secret');
    const ref = await e.start(spec);

    const returned = [ref, await e.inspect(spec.name), await e.list({ owner })];

    for (const value of returned) {
      expect(utilInspect(value, { depth: 10 })).not.toContain(spec.jitConfig);
      expect(JSON.stringify(value)).not.toContain(spec.jitConfig);
    }
    expect(utilInspect(e, { depth: 10 })).not.toContain(spec.jitConfig);
  });
});

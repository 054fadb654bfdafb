import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import type Dockerode from 'dockerode';

/** Busybox applets linked into `/bin` of the test runner image. */
export const RUNNER_TEST_IMAGE_APPLETS: readonly string[] = [
  'sh',
  'wget',
  'sleep',
  'cat',
  'sed',
  'base64',
  'env',
  'echo',
  'tr',
  'grep',
  'cut',
  'head',
  'printf',
  'date',
  'true',
  'false',
  'kill',
  'ps',
  'mkdir',
  'rm',
  'ls',
  'wc',
  'id',
  'sha256sum',
  'hostname',
];

/** Content of one extra file: text or bytes, optionally with a mode (default 0644). */
export type TestImageFile =
  string | Buffer | { readonly content: string | Buffer; readonly mode?: number };

/** What {@link buildRunnerTestImage} builds. */
export interface RunnerTestImageOptions {
  /** Image reference to create, `name:tag` (tag defaults to `latest`). */
  readonly tag: string;
  /** Content of `/home/runner/run.sh` (mode 0755), the image's default command. */
  readonly runScript: string;
  /** More files, keyed by absolute path inside the image. */
  readonly extraFiles?: Readonly<Record<string, TestImageFile>>;
  /** Extra Dockerfile instructions applied on import, after the defaults (`CMD`, `ENV`, `VOLUME`...). */
  readonly changes?: readonly string[];
  /** Rebuild even when the tag already exists. */
  readonly force?: boolean;
  /** Where the static busybox binary is. Default `/bin/busybox`. */
  readonly busyboxPath?: string;
}

/** Result of {@link buildRunnerTestImage}. */
export interface RunnerTestImage {
  /** The image reference, `name:tag`. */
  readonly ref: string;
  /** False when an image with that tag already existed and was reused. */
  readonly built: boolean;
}

/** Dockerfile instructions every test runner image gets. */
export const RUNNER_TEST_IMAGE_CHANGES: readonly string[] = [
  'CMD ["/home/runner/run.sh"]',
  'ENV PATH=/bin',
  'WORKDIR /home/runner',
];

/** Splits `name:tag` (a registry port is not a tag) into the import API's repo and tag. */
export function splitImageTag(ref: string): { repo: string; tag: string } {
  const lastColon = ref.lastIndexOf(':');
  if (lastColon > ref.lastIndexOf('/')) {
    return { repo: ref.slice(0, lastColon), tag: ref.slice(lastColon + 1) };
  }
  return { repo: ref, tag: 'latest' };
}

function insideRoot(root: string, path: string): string {
  const normalized = posix.normalize(path);
  if (!path.startsWith('/') || path.split('/').includes('..')) {
    throw new Error(`extraFiles path must be absolute inside the image: ${path}`);
  }
  return join(root, normalized);
}

/**
 * Writes the runner image's root filesystem into `root`: `/bin/busybox` with applet links,
 * `/etc/passwd` with `root` and `runner` (uid 1001), a writable `/tmp` and `/home/runner`,
 * `/home/runner/run.sh` and the extra files.
 */
export async function writeRunnerRootfs(
  root: string,
  options: Pick<RunnerTestImageOptions, 'runScript' | 'extraFiles' | 'busyboxPath'>,
): Promise<void> {
  const bin = join(root, 'bin');
  await mkdir(bin, { recursive: true });
  await copyFile(options.busyboxPath ?? '/bin/busybox', join(bin, 'busybox'));
  await chmod(join(bin, 'busybox'), 0o755);
  for (const applet of RUNNER_TEST_IMAGE_APPLETS) {
    await symlink('busybox', join(bin, applet));
  }
  await mkdir(join(root, 'etc'));
  await writeFile(
    join(root, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\nrunner:x:1001:1001:runner:/home/runner:/bin/sh\n',
  );
  await writeFile(join(root, 'etc', 'group'), 'root:x:0:\nrunner:x:1001:\n');
  // Everything is owned by root in the tarball; world-writable dirs let `runner` work too.
  for (const dir of ['tmp', 'home/runner', 'root']) {
    await mkdir(join(root, dir), { recursive: true });
  }
  await chmod(join(root, 'tmp'), 0o1777);
  await chmod(join(root, 'home', 'runner'), 0o777);
  await writeFile(join(root, 'home', 'runner', 'run.sh'), options.runScript);
  await chmod(join(root, 'home', 'runner', 'run.sh'), 0o755);
  for (const [path, file] of Object.entries(options.extraFiles ?? {})) {
    const target = insideRoot(root, path);
    const { content, mode } =
      typeof file === 'string' || Buffer.isBuffer(file) ? { content: file, mode: undefined } : file;
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
    await chmod(target, mode ?? 0o644);
  }
}

async function imageExists(docker: Dockerode, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: unknown }).statusCode === 404) {
      return false;
    }
    throw err;
  }
}

/** Reads an import progress stream to its end; throws on an error line. */
async function drain(stream: NodeJS.ReadableStream): Promise<void> {
  let text = '';
  for await (const chunk of stream) {
    text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      continue;
    }
    const event = JSON.parse(line) as { error?: unknown };
    if (event.error !== undefined) {
      throw new Error(`docker import failed: ${JSON.stringify(event.error)}`);
    }
  }
}

/**
 * Builds a busybox-based runner image with `docker import` (no registry needed): see
 * {@link writeRunnerRootfs} for its content; its command is `/home/runner/run.sh` and
 * `PATH=/bin`. Idempotent: an existing tag is reused unless `force` is set. Uses the system
 * `tar` to pack the root filesystem.
 */
export async function buildRunnerTestImage(
  docker: Dockerode,
  options: RunnerTestImageOptions,
): Promise<RunnerTestImage> {
  const { repo, tag } = splitImageTag(options.tag);
  const ref = `${repo}:${tag}`;
  if (options.force !== true && (await imageExists(docker, ref))) {
    return { ref, built: false };
  }
  const dir = await mkdtemp(join(tmpdir(), 'scaleset-image-'));
  try {
    const root = join(dir, 'rootfs');
    await mkdir(root);
    await writeRunnerRootfs(root, options);
    const tar = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let tarErrors = '';
    tar.stderr.on('data', (chunk: Buffer) => {
      tarErrors += chunk.toString('utf8');
    });
    const tarDone = new Promise<void>((resolve, reject) => {
      tar.once('error', reject);
      tar.once('close', (code) => {
        if (code === 0) {
          resolve();
        } else {
          reject(new Error(`tar exited with ${String(code)}: ${tarErrors.trim()}`));
        }
      });
    });
    // Awaited below; this only keeps an early tar failure from being reported as unhandled.
    tarDone.catch(() => undefined);
    const progress = await docker.importImage(tar.stdout, {
      repo,
      tag,
      changes: [...RUNNER_TEST_IMAGE_CHANGES, ...(options.changes ?? [])],
    });
    await Promise.all([drain(progress), tarDone]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if (!(await imageExists(docker, ref))) {
    throw new Error(`docker import reported success but ${ref} does not exist`);
  }
  return { ref, built: true };
}

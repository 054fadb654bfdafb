import { lstat, mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RUNNER_TEST_IMAGE_APPLETS, splitImageTag, writeRunnerRootfs } from './docker-image';

let dir = '';

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scaleset-rootfs-spec-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('splitImageTag', () => {
  it.each([
    ['runner:test', { repo: 'runner', tag: 'test' }],
    ['runner', { repo: 'runner', tag: 'latest' }],
    ['localhost:5000/runner', { repo: 'localhost:5000/runner', tag: 'latest' }],
    ['localhost:5000/runner:v1', { repo: 'localhost:5000/runner', tag: 'v1' }],
  ])('splits %p', (ref, expected) => {
    expect(splitImageTag(ref)).toEqual(expected);
  });
});

describe('writeRunnerRootfs', () => {
  it('lays out busybox, its applets, users and an executable run.sh', async () => {
    await writeRunnerRootfs(dir, {
      runScript: '#!/bin/sh\necho hi\n',
      extraFiles: {
        '/etc/fake/config.json': '{"a":1}',
        '/home/runner/tool.sh': { content: '#!/bin/sh\n', mode: 0o700 },
      },
    });

    expect((await stat(join(dir, 'bin/busybox'))).mode & 0o777).toBe(0o755);
    for (const applet of ['sh', 'wget', 'sleep', 'sha256sum', ...RUNNER_TEST_IMAGE_APPLETS]) {
      expect((await lstat(join(dir, 'bin', applet))).isSymbolicLink()).toBe(true);
      expect(await readlink(join(dir, 'bin', applet))).toBe('busybox');
    }
    expect(await readFile(join(dir, 'home/runner/run.sh'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
    expect((await stat(join(dir, 'home/runner/run.sh'))).mode & 0o777).toBe(0o755);
    expect(await readFile(join(dir, 'etc/passwd'), 'utf8')).toContain('runner:x:1001:');
    expect((await stat(join(dir, 'tmp'))).mode & 0o7777).toBe(0o1777);
    expect(await readFile(join(dir, 'etc/fake/config.json'), 'utf8')).toBe('{"a":1}');
    expect((await stat(join(dir, 'etc/fake/config.json'))).mode & 0o777).toBe(0o644);
    expect((await stat(join(dir, 'home/runner/tool.sh'))).mode & 0o777).toBe(0o700);
  });

  it.each(['relative/file', '/../../escape', '/a/../../escape'])(
    'refuses extra file path %p outside the image root',
    async (path) => {
      await expect(
        writeRunnerRootfs(dir, { runScript: '', extraFiles: { [path]: 'x' } }),
      ).rejects.toThrow('absolute inside the image');
    },
  );
});

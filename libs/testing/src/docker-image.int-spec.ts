import { randomUUID } from 'node:crypto';
import Dockerode from 'dockerode';
import { buildRunnerTestImage } from './docker-image';

jest.setTimeout(60_000);

const docker = new Dockerode();
const prefix = `sst-img-${randomUUID().slice(0, 8)}`;
const tag = `${prefix}:test`;
// A forced rebuild leaves the previous image untagged; remove every build by id.
const builtIds: string[] = [];

async function runToCompletion(image: string, name: string): Promise<string> {
  const container = await docker.createContainer({
    name,
    Image: image,
    Env: ['GREETING=hello-from-env'],
    HostConfig: { NetworkMode: 'host' },
  });
  await container.start();
  const { StatusCode } = (await container.wait()) as { StatusCode: number };
  const logs = (await container.logs({ stdout: true, stderr: true })).toString('latin1');
  expect(StatusCode).toBe(0);
  return logs;
}

afterAll(async () => {
  const leftovers = await docker.listContainers({ all: true, filters: { name: [prefix] } });
  await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true })));
  for (const id of builtIds) {
    await docker
      .getImage(id)
      .remove({ force: true })
      .catch(() => undefined);
  }
});

describe('buildRunnerTestImage against a real dockerd', () => {
  it('builds an image whose default command is run.sh, reuses it, and rebuilds on force', async () => {
    const first = await buildRunnerTestImage(docker, {
      tag,
      runScript:
        '#!/bin/sh\necho "run.sh says $GREETING as $(id -u) with PATH=$PATH"\ncat /etc/extra.txt\n',
      extraFiles: { '/etc/extra.txt': 'extra-file-content\n' },
    });
    expect(first).toEqual({ ref: tag, built: true });
    const { Id, Config: config } = await docker.getImage(tag).inspect();
    builtIds.push(Id);
    expect(config.Cmd).toEqual(['/home/runner/run.sh']);
    expect(config.Env).toContain('PATH=/bin');

    const logs = await runToCompletion(tag, `${prefix}-run`);
    expect(logs).toContain('run.sh says hello-from-env as 0 with PATH=/bin');
    expect(logs).toContain('extra-file-content');

    const again = await buildRunnerTestImage(docker, { tag, runScript: '#!/bin/sh\necho v2\n' });
    expect(again).toEqual({ ref: tag, built: false });
    expect(await runToCompletion(tag, `${prefix}-reused`)).toContain('run.sh says');

    const forced = await buildRunnerTestImage(docker, {
      tag,
      runScript: '#!/bin/sh\necho v2\n',
      force: true,
    });
    expect(forced.built).toBe(true);
    const rebuilt = (await docker.getImage(tag).inspect()).Id;
    builtIds.push(rebuilt);
    expect(rebuilt).not.toBe(Id);
    expect(await runToCompletion(tag, `${prefix}-forced`)).toContain('v2');
  });
});

import { EngineConfigError } from '../errors';
import {
  DEFAULT_RUNNER_COMMAND,
  DEFAULT_RUNNER_IMAGE,
  assertValidVolume,
  cpusToNanoCpus,
  dockerConnectionOptions,
  imagePullParams,
  parseMemory,
  resolveDockerEngineOptions,
} from './docker.options';

function configError(fn: () => unknown): EngineConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof EngineConfigError) {
      return err;
    }
    throw err;
  }
  throw new Error('expected an EngineConfigError');
}

describe('parseMemory', () => {
  it.each([
    ['512m', 512 * 2 ** 20],
    ['2g', 2 * 2 ** 30],
    ['2G', 2 * 2 ** 30],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['10MB', 10 * 2 ** 20],
    ['8192k', 8 * 2 ** 20],
    ['1t', 2 ** 40],
    [' 64m ', 64 * 2 ** 20],
    ['7340032', 7 * 2 ** 20],
    [7 * 2 ** 20, 7 * 2 ** 20],
  ])('parses %p', (input, bytes) => {
    expect(parseMemory(input)).toBe(bytes);
  });

  it.each(['lots', '2x', '-1g', '', 'g', '1 g b', '1024k', '5m', 0, -5, 1.5, Number.NaN])(
    'refuses %p without echoing it',
    (input) => {
      const err = configError(() => parseMemory(input));
      expect(err.field).toBe('docker.memory');
      if (typeof input === 'string' && input.trim().length > 2) {
        expect(err.message).not.toContain(input.trim());
      }
    },
  );
});

describe('cpusToNanoCpus', () => {
  it('maps cores to NanoCpus', () => {
    expect(cpusToNanoCpus(1)).toBe(1e9);
    expect(cpusToNanoCpus(0.5)).toBe(5e8);
    expect(cpusToNanoCpus(2.25)).toBe(2.25e9);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 0.0001])('refuses %p', (cpus) => {
    expect(() => cpusToNanoCpus(cpus)).toThrow(EngineConfigError);
  });
});

describe('assertValidVolume', () => {
  it.each(['/srv/cache:/cache', '/srv/cache:/cache:ro', 'named-vol:/data:rw,z'])(
    'accepts %p',
    (volume) => {
      expect(() => {
        assertValidVolume(volume, 'v');
      }).not.toThrow();
    },
  );

  it.each(['/srv/cache', ':/cache', '/srv:cache', '/a:/b:rx', '/a:/b:ro:extra'])(
    'refuses %p',
    (volume) => {
      expect(() => {
        assertValidVolume(volume, 'v');
      }).toThrow(EngineConfigError);
    },
  );
});

describe('dockerConnectionOptions', () => {
  it("keeps dockerode's defaults when unset", () => {
    expect(dockerConnectionOptions(null)).toEqual({});
  });

  it('connects to unix sockets, overriding DOCKER_HOST', () => {
    expect(dockerConnectionOptions('unix:///run/docker.sock')).toEqual({
      socketPath: '/run/docker.sock',
      host: '',
      protocol: 'http',
    });
    expect(dockerConnectionOptions('/run/docker.sock')).toMatchObject({
      socketPath: '/run/docker.sock',
    });
  });

  it('connects to tcp hosts', () => {
    expect(dockerConnectionOptions('tcp://127.0.0.1:2375')).toEqual({
      host: '127.0.0.1',
      port: 2375,
      protocol: 'http',
    });
  });

  it.each(['ssh://me@host', 'tcp://host', 'unix://relative.sock', 'docker.sock'])(
    'refuses %p',
    (host) => {
      expect(configError(() => dockerConnectionOptions(host)).field).toBe('docker.docker_host');
    },
  );
});

describe('imagePullParams', () => {
  it.each([
    [
      'ghcr.io/actions/actions-runner:latest',
      { fromImage: 'ghcr.io/actions/actions-runner', tag: 'latest' },
    ],
    [
      'ghcr.io/actions/actions-runner:2.330.0',
      { fromImage: 'ghcr.io/actions/actions-runner', tag: '2.330.0' },
    ],
    ['localhost:5000/runner', { fromImage: 'localhost:5000/runner', tag: 'latest' }],
    ['runner', { fromImage: 'runner', tag: 'latest' }],
    ['runner@sha256:abc', { fromImage: 'runner@sha256:abc' }],
  ])('splits %p', (image, params) => {
    expect(imagePullParams(image)).toEqual(params);
  });
});

describe('resolveDockerEngineOptions', () => {
  it('applies the defaults', () => {
    expect(resolveDockerEngineOptions({ ownerId: 'deploy-1' })).toEqual({
      ownerId: 'deploy-1',
      image: DEFAULT_RUNNER_IMAGE,
      pullPolicy: 'if-not-present',
      command: DEFAULT_RUNNER_COMMAND,
      dind: false,
      dindHostSocket: '/var/run/docker.sock',
      network: null,
      nanoCpus: null,
      memoryBytes: null,
      env: {},
      labels: {},
      volumes: [],
      dockerHost: null,
      privileged: false,
      user: null,
      apiTimeoutMs: 30_000,
      pullTimeoutMs: 900_000,
    });
  });

  it('maps limits and keeps the rest', () => {
    const resolved = resolveDockerEngineOptions({
      ownerId: 'deploy-1',
      cpus: 1.5,
      memory: '2g',
      network: 'host',
      user: 'runner',
      privileged: true,
      pullPolicy: 'never',
    });

    expect(resolved).toMatchObject({
      nanoCpus: 1.5e9,
      memoryBytes: 2 * 2 ** 30,
      network: 'host',
      user: 'runner',
      privileged: true,
      pullPolicy: 'never',
    });
  });

  it.each([null, []])('honours the image command when command is %p', (command) => {
    expect(resolveDockerEngineOptions({ ownerId: 'd', command }).command).toBeNull();
  });

  it.each([
    [{ ownerId: '' }, 'docker.owner_id'],
    [{ ownerId: 'has space' }, 'docker.owner_id'],
    [{ ownerId: 'd', image: 'two words' }, 'docker.image'],
    [
      { ownerId: 'd', env: { ACTIONS_RUNNER_INPUT_JITCONFIG: 'x' } },
      'docker.env.ACTIONS_RUNNER_INPUT_JITCONFIG',
    ],
    [{ ownerId: 'd', env: { 'BAD-NAME': 'x' } }, 'docker.env.BAD-NAME'],
    [{ ownerId: 'd', labels: { 'io.scaleset.owner': 'x' } }, 'docker.labels.io.scaleset.owner'],
    [{ ownerId: 'd', volumes: ['/ok:/ok', 'nope'] }, 'docker.volumes[1]'],
    [{ ownerId: 'd', dindHostSocket: 'relative' }, 'docker.dind_host_socket'],
    [{ ownerId: 'd', network: ' ' }, 'docker.network'],
    [{ ownerId: 'd', apiTimeoutMs: 0 }, 'docker.api_timeout_ms'],
    [{ ownerId: 'd', pullTimeoutMs: 1.5 }, 'docker.pull_timeout_ms'],
    [{ ownerId: 'd', dockerHost: 'ftp://x' }, 'docker.docker_host'],
  ])('refuses %p naming %s', (options, field) => {
    expect(configError(() => resolveDockerEngineOptions(options)).field).toBe(field);
  });

  it('does not echo env values in errors', () => {
    const err = configError(() =>
      resolveDockerEngineOptions({
        ownerId: 'd',
        env: { ACTIONS_RUNNER_INPUT_JITCONFIG: 'topsecret' },
      }),
    );
    expect(err.message).not.toContain('topsecret');
  });
});

import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_SOURCES } from '@app/config';
import { EXIT, runCli, type CliIo } from './cli';

const TOKEN = 'ghp_PlantedSecretToken0123456789abcdef';
const KEY_BODY = 'MIIEpAIBAAKCAQEAplantedSecretKeyMaterial0123456789';
const PEM = `-----BEGIN RSA PRIVATE KEY-----\n${KEY_BODY}\n-----END RSA PRIVATE KEY-----\n`;
const REDIS_PASSWORD = 'planted-redis-password-42';
const SECRETS = [TOKEN, KEY_BODY, REDIS_PASSWORD, 'not-a-pem-but-secret-value'];

interface Run {
  code: number;
  out: string;
  err: string;
}

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scaleset-cli-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function run(
  args: string[],
  files: Record<string, string> = {},
  env: Record<string, string> = {},
): Promise<Run> {
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), content);
  }
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    env,
    cwd: dir,
    stopSignal: () => Promise.resolve('SIGTERM'),
  };
  const code = await runCli(args, io);
  return { code, out, err };
}

const base = {
  url: 'https://github.com/my-org',
  scaleset: 'scaleset:\n  name: my-set\n',
  docker: 'engine:\n  docker:\n    enable: true\n',
};

function yaml(parts: {
  github?: string;
  scaleset?: string;
  engine?: string;
  extra?: string;
}): string {
  return [
    parts.github ?? `github:\n  url: ${base.url}\n  token: ${TOKEN}\n`,
    parts.scaleset ?? base.scaleset,
    parts.engine ?? base.docker,
    parts.extra ?? '',
  ].join('');
}

interface BrokenCase {
  name: string;
  yaml?: string;
  files?: Record<string, string>;
  env?: Record<string, string>;
  args?: string[];
  path: string;
}

const broken: BrokenCase[] = [
  {
    name: 'missing credentials',
    yaml: yaml({ github: `github:\n  url: ${base.url}\n` }),
    path: 'github:',
  },
  {
    name: 'both token and app',
    yaml: yaml({
      github: `github:\n  url: ${base.url}\n  token: ${TOKEN}\n  app:\n    client_id: abc\n    installation_id: 5\n    private_key: |\n${PEM.trimEnd().replace(/^/gm, '      ')}\n`,
    }),
    path: 'github:',
  },
  {
    name: 'half an app (client id only)',
    yaml: yaml({ github: `github:\n  url: ${base.url}\n  app:\n    client_id: abc\n` }),
    path: 'github.app.installation_id',
  },
  {
    name: 'app without a private key',
    yaml: yaml({
      github: `github:\n  url: ${base.url}\n  app:\n    client_id: abc\n    installation_id: 7\n`,
    }),
    path: 'github.app.private_key_path',
  },
  {
    name: 'app key file missing',
    yaml: yaml({
      github: `github:\n  url: ${base.url}\n  app:\n    client_id: abc\n    installation_id: 7\n    private_key_path: nope.pem\n`,
    }),
    path: 'github.app.private_key_path',
  },
  {
    name: 'app key that is not PEM',
    yaml: yaml({
      github: `github:\n  url: ${base.url}\n  app:\n    client_id: abc\n    installation_id: 7\n    private_key: not-a-pem-but-secret-value\n`,
    }),
    path: 'github.app.private_key',
  },
  {
    name: 'installation id of the wrong type',
    yaml: yaml({
      github: `github:\n  url: ${base.url}\n  app:\n    client_id: abc\n    installation_id: seven\n    private_key_path: k.pem\n`,
    }),
    files: { 'k.pem': PEM },
    path: 'github.app.installation_id',
  },
  {
    name: 'token file missing',
    yaml: yaml({ github: `github:\n  url: ${base.url}\n  token_file: none.txt\n` }),
    path: 'github.token_file',
  },
  {
    name: 'missing url',
    yaml: yaml({ github: `github:\n  token: ${TOKEN}\n` }),
    path: 'github.url',
  },
  {
    name: 'url that is not a URL',
    yaml: yaml({ github: `github:\n  url: not a url\n  token: ${TOKEN}\n` }),
    path: 'github.url',
  },
  {
    name: 'url with no owner',
    yaml: yaml({ github: `github:\n  url: https://github.com/\n  token: ${TOKEN}\n` }),
    path: 'github.url',
  },
  {
    name: 'url with too many segments',
    yaml: yaml({
      github: `github:\n  url: https://github.com/some/random/path\n  token: ${TOKEN}\n`,
    }),
    path: 'github.url',
  },
  {
    name: 'plain http to a non-loopback host',
    yaml: yaml({ github: `github:\n  url: http://ghes.example.com/org\n  token: ${TOKEN}\n` }),
    path: 'github.url',
  },
  {
    name: 'ftp url',
    yaml: yaml({ github: `github:\n  url: ftp://github.com/org\n  token: ${TOKEN}\n` }),
    path: 'github.url',
  },
  {
    name: 'url without scheme',
    yaml: yaml({ github: `github:\n  url: github.com/org/repo\n  token: ${TOKEN}\n` }),
    path: 'github.url',
  },
  {
    name: 'max below min',
    yaml: yaml({ scaleset: 'scaleset:\n  name: s\n  min_runners: 5\n  max_runners: 2\n' }),
    path: 'scaleset.max_runners',
  },
  {
    name: 'two engines',
    yaml: yaml({
      engine:
        'engine:\n  docker:\n    enable: true\n  gcp:\n    enable: true\n    project: my-project\n    zone: us-central1-a\n    image: i\n',
    }),
    path: 'engine:',
  },
  { name: 'no engine', yaml: yaml({ engine: '' }), path: 'engine:' },
  {
    name: 'engine section with nothing enabled',
    yaml: yaml({ engine: 'engine:\n  docker:\n    image: x\n' }),
    path: 'engine:',
  },
  {
    name: 'gcp without project',
    yaml: yaml({
      engine: 'engine:\n  gcp:\n    enable: true\n    zone: us-central1-a\n    image: i\n',
    }),
    path: 'engine.gcp.project',
  },
  {
    name: 'aws (not implemented)',
    yaml: yaml({
      engine:
        'engine:\n  aws:\n    enable: true\n    region: r\n    image: i\n    instance_type: t\n',
    }),
    path: 'engine.aws',
  },
  { name: 'unknown top-level key', yaml: yaml({ extra: 'scaler:\n  x: 1\n' }), path: 'scaler' },
  {
    name: 'misspelt nested key',
    yaml: yaml({ scaleset: 'scaleset:\n  name: s\n  max_runner: 3\n' }),
    path: 'scaleset.max_runner',
  },
  {
    name: 'wrong type for max_runners',
    yaml: yaml({ scaleset: 'scaleset:\n  name: s\n  max_runners: ten\n' }),
    path: 'scaleset.max_runners',
  },
  {
    name: 'negative min_runners',
    yaml: yaml({ scaleset: 'scaleset:\n  name: s\n  min_runners: -1\n' }),
    path: 'scaleset.min_runners',
  },
  {
    name: 'fractional max_runners',
    yaml: yaml({ scaleset: 'scaleset:\n  name: s\n  max_runners: 2.5\n' }),
    path: 'scaleset.max_runners',
  },
  {
    name: 'empty label',
    yaml: yaml({ scaleset: "scaleset:\n  name: s\n  labels: ['ok', '  ']\n" }),
    path: 'scaleset.labels[1]',
  },
  {
    name: 'labels not a list',
    yaml: yaml({ scaleset: 'scaleset:\n  name: s\n  labels: linux\n' }),
    path: 'scaleset.labels',
  },
  { name: 'missing scale set', yaml: yaml({ scaleset: '' }), path: 'scaleset:' },
  {
    name: 'scale set name with spaces',
    yaml: yaml({ scaleset: 'scaleset:\n  name: my set\n' }),
    path: 'scaleset.name',
  },
  {
    name: 'bad log level',
    yaml: yaml({ extra: 'logging:\n  level: loud\n' }),
    path: 'logging.level',
  },
  {
    name: 'bad log format',
    yaml: yaml({ extra: 'logging:\n  format: xml\n' }),
    path: 'logging.format',
  },
  {
    name: 'prometheus port out of range',
    yaml: yaml({ extra: 'prometheus:\n  port: 70000\n' }),
    path: 'prometheus.port',
  },
  {
    name: 'redis url with the wrong scheme',
    yaml: yaml({ extra: 'redis:\n  url: http://127.0.0.1:6379\n' }),
    path: 'redis.url',
  },
  {
    name: 'redis password and password file',
    yaml: yaml({ extra: `redis:\n  password: ${REDIS_PASSWORD}\n  password_file: p.txt\n` }),
    files: { 'p.txt': REDIS_PASSWORD },
    path: 'redis.password_file',
  },
  {
    name: 'bad pull policy',
    yaml: yaml({ engine: 'engine:\n  docker:\n    enable: true\n    pull_policy: sometimes\n' }),
    path: 'engine.docker.pull_policy',
  },
  {
    name: 'enable of the wrong type',
    yaml: yaml({ engine: "engine:\n  docker:\n    enable: 'yes'\n" }),
    path: 'engine.docker.enable',
  },
  {
    name: 'both scaleset and scalesets',
    yaml: yaml({ extra: 'scalesets:\n  - name: other\n' }),
    path: 'scalesets',
  },
  {
    name: 'duplicate names in scalesets',
    yaml: yaml({ scaleset: 'scalesets:\n  - name: a\n  - name: A\n' }),
    path: 'scalesets[1].name',
  },
  {
    name: 'a scalesets entry with two engines',
    yaml: yaml({
      scaleset:
        'scalesets:\n  - name: a\n    engine:\n      docker:\n        enable: true\n      azure:\n        enable: true\n',
    }),
    path: 'scalesets[0].engine',
  },
  {
    name: 'otel enabled without endpoint',
    yaml: yaml({ extra: 'otel:\n  enabled: true\n' }),
    path: 'otel.endpoint',
  },
  {
    name: 'YAML syntax error on the token line',
    yaml: `github:\n  url: ${base.url}\n  token: "${TOKEN}\n  x: [\n`,
    path: 'config:',
  },
  {
    name: 'env var that is not a number',
    yaml: yaml({}),
    env: { SCALESET_SCALESET_MAX_RUNNERS: 'lots' },
    path: 'scaleset.max_runners',
  },
  {
    name: 'negative flag value',
    yaml: yaml({}),
    args: ['--max-runners', '-3'],
    path: 'scaleset.max_runners',
  },
  {
    name: 'flag for a single scale set with a scalesets list',
    yaml: yaml({ scaleset: 'scalesets:\n  - name: a\n' }),
    args: ['--name', 'x'],
    path: '--name',
  },
  {
    name: 'explicit config file that does not exist',
    args: ['--config', 'missing.yaml'],
    path: 'config:',
  },
];

describe('scaleset config validate: broken configurations', () => {
  it('has at least 30 cases', () => {
    expect(broken.length).toBeGreaterThanOrEqual(30);
  });

  it.each(broken.map((c) => [c.name, c] as const))(
    '%s → exit 2 naming the field, no secret',
    async (_name, c) => {
      const files: Record<string, string> = { ...(c.files ?? {}) };
      const args = ['config', 'validate'];
      if (c.yaml !== undefined) {
        files['config.yaml'] = c.yaml;
      }
      const res = await run([...args, ...(c.args ?? [])], files, c.env ?? {});
      expect(res.code).toBe(EXIT.config);
      expect(res.out).toBe('');
      expect(res.err).toContain(c.path);
      for (const secret of SECRETS) {
        expect(res.err).not.toContain(secret);
      }
    },
  );
});

describe('scaleset config validate: valid configurations', () => {
  it('prints the effective configuration with every secret redacted', async () => {
    const res = await run(
      ['config', 'validate'],
      {
        'config.yaml': yaml({
          github: `github:\n  url: ${base.url}\n  app:\n    client_id: Iv1.abc\n    installation_id: 42\n    private_key_path: key.pem\n`,
          extra: `redis:\n  url: redis://:${REDIS_PASSWORD}@127.0.0.1:6379\n  password_file: pw\n`,
        }),
        'key.pem': PEM,
        pw: REDIS_PASSWORD,
      },
      {},
    );
    expect(res.err).toContain('configuration is valid');
    expect(res.code).toBe(EXIT.ok);
    expect(res.out).toContain('client_id: Iv1.abc');
    expect(res.out).toContain('[REDACTED]');
    for (const secret of SECRETS) {
      expect(res.out + res.err).not.toContain(secret);
    }
  });

  it('accepts the shipped config.example.yaml', async () => {
    const repo = join(__dirname, '..', '..', '..');
    const res = await run(
      ['config', 'validate', '--config', join(repo, 'config.example.yaml')],
      {},
      {},
    );
    // The example's token_file is relative to the working directory of the command.
    expect(res.err).toContain('github.token_file');
    const fromRepo = await runCli(['config', 'validate', '--config', 'config.example.yaml'], {
      stdout: () => undefined,
      stderr: () => undefined,
      env: {},
      cwd: repo,
      stopSignal: () => Promise.resolve('SIGTERM'),
    });
    expect(fromRepo).toBe(EXIT.ok);
  });
});

describe('scaleset --help and --version', () => {
  it('lists every flag of the original tool plus --redis-url', async () => {
    const res = await run(['--help']);
    expect(res.code).toBe(EXIT.ok);
    const original = [
      '--config',
      '--url',
      '--token',
      '--app-client-id',
      '--app-installation-id',
      '--app-private-key',
      '--app-private-key-path',
      '--name',
      '--runner-group',
      '--min-runners',
      '--max-runners',
      '--log-level',
      '--log-format',
      '--redis-url',
    ];
    for (const flag of original) {
      expect(res.out).toMatch(new RegExp(`${flag}\\b`));
    }
    for (const source of CONFIG_SOURCES) {
      if (source.flag !== undefined) {
        expect(res.out).toContain(`--${source.flag}`);
        expect(res.out).toContain(source.env);
      }
    }
    for (const cmd of ['run', 'listener', 'worker', 'config']) {
      expect(res.out).toMatch(new RegExp(`^\\s+${cmd}\\b`, 'm'));
    }
  });

  it('prints dev as the version of an unversioned build', async () => {
    const res = await run(['--version']);
    expect(res.code).toBe(EXIT.ok);
    expect(res.out.trim()).toBe('dev');
  });

  it('rejects an unknown flag with exit code 2', async () => {
    const res = await run(['--no-such-flag']);
    expect(res.code).toBe(EXIT.config);
    expect(res.err).toContain('--no-such-flag');
  });
});

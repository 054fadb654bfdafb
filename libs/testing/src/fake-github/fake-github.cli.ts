import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeGitHub } from './fake-github.server';
import type { FakeGitHubOptions } from './fake-github.types';

const USAGE = `usage: fake-github [--port N] [--poll-timeout-ms MS] [--mode assign|acquire]
  [--admin-token-ttl-sec S] [--job-duration-ms MS] [--reassign-after-ms MS]
  [--session-idle-expiry-ms MS] [--org NAME] [--bom]`;

/** Parsed command line of {@link runFakeGitHubCli}. */
export interface FakeGitHubCliArgs {
  port: number;
  options: FakeGitHubOptions;
}

function integer(flag: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < min) {
    throw new Error(`${flag} needs an integer ≥ ${min}, got ${value ?? 'nothing'}\n${USAGE}`);
  }
  return n;
}

/** Parses the fake's command line (arguments after the command name). */
export function parseFakeGitHubArgs(argv: string[]): FakeGitHubCliArgs {
  const options: FakeGitHubOptions = {};
  let port = 0;
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i] ?? '';
    const [name, inline] = flag.includes('=') ? flag.split(/=(.*)/s, 2) : [flag, undefined];
    const value = (): string | undefined => {
      if (inline !== undefined) {
        return inline;
      }
      i += 1;
      return argv[i];
    };
    switch (name) {
      case '--port':
        port = integer('--port', value(), 0);
        break;
      case '--poll-timeout-ms':
        options.pollTimeoutMs = integer('--poll-timeout-ms', value(), 1);
        break;
      case '--mode': {
        const mode = value();
        if (mode !== 'assign' && mode !== 'acquire') {
          throw new Error(`--mode must be assign or acquire, got ${mode ?? 'nothing'}\n${USAGE}`);
        }
        options.mode = mode;
        break;
      }
      case '--admin-token-ttl-sec':
        options.adminTokenTtlSec = integer('--admin-token-ttl-sec', value(), 1);
        break;
      case '--job-duration-ms':
        options.jobDurationMs = integer('--job-duration-ms', value(), 0);
        break;
      case '--reassign-after-ms':
        options.reassignAfterMs = integer('--reassign-after-ms', value(), 1);
        break;
      case '--session-idle-expiry-ms':
        options.sessionIdleExpiryMs = integer('--session-idle-expiry-ms', value(), 1);
        break;
      case '--org': {
        const org = value();
        if (org === undefined || !/^[A-Za-z0-9-]+$/.test(org)) {
          throw new Error(`--org needs a plain organization name\n${USAGE}`);
        }
        options.org = org;
        break;
      }
      case '--bom':
        options.bom = true;
        break;
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown argument ${flag}\n${USAGE}`);
    }
  }
  return { port, options };
}

/**
 * Runs the fake GitHub service in the foreground: prints origin, config URLs, the PAT and
 * the file holding the app's private key, then serves until SIGINT or SIGTERM.
 * `argv` is the arguments after the command name. Rejects on bad arguments.
 */
export async function runFakeGitHubCli(argv: string[]): Promise<void> {
  const { port, options } = parseFakeGitHubArgs(argv);
  const fake = new FakeGitHub(options);
  await fake.start(port);
  const dir = mkdtempSync(join(tmpdir(), 'fake-github-'));
  const keyFile = join(dir, 'app-private-key.pem');
  writeFileSync(keyFile, fake.app.privateKey, { mode: 0o600 });
  const lines = [
    `fake GitHub listening on ${fake.origin}`,
    `config URL (org):        ${fake.configUrl('org')}`,
    `config URL (repo):       ${fake.configUrl('repo')}`,
    `config URL (enterprise): ${fake.configUrl('enterprise')}`,
    `PAT:                     ${fake.pat}`,
    `app client id:           ${fake.app.clientId}`,
    `app installation id:     ${fake.app.installationId}`,
    `app private key file:    ${keyFile}`,
    `control API:             ${fake.origin}/_fake/control/info`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  await new Promise<void>((resolve) => {
    const onSignal = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await fake.stop();
  process.stdout.write('fake GitHub stopped\n');
}

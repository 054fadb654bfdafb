import { execFile, execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GCP_METADATA_KEYS } from './gcp.labels';
import { runnerStartupScript } from './gcp.startup-script';

const JIT = 'eyJydW5uZXIiOiJzZWNyZXQifQ==';

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('runnerStartupScript', () => {
  it('holds no secret and is valid POSIX sh', () => {
    for (const hook of [false, true]) {
      const script = runnerStartupScript(hook);

      expect(script.startsWith('#!/bin/sh\n')).toBe(true);
      expect(script).not.toContain(JIT);
      expect(script).toContain('scaleset-jit-config');
      expect(script).toContain('http://metadata.google.internal/computeMetadata/v1');
      expect(script).toContain('shutdown -h now');
      expect(script).not.toMatch(/set -x|echo "?\$JIT/);
      expect(() => execFileSync('sh', ['-n'], { input: script })).not.toThrow();
    }
  });
});

interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly body: string;
  readonly headers: IncomingMessage['headers'];
}

/**
 * The script, run by a real sh against a local stand-in for the metadata server and the
 * Compute API, with `shutdown` and `su` replaced by recorders on PATH.
 */
(hasCommand('curl') ? describe : describe.skip)('the startup script on a VM', () => {
  let dir: string;
  let server: Server;
  let base: string;
  let requests: Recorded[];
  let attributes: Record<string, string>;
  let guest: Record<string, string>;
  let setMetadataStatus: number[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gcp-startup-'));
    requests = [];
    guest = {};
    setMetadataStatus = [];
    attributes = {
      [GCP_METADATA_KEYS.jitConfig]: JIT,
      'startup-script': 'placeholder',
      'user-key': 'line one\n\tquoted "value" with \\ backslash\nline three',
      'enable-guest-attributes': 'TRUE',
    };
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString('utf8');
      });
      req.on('end', () => {
        const url = req.url ?? '';
        requests.push({ method: req.method ?? '', url, body, headers: req.headers });
        const send = (status: number, text: string): void => {
          res.writeHead(status, { 'Content-Type': 'text/plain' });
          res.end(text);
        };
        const md = '/computeMetadata/v1/';
        if (url.startsWith(md)) {
          if (req.headers['metadata-flavor'] !== 'Google') {
            send(403, 'missing Metadata-Flavor');
            return;
          }
          const path = url.slice(md.length);
          if (path === 'instance/attributes/') {
            send(200, Object.keys(attributes).join('\n') + '\n');
          } else if (path.startsWith('instance/attributes/')) {
            const v = attributes[path.slice('instance/attributes/'.length)];
            send(v === undefined ? 404 : 200, v ?? 'not found');
          } else if (path.startsWith('instance/guest-attributes/')) {
            const key = path.slice('instance/guest-attributes/'.length);
            if (req.method === 'PUT') {
              guest[key] = body;
              send(200, '');
            } else {
              send(guest[key] === undefined ? 404 : 200, guest[key] ?? '');
            }
          } else if (path === 'instance/service-accounts/default/token') {
            send(200, '{"access_token":"tok-123","expires_in":3599,"token_type":"Bearer"}');
          } else if (path === 'project/project-id') {
            send(200, 'my-project');
          } else if (path === 'instance/zone') {
            send(200, 'projects/123/zones/us-central1-a');
          } else if (path === 'instance/name') {
            send(200, 'linux-abc123');
          } else {
            send(404, 'not found');
          }
          return;
        }
        const api = '/compute/v1/projects/my-project/zones/us-central1-a/instances/linux-abc123';
        if (url.startsWith(`${api}?fields=`)) {
          send(200, '{\n  "metadata": {\n    "fingerprint": "fp-1="\n  }\n}\n');
        } else if (url === `${api}/setMetadata`) {
          const status = setMetadataStatus.shift() ?? 200;
          if (status === 200) {
            const parsed = JSON.parse(body) as { items: { key: string; value: string }[] };
            attributes = Object.fromEntries(parsed.items.map((i) => [i.key, i.value]));
          }
          send(status, '{}');
        } else {
          send(404, 'not found');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const bin = join(dir, 'bin');
    await mkdir(bin);
    await stub(bin, 'shutdown', `echo "shutdown $*" >> "${dir}/calls"`);
    await stub(bin, 'sleep', 'exit 0');
    await stub(
      bin,
      'su',
      `echo "su $*" >> "${dir}/calls"; printf '%s' "$ACTIONS_RUNNER_INPUT_JITCONFIG" > "${dir}/runner-env"`,
    );
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
    await rm(dir, { recursive: true, force: true });
  });

  async function stub(bin: string, name: string, body: string): Promise<void> {
    await writeFile(join(bin, name), `#!/bin/sh\n${body}\n`);
    await chmod(join(bin, name), 0o755);
  }

  function run(script: string): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      execFile(
        'sh',
        ['-c', script],
        {
          env: { PATH: `${join(dir, 'bin')}:${process.env['PATH'] ?? ''}`, TMPDIR: dir },
          timeout: 20_000,
        },
        (err, stdout, stderr) => {
          if (err) {
            reject(new Error(`${err.message}\n${stdout}\n${stderr}`));
          } else {
            resolve({ stdout, stderr });
          }
        },
      );
    });
  }

  function script(hook: boolean): string {
    return runnerStartupScript(hook, {
      metadataUrl: `${base}/computeMetadata/v1`,
      computeApiUrl: `${base}/compute/v1`,
    });
  }

  it('takes the JIT config, removes it from metadata, runs the runner and powers off', async () => {
    const { stdout, stderr } = await run(script(false));

    expect(guest['scaleset/jit-config']).toBe('consumed');
    expect(attributes).not.toHaveProperty(GCP_METADATA_KEYS.jitConfig);
    // Every other item survives the rewrite byte for byte (JSON-escaped on the way).
    expect(attributes['user-key']).toBe('line one\n\tquoted "value" with \\ backslash\nline three');
    expect(attributes['startup-script']).toBe('placeholder');
    const set = requests.find((r) => r.url.endsWith('/setMetadata'));
    expect(set?.headers.authorization).toBe('Bearer tok-123');
    expect(JSON.parse(set?.body ?? '{}')).toMatchObject({ fingerprint: 'fp-1=' });
    expect(set?.body).not.toContain(JIT);
    expect(await readFile(join(dir, 'runner-env'), 'utf8')).toBe(JIT);
    const calls = await readFile(join(dir, 'calls'), 'utf8');
    expect(calls).toContain('su runner -s /bin/sh -c cd /home/runner && exec ./run.sh');
    expect(calls).toContain('shutdown -h now');
    expect(stdout + stderr).not.toContain(JIT);
  });

  it('retries setMetadata after a fingerprint conflict', async () => {
    setMetadataStatus = [412];

    await run(script(false));

    expect(requests.filter((r) => r.url.endsWith('/setMetadata'))).toHaveLength(2);
    expect(attributes).not.toHaveProperty(GCP_METADATA_KEYS.jitConfig);
  });

  it('runs the configured hook with the JIT config in the environment', async () => {
    attributes[GCP_METADATA_KEYS.startupHook] =
      `#!/bin/sh\nprintf '%s' "$ACTIONS_RUNNER_INPUT_JITCONFIG" > "${dir}/hook-env"\n`;

    await run(script(true));

    expect(await readFile(join(dir, 'hook-env'), 'utf8')).toBe(JIT);
    expect(await readFile(join(dir, 'calls'), 'utf8')).not.toContain('su runner');
  });

  it('powers off without running anything when the JIT config was already used', async () => {
    guest['scaleset/jit-config'] = 'consumed';

    await run(script(false));

    const calls = await readFile(join(dir, 'calls'), 'utf8');
    expect(calls).toContain('shutdown -h now');
    expect(calls).not.toContain('su runner');
  });

  it('powers off when there is no JIT config (a rebooted VM)', async () => {
    attributes = Object.fromEntries(
      Object.entries(attributes).filter(([k]) => k !== GCP_METADATA_KEYS.jitConfig),
    );

    await run(script(false));

    const calls = await readFile(join(dir, 'calls'), 'utf8');
    expect(calls).toContain('shutdown -h now');
    expect(calls).not.toContain('su runner');
  });
});

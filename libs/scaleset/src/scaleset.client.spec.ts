import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { inspect } from 'node:util';
import {
  InvalidClientOptionsError,
  isRetryable,
  JobStillRunningError,
  RateLimitedError,
  RunnerExistsError,
  RunnerGroupNotFoundError,
  RunnerNotFoundError,
  ScaleSetApiError,
  ScaleSetArgumentError,
  ScaleSetNotFoundError,
  SessionConflictError,
  SessionNotFoundError,
} from './errors';
import { ScaleSetClient, type ScaleSetClientOptions } from './scaleset.client';
import { FakeActionsServer, fakeJwt, type RecordedRequest } from './test/fake-actions.server';
import { runInRealNode } from './test/real-node.runner';

interface ChildOutcome {
  readonly ok: boolean;
  readonly message?: string;
  readonly [key: string]: unknown;
}

function expectNoSecrets(outcome: ChildOutcome, ...secrets: string[]): void {
  const text = JSON.stringify(outcome);
  for (const secret of secrets) {
    expect(text).not.toContain(secret);
  }
}

const PAT = 'ghp_PersonalAccessToken0123456789abcdef';
const SVC = '/tenant/123/_apis';
const SESSION_ID = '3f2504e0-4f89-11d3-9a0c-0305e82c3301';

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

function leakFree(err: Error, ...secrets: string[]): void {
  const forms = [
    err.message,
    String(err),
    JSON.stringify(err),
    inspect(err),
    inspect(err, { depth: 10 }),
    err.stack ?? '',
  ];
  for (const secret of secrets) {
    for (const form of forms) {
      expect(form).not.toContain(secret);
    }
  }
}

describe('ScaleSetClient', () => {
  let server = new FakeActionsServer();
  const clients: ScaleSetClient[] = [];

  function client(options: Partial<ScaleSetClientOptions> = {}): ScaleSetClient {
    const c = new ScaleSetClient({
      configUrl: server.configUrl,
      auth: { kind: 'pat', token: PAT },
      retry: { waitMinMs: 10, waitMaxMs: 20 },
      proxy: 'none',
      env: {},
      ...options,
    });
    clients.push(c);
    return c;
  }

  const route = (
    method: string,
    suffix: string,
    reply: (r: RecordedRequest) => ReturnType<Parameters<FakeActionsServer['on']>[0]>,
  ) => {
    server.on((r) => (r.method === method && r.path.endsWith(suffix) ? reply(r) : undefined));
  };

  beforeEach(async () => {
    server = new FakeActionsServer();
    await server.start();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server.stop();
  });

  describe('token chain (§2)', () => {
    beforeEach(() => {
      route('GET', `${SVC}/runtime/runnerscalesets/5`, () => ({
        status: 200,
        body: { id: 5, name: 'set' },
      }));
    });

    it('runs lazily with the exact headers and body, then reuses the admin token', async () => {
      const c = client({ systemInfo: { subsystem: 'worker' } });
      expect(server.requests).toHaveLength(0);
      await c.getRunnerScaleSet(5);
      await c.getRunnerScaleSet(5);

      const [reg, registration, call1, call2] = server.requests;
      expect(reg?.path).toBe('/api/v3/orgs/test-org/actions/runners/registration-token');
      expect(reg?.headers.authorization).toBe(`Bearer ${PAT}`);
      expect(reg?.headers['content-type']).toBe('application/vnd.github.v3+json');
      expect(reg?.body).toBe('');
      expect(registration?.path).toBe('/api/v3/actions/runner-registration');
      expect(registration?.headers.authorization).toBe('RemoteAuth registration-token-abc');
      expect(registration?.headers['content-type']).toBe('application/json');
      expect(registration?.body).toBe(
        `{"url":"${server.origin}/test-org","runner_event":"register"}\n`,
      );
      expect(call1?.rawUrl).toBe(
        '/tenant/123/_apis/runtime/runnerscalesets/5?api-version=6.0-preview',
      );
      expect(call1?.headers.authorization).toMatch(/^Bearer eyJ/);
      expect(call1?.headers['content-type']).toBe('application/json');
      expect(JSON.parse(call1?.headers['user-agent'] ?? '')).toMatchObject({
        system: 'scaleset',
        subsystem: 'worker',
        scale_set_id: 0,
        kind: 'scaleset',
      });
      expect(call2?.headers.authorization).toBe(call1?.headers.authorization);
      expect(server.requests).toHaveLength(4);
    });

    it('refreshes the admin token when less than 60 s are left and adopts the new URL', async () => {
      server.adminTokenTtlSeconds = 30;
      route('POST', '/actions/runner-registration', () => ({
        status: 200,
        body: {
          url: `${server.origin}/tenant/456/`,
          token: fakeJwt(Math.floor(Date.now() / 1000) + 30),
        },
      }));
      route('GET', '/tenant/456/_apis/runtime/runnerscalesets/5', () => ({
        status: 200,
        body: { id: 5 },
      }));
      const c = client();
      await c.getRunnerScaleSet(5);
      await c.getRunnerScaleSet(5);
      expect(server.hits('POST', '/actions/runner-registration')).toHaveLength(2);
      expect(server.hits('GET', '/tenant/456/_apis/runtime/runnerscalesets/5')).toHaveLength(2);
    });

    it('does not refresh a token valid for an hour; concurrent calls share one refresh', async () => {
      server.adminTokenTtlSeconds = 3600;
      const c = client();
      await Promise.all([1, 2, 3, 4, 5].map(() => c.getRunnerScaleSet(5)));
      await c.getRunnerScaleSet(5);
      expect(server.hits('POST', '/actions/runner-registration')).toHaveLength(1);
      expect(server.hits('POST', '/registration-token')).toHaveLength(1);
    });

    it('keeps working after a failed refresh', async () => {
      server.adminTokenTtlSeconds = 30;
      const c = client();
      await c.getRunnerScaleSet(5);
      let broken = true;
      route('POST', '/registration-token', () => (broken ? { status: 502 } : undefined));
      const err = await failure(c.getRunnerScaleSet(5));
      expect(err).toBeInstanceOf(ScaleSetApiError);
      expect((err as ScaleSetApiError).status).toBe(502);
      expect((err as ScaleSetApiError).attempts).toBe(5);
      expect(isRetryable(err)).toBe(true);
      broken = false;
      await expect(c.getRunnerScaleSet(5)).resolves.toMatchObject({ id: 5 });
    });

    it('retries runner-registration on 401 up to RetryMax times', async () => {
      let n = 0;
      route('POST', '/actions/runner-registration', () =>
        ++n <= 4 ? { status: 401, body: { message: 'not yet' } } : undefined,
      );
      await expect(client().getRunnerScaleSet(5)).resolves.toMatchObject({ id: 5 });
      expect(server.hits('POST', '/actions/runner-registration')).toHaveLength(5);
    });

    it('reports an always-401 runner-registration with its body and status', async () => {
      route('POST', '/actions/runner-registration', () => ({
        status: 401,
        body: { message: 'test' },
      }));
      const err = await failure(client().getRunnerScaleSet(5));
      expect(err).toBeInstanceOf(ScaleSetApiError);
      expect((err as ScaleSetApiError).status).toBe(401);
      expect(err.message).toContain('status="401 Unauthorized"');
      expect(err.message).toContain('test');
      expect(server.hits('POST', '/actions/runner-registration')).toHaveLength(5);
    });

    it('rejects a runner-registration token that is not a JWT with exp', async () => {
      route('POST', '/actions/runner-registration', () => ({
        status: 200,
        body: { url: `${server.origin}/tenant/123/`, token: 'opaque-admin-token-value' },
      }));
      const err = await failure(client().getRunnerScaleSet(5));
      expect(err.message).toContain('failed to parse admin token');
      leakFree(err, 'opaque-admin-token-value');
    });

    // App auth loads the ESM-only octokit packages through Node's own loader, which
    // jest's CommonJS sandbox cannot do; so these run the client in a plain Node child.
    async function appCall(clientId: string, privateKey: string): Promise<ChildOutcome> {
      const result = await runInRealNode(join(__dirname, 'test', 'app-auth.child.ts'), {
        SCALESET_CHILD_INPUT: JSON.stringify({
          configUrl: server.configUrl,
          clientId,
          installationId: 42,
          privateKey,
        }),
      });
      expect(result.stderr).toBe('');
      return JSON.parse(result.stdout) as ChildOutcome;
    }

    function rsaKey(type: 'pkcs1' | 'pkcs8'): string {
      return generateKeyPairSync('rsa', {
        modulusLength: 2048,
        privateKeyEncoding: { type, format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
      }).privateKey;
    }

    it('uses a GitHub App installation token minted by @octokit/auth-app', async () => {
      const outcome = await appCall('Iv1.client', rsaKey('pkcs8'));
      expect(outcome).toMatchObject({ ok: true, scaleSet: { id: 5 } });
      const [install] = server.hits('POST', '/api/v3/app/installations/42/access_tokens');
      const jwt = install?.headers.authorization?.replace(/^bearer /i, '') ?? '';
      const claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as {
        iss: unknown;
        exp: number;
        iat: number;
      };
      expect(claims.iss).toBe('Iv1.client');
      expect(claims.exp - claims.iat).toBeLessThanOrEqual(600);
      expect(JSON.parse(install?.headers['user-agent'] ?? '')).toMatchObject({ kind: 'scaleset' });
      const [reg] = server.hits('POST', '/registration-token');
      expect(reg?.headers.authorization).toBe('Bearer ghs_installationtoken0123456789');
    }, 30_000);

    it('never leaks the App private key or installation token', async () => {
      const badKey = '-----BEGIN RSA PRIVATE KEY-----\nbm90LWEta2V5\n-----END RSA PRIVATE KEY-----';
      const unsigned = await appCall('Iv1.client', badKey);
      expect(unsigned).toMatchObject({ ok: false, name: 'GitHubAppAuthError' });
      expect(server.requests).toHaveLength(0);
      expectNoSecrets(unsigned, 'bm90LWEta2V5');

      const privateKey = rsaKey('pkcs1');
      route('POST', '/registration-token', (r) => ({
        status: 401,
        body: { message: `Bad credentials: ${r.headers.authorization ?? ''}` },
      }));
      const rejected = await appCall('123', privateKey);
      expect(rejected).toMatchObject({ ok: false, status: 401 });
      expect(rejected.message).toContain('Bad credentials');
      expectNoSecrets(
        rejected,
        'ghs_installationtoken0123456789',
        privateKey.split('\n')[1] ?? 'x',
      );
    }, 30_000);

    it('validates credentials at construction', () => {
      expect(() => client({ auth: { kind: 'pat', token: ' ' } })).toThrow(
        InvalidClientOptionsError,
      );
      expect(() =>
        client({ auth: { kind: 'app', clientId: 'x', installationId: 0, privateKey: 'k' } }),
      ).toThrow('installation ID');
      expect(() => client({ configUrl: 'https://github.com/a/b/c' })).toThrow('invalid config URL');
    });
  });

  describe('management endpoints (§4)', () => {
    it('decides runner-group and scale-set lookups by count', async () => {
      const group = { id: 2, name: 'g', size: 0, isDefaultGroup: false };
      route('GET', `${SVC}/runtime/runnergroups/`, (r) => {
        const name = r.query.get('groupName');
        const count = name === 'none' ? 0 : name === 'two' ? 2 : 1;
        return {
          status: 200,
          headers: { ActivityId: 'act-42' },
          body: { count, value: Array<unknown>(count).fill(group) },
        };
      });
      route('GET', `${SVC}/runtime/runnerscalesets`, () => ({
        status: 200,
        body: { count: 0, value: [{ id: 9 }] },
      }));
      const c = client();
      await expect(c.getRunnerGroupByName('g')).resolves.toEqual(group);
      await expect(c.getRunnerGroupByName('none')).rejects.toBeInstanceOf(RunnerGroupNotFoundError);
      const multiple = await failure(c.getRunnerGroupByName('two'));
      expect(multiple.message).toContain('multiple runner group found with name "two"');
      expect(multiple.message).toContain('activity_id="act-42"');
      await expect(c.getRunnerScaleSetByName(1, 'a b&c')).resolves.toBeNull();
      const [lookup] = server.hits('GET', `${SVC}/runtime/runnerscalesets`);
      expect(lookup?.rawUrl).toBe(
        '/tenant/123/_apis/runtime/runnerscalesets?api-version=6.0-preview&name=a+b%26c&runnerGroupId=1',
      );
      expect(server.hits('GET', `${SVC}/runtime/runnergroups/`)[0]?.rawUrl).toBe(
        '/tenant/123/_apis/runtime/runnergroups/?api-version=6.0-preview&groupName=g',
      );
    });

    it('creates a scale set with SDK serialisation and parses a BOM-prefixed response', async () => {
      route('POST', `${SVC}/runtime/runnerscalesets`, (r) => ({
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: `\uFEFF${JSON.stringify({ ...(JSON.parse(r.body) as object), id: 117, runnerSetting: { disableUpdate: true } })}`,
      }));
      const created = await client().createRunnerScaleSet({
        name: 'my-set',
        runnerGroupId: 1,
        runnerSetting: { disableUpdate: true },
      });
      expect(server.hits('POST', `${SVC}/runtime/runnerscalesets`)[0]?.body).toBe(
        '{"name":"my-set","runnerGroupId":1,"labels":[{"type":"System","name":"my-set"}],"RunnerSetting":{"disableUpdate":true},"createdOn":"0001-01-01T00:00:00Z"}',
      );
      expect(created).toMatchObject({
        id: 117,
        runnerSetting: { disableUpdate: true },
        labels: [{ type: 'System', name: 'my-set' }],
      });
    });

    it('refuses a scale set without name and labels before sending anything', async () => {
      await expect(client().createRunnerScaleSet({ runnerGroupId: 1 })).rejects.toBeInstanceOf(
        ScaleSetArgumentError,
      );
      expect(server.requests).toHaveLength(0);
    });

    it('shows text/plain and JSON error bodies per §7.1', async () => {
      route('POST', `${SVC}/runtime/runnerscalesets`, () => ({
        status: 400,
        headers: { 'content-type': 'text/plain' },
        body: 'name is invalid',
      }));
      route('DELETE', `${SVC}/runtime/runnerscalesets/5`, () => ({
        status: 400,
        body: { message: 'test error' },
      }));
      route('PATCH', `${SVC}/runtime/runnerscalesets/5`, () => ({ status: 500, body: '' }));
      const c = client({ retry: { max: 0 } });
      const created = await failure(c.createRunnerScaleSet({ name: 'x' }));
      expect(created.message).toContain('status="400 Bad Request"');
      expect(created.message).toContain('name is invalid');
      const deleted = await failure(c.deleteRunnerScaleSet(5));
      expect(deleted.message).toContain('test error');
      const updated = await failure(c.updateRunnerScaleSet(5, { name: 'y' }));
      expect(updated.message).toContain('unknown error');
      expect(server.hits('PATCH', `${SVC}/runtime/runnerscalesets/5`)[0]?.body).toBe(
        '{"name":"y","RunnerSetting":{},"createdOn":"0001-01-01T00:00:00Z"}',
      );
    });

    it.each([
      [
        'generateJitRunnerConfig',
        409,
        'GitHub.DistributedTask.WebApi.TaskAgentExistsException, X',
        RunnerExistsError,
      ],
      [
        'getRunner',
        404,
        'GitHub.DistributedTask.WebApi.TaskAgentNotFoundException',
        RunnerNotFoundError,
      ],
      [
        'removeRunner',
        400,
        'GitHub.DistributedTask.WebApi.JobStillRunningException',
        JobStillRunningError,
      ],
      [
        'createMessageSession',
        409,
        'GitHub.Actions.Runtime.WebApi.RunnerScaleSetSessionConflictException, GitHub.Actions.Runtime.WebApi',
        SessionConflictError,
      ],
      ['createMessageSession', 404, 'RunnerScaleSetNotFoundException', ScaleSetNotFoundError],
      [
        'refreshMessageSession',
        404,
        'GitHub.Actions.Runtime.WebApi.RunnerAdminException',
        SessionNotFoundError,
      ],
      [
        'deleteMessageSession',
        400,
        'GitHub.Actions.Runtime.WebApi.RunnerScaleSetSessionExpiredException',
        SessionNotFoundError,
      ],
    ] as const)('%s %i %s → %p', async (method, status, typeName, ErrorClass) => {
      server.on((r) =>
        r.path.startsWith('/tenant/')
          ? { status, headers: { ActivityId: 'act-1' }, body: { typeName, message: 'it happened' } }
          : undefined,
      );
      const c = client();
      const calls = {
        generateJitRunnerConfig: () => c.generateJitRunnerConfig(5, { name: 'runner-1' }),
        getRunner: () => c.getRunner(3),
        removeRunner: () => c.removeRunner(3),
        createMessageSession: () => c.createMessageSession(5, 'host'),
        refreshMessageSession: () => c.refreshMessageSession(5, SESSION_ID),
        deleteMessageSession: () => c.deleteMessageSession(5, SESSION_ID),
      };
      const err = await failure(calls[method]());
      expect(err).toBeInstanceOf(ErrorClass);
      expect(err).toMatchObject({
        status,
        typeName,
        exceptionMessage: 'it happened',
        activityId: 'act-1',
      });
      expect(err.message).toContain('it happened');
      expect(isRetryable(err)).toBe(false);
    });

    it('classifies rate limits after retries and keeps the last status', async () => {
      route('GET', `${SVC}/distributedtask/pools/0/agents/3`, () => ({
        status: 429,
        headers: { 'retry-after': '0' },
      }));
      route('GET', `${SVC}/distributedtask/pools/0/agents/4`, () => ({
        status: 403,
        headers: {
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 120),
        },
        body: { message: 'API rate limit exceeded' },
      }));
      const c = client({ retry: { max: 2, waitMinMs: 1, waitMaxMs: 1 } });
      const limited = await failure(c.getRunner(3));
      expect(limited).toBeInstanceOf(RateLimitedError);
      expect((limited as RateLimitedError).status).toBe(429);
      expect((limited as RateLimitedError).retryAfterMs).toBe(0);
      expect(server.hits('GET', '/agents/3')).toHaveLength(3);
      const forbidden = await failure(c.getRunner(4));
      expect(forbidden).toBeInstanceOf(RateLimitedError);
      expect((forbidden as RateLimitedError).retryAfterMs).toBeGreaterThan(100_000);
      expect(isRetryable(forbidden)).toBe(true);
      expect(server.hits('GET', '/agents/4')).toHaveLength(1);
    });

    it('looks up runners and removes them with 204', async () => {
      route('GET', `${SVC}/distributedtask/pools/0/agents`, (r) =>
        r.query.get('agentName') === 'runner-1'
          ? {
              status: 200,
              body: {
                count: 1,
                value: [{ id: 3, name: 'runner-1', runnerScaleSetId: 5, status: 'online' }],
              },
            }
          : { status: 200, body: { count: 0, value: [] } },
      );
      route('DELETE', `${SVC}/distributedtask/pools/0/agents/3`, () => ({ status: 204 }));
      const c = client();
      await expect(c.getRunnerByName('runner-1')).resolves.toEqual({
        id: 3,
        name: 'runner-1',
        runnerScaleSetId: 5,
        status: 'online',
      });
      await expect(c.getRunnerByName('ghost')).resolves.toBeNull();
      await expect(c.removeRunner(3)).resolves.toBeUndefined();
    });

    it('generates a JIT config without ever exposing it in errors', async () => {
      const JIT = 'eW91LXNob3VsZC1uZXZlci1zZWUtdGhpcy1qaXQtY29uZmln';
      let status = 200;
      route('POST', `${SVC}/runtime/runnerscalesets/5/generatejitconfig`, () => ({
        status,
        body: { runner: { id: 8, name: 'runner-1', runnerScaleSetId: 5 }, encodedJITConfig: JIT },
      }));
      const c = client();
      const config = await c.generateJitRunnerConfig(5, { name: 'runner-1' });
      expect(config.encodedJITConfig).toBe(JIT);
      expect(config.runner.id).toBe(8);
      expect(server.hits('POST', '/generatejitconfig')[0]?.body).toBe(
        '{"name":"runner-1","workFolder":""}',
      );
      status = 201;
      const err = await failure(
        c.generateJitRunnerConfig(5, { name: 'runner-1', workFolder: '/w' }),
      );
      expect((err as ScaleSetApiError).status).toBe(201);
      leakFree(err, JIT);
    });

    it('redacts the PAT and admin token even when a server echoes them', async () => {
      route('GET', `${SVC}/runtime/runnerscalesets/5`, (r) => ({
        status: 400,
        headers: { 'content-type': 'text/plain' },
        body: `bad request with ${r.headers.authorization ?? ''} and ${PAT}`,
      }));
      const err = await failure(client().getRunnerScaleSet(5));
      expect(err.message).toContain('bad request with Bearer [REDACTED]');
      const adminToken =
        server.hits('GET', '/runnerscalesets/5')[0]?.headers.authorization?.slice(7) ?? 'x';
      leakFree(err, PAT, adminToken);
    });
  });

  it('sends scale_set_id once set', async () => {
    route('DELETE', `${SVC}/runtime/runnerscalesets/5`, () => ({ status: 204 }));
    const c = client();
    c.setScaleSetId(5);
    await c.deleteRunnerScaleSet(5);
    const ua = server.hits('DELETE', '/runnerscalesets/5')[0]?.headers['user-agent'] ?? '';
    expect(JSON.parse(ua)).toMatchObject({ scale_set_id: 5 });
  });
});

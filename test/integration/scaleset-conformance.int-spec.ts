import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  InvalidClientOptionsError,
  InvalidConfigUrlError,
  isRetryable,
  JobStillRunningError,
  MessageQueueTokenExpiredError,
  NIL_UUID,
  RateLimitedError,
  RunnerExistsError,
  RunnerGroupNotFoundError,
  RunnerNotFoundError,
  ScaleSetApiError,
  ScaleSetArgumentError,
  ScaleSetClient,
  ScaleSetNotFoundError,
  SessionConflictError,
  SessionNotFoundError,
  ZERO_TIME,
  type MessageSessionClient,
  type RunnerScaleSet,
} from '@app/scaleset';
import {
  decodeFakeJitConfig,
  ENDPOINT_NAMES,
  runFakeRunner,
  type FakeGitHub,
  type FakeGitHubOptions,
  type RecordedRequest,
} from '@app/testing';
import {
  bearer,
  collectJobs,
  Conformance,
  errorForms,
  hits,
  jwtClaims,
  MANAGEMENT_ENDPOINTS,
  nextMessage,
  only,
  ordered,
  POLL_TIMEOUT_MS,
  trace,
} from './support/conformance.harness';
import { createTestCertificates, startTlsProxy } from './support/tls-proxy';

// Conformance of the real client (@app/scaleset) against the real fake GitHub service
// (@app/testing) over loopback: every endpoint of §4.1–§4.16, every error path of §7, and
// each numbered behaviour of §11.1 (docs/scaleset-protocol.md). Each §11.1 describe adds its
// number to a registry when it runs; the last test checks that 1..31 are all there, and that
// no secret reached an error or a log line of the whole suite.

const h = new Conformance();
const OWNER = 'conformance-host';
const ZERO_STATS = {
  totalAvailableJobs: 0,
  totalAcquiredJobs: 0,
  totalAssignedJobs: 0,
  totalRunningJobs: 0,
  totalRegisteredRunners: 0,
  totalBusyRunners: 0,
  totalIdleRunners: 0,
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let counter = 0;
function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A describe block for one numbered behaviour of §11.1, registered when it runs. */
function behaviour(n: number, title: string, body: () => void): void {
  describe(`§11.1.${n} ${title}`, () => {
    beforeAll(() => {
      h.covered.add(n);
    });
    body();
  });
}

/** One fake per describe block; every test starts with no faults, no recorded requests. */
function useFake(options: FakeGitHubOptions = {}): () => FakeGitHub {
  let fake: FakeGitHub | undefined;
  beforeAll(async () => {
    fake = await h.fake(options);
  });
  beforeEach(() => {
    if (fake !== undefined) {
      h.reset(fake);
      fake.setBehaviour({
        mode: options.mode ?? 'assign',
        pollTimeoutMs: options.pollTimeoutMs ?? POLL_TIMEOUT_MS,
        reassignAfterMs: null,
        dropJobCompleted: false,
        duplicateMessages: 0,
        reorderMessages: 0,
        bom: options.bom ?? false,
      });
    }
  });
  afterAll(async () => {
    if (fake !== undefined) {
      await h.stopFake(fake);
    }
  });
  return () => {
    if (fake === undefined) {
      throw new Error('the fake is not started');
    }
    return fake;
  };
}

afterEach(async () => {
  await h.closeClients();
});

afterAll(async () => {
  await h.stopAll();
});

/** Narrows a caught error to the API error type, failing the test otherwise. */
function api(err: Error): ScaleSetApiError {
  expect(err).toBeInstanceOf(ScaleSetApiError);
  return err as ScaleSetApiError;
}

async function newScaleSet(client: ScaleSetClient, name = unique('set')): Promise<RunnerScaleSet> {
  const created = await client.createRunnerScaleSet({ name, runnerGroupId: 1 });
  client.setScaleSetId(created.id);
  return created;
}

/** Raw HTTP to the fake with the admin token the client was given (for leniency checks). */
async function rawAdmin(
  fake: FakeGitHub,
  method: string,
  pathAndQuery: string,
  init: { body?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  const admin = fake.requests.find((r) => MANAGEMENT_ENDPOINTS.includes(r.endpoint as never));
  if (admin === undefined) {
    throw new Error('no management request recorded yet: make one with the client first');
  }
  return fetch(`${fake.origin}/tenant/123/${pathAndQuery}`, {
    method,
    headers: { authorization: admin.headers.authorization ?? '', ...init.headers },
    ...(init.body === undefined ? {} : { body: init.body }),
  });
}

function jsonBody(request: RecordedRequest): Record<string, unknown> {
  return JSON.parse(request.body) as Record<string, unknown>;
}

/** Calls every endpoint of §4.1–§4.16 once through the client. */
async function exerciseAllEndpoints(client: ScaleSetClient, fake: FakeGitHub, name: string) {
  const group = await client.getRunnerGroupByName('Default');
  const created = await client.createRunnerScaleSet({
    name,
    runnerGroupId: group.id,
    runnerSetting: { disableUpdate: true },
  });
  client.setScaleSetId(created.id);
  const byName = await client.getRunnerScaleSetByName(group.id, name);
  const byId = await client.getRunnerScaleSet(created.id);
  const updated = await client.updateRunnerScaleSet(created.id, {
    labels: [{ name }, { name: `${name}-extra` }],
  });
  const jit = await client.generateJitRunnerConfig(created.id, { name: `${name}-runner` });
  h.jit(jit);
  const runner = await client.getRunner(jit.runner.id);
  const runnerByName = await client.getRunnerByName(jit.runner.name);
  const session = await client.createMessageSessionClient(created.id, OWNER);
  const idle = await session.getMessage(0, 3);
  const [job] = fake.queueJobs(1, { labels: [name] });
  if (job === undefined) {
    throw new Error('no job queued');
  }
  const message = await nextMessage(session, 0, 3);
  const acquired = await session.acquireJobs([job.runnerRequestId]);
  await session.deleteMessage(message.messageId);
  const refreshed = await client.refreshMessageSession(created.id, session.session.sessionId);
  fake.completeJob(job.jobId);
  await client.removeRunner(jit.runner.id);
  await session.close();
  await client.deleteRunnerScaleSet(created.id);
  return {
    group,
    created,
    byName,
    byId,
    updated,
    jit,
    runner,
    runnerByName,
    session,
    idle,
    job,
    message,
    acquired,
    refreshed,
  };
}

// ---- §11.1 numbered behaviours ----------------------------------------------------------

behaviour(1, 'registration token', () => {
  const fake = useFake();

  it.each([
    ['org', '/api/v3/orgs/test-org/actions/runners/registration-token'],
    ['repo', '/api/v3/repos/test-org/test-repo/actions/runners/registration-token'],
    ['enterprise', '/api/v3/enterprises/test-ent/actions/runners/registration-token'],
  ] as const)(
    '%s scope: POST %s with Bearer PAT → 201, then the chain continues',
    async (scope, path) => {
      const client = h.client(fake(), { configUrl: fake().configUrl(scope) });
      await expect(client.getRunnerGroupByName('Default')).resolves.toMatchObject({ id: 1 });
      const request = only(fake(), 'registrationToken');
      expect(request).toMatchObject({ method: 'POST', path, status: 201, body: '' });
      expect(request.headers.authorization).toBe(`Bearer ${fake().pat}`);
      expect(request.headers['content-type']).toBe('application/vnd.github.v3+json');
      expect(trace(fake())).toEqual([
        'registrationToken 201',
        'runnerRegistration 200',
        'getRunnerGroup 200',
      ]);
    },
  );

  it('a wrong PAT gets 401 Bad credentials: typed error with the GitHub request id, not retried', async () => {
    const wrong = `ghp_${randomUUID().replaceAll('-', '')}`;
    h.secret(wrong, 'PAT');
    const err = api(
      await h.failure(
        h.client(fake(), { auth: { kind: 'pat', token: wrong } }).getRunnerGroupByName('Default'),
      ),
    );
    expect(err.status).toBe(401);
    expect(err.githubRequestId).toMatch(/^[0-9A-F]{16}$/);
    expect(err.message).toContain('failed to get runner registration token');
    expect(err.message).toContain('Bad credentials');
    expect(err.message).toContain(`github_request_id="${err.githubRequestId ?? ''}"`);
    expect(trace(fake())).toEqual(['registrationToken 401']);
  });

  it('a 201 without token is a decode error, and the chain stops there', async () => {
    fake().injectFault({
      endpoint: 'registrationToken',
      status: 201,
      body: JSON.stringify({ expires_at: '2030-01-01T00:00:00Z' }),
    });
    const err = api(await h.failure(h.client(fake()).getRunnerGroupByName('Default')));
    expect(err.status).toBe(201);
    expect(err.message).toContain('missing token');
    expect(trace(fake())).toEqual(['registrationToken 201']);
  });
});

behaviour(2, 'App installation token', () => {
  const fake = useFake();

  it('mints an RS256 JWT (iss = client id, ≤ 10 min), gets a ghs_ token with 201 and uses it as Bearer', async () => {
    await expect(h.appClient(fake()).getRunnerGroupByName('Default')).resolves.toMatchObject({
      id: 1,
    });
    expect(trace(fake())).toEqual([
      'installationToken 201',
      'registrationToken 201',
      'runnerRegistration 200',
      'getRunnerGroup 200',
    ]);
    const install = only(fake(), 'installationToken');
    expect(install.path).toBe(
      `/api/v3/app/installations/${fake().app.installationId}/access_tokens`,
    );
    expect(install.headers['content-type']).toBe('application/vnd.github+json');
    const jwt = bearer(install);
    const header = JSON.parse(Buffer.from(jwt.split('.')[0] ?? '', 'base64url').toString()) as {
      alg: string;
    };
    const claims = jwtClaims(jwt);
    expect(header.alg).toBe('RS256');
    expect(claims.iss).toBe(fake().app.clientId);
    const { iat, exp } = claims as { iat: number; exp: number };
    expect(exp - iat).toBeLessThanOrEqual(600);
    expect(iat).toBeLessThanOrEqual(Date.now() / 1000);
    expect(bearer(only(fake(), 'registrationToken'))).toMatch(/^ghs_/);
  });

  it('mints a new installation token for every admin-token refresh (never cached)', async () => {
    const shortLived = await h.fake({ adminTokenTtlSec: 30 });
    const client = h.appClient(shortLived);
    await client.getRunnerGroupByName('Default');
    await client.getRunnerGroupByName('Default');
    const tokens = shortLived.requestsFor('registrationToken').map(bearer);
    expect(tokens).toHaveLength(2);
    expect(new Set(tokens).size).toBe(2);
    expect(hits(shortLived, 'installationToken')).toBe(2);
    await h.stopFake(shortLived);
  });

  it('an unknown installation → 404 typed error; a foreign key → 401; no registration token asked', async () => {
    const wrongInstallation = api(
      await h.failure(
        h
          .appClient(fake(), {
            auth: {
              kind: 'app',
              clientId: fake().app.clientId,
              installationId: 1,
              privateKey: fake().app.privateKey,
            },
          })
          .getRunnerGroupByName('Default'),
      ),
    );
    expect(wrongInstallation.status).toBe(404);
    expect(wrongInstallation.message).toContain('failed to get access token for GitHub App auth');

    const other = await h.fake();
    const foreignKey = api(
      await h.failure(
        h
          .appClient(fake(), {
            auth: {
              kind: 'app',
              clientId: fake().app.clientId,
              installationId: fake().app.installationId,
              privateKey: other.app.privateKey,
            },
          })
          .getRunnerGroupByName('Default'),
      ),
    );
    await h.stopFake(other);
    expect(foreignKey.status).toBe(401);
    expect(trace(fake())).toEqual(['installationToken 404', 'installationToken 401']);
  });
});

behaviour(3, 'actions/runner-registration', () => {
  const fake = useFake();

  it('sends RemoteAuth <registration token> and {"url","runner_event"} + newline; admin calls use the JWT', async () => {
    const client = h.client(fake(), { configUrl: `${fake().configUrl('repo')}/` });
    await client.getRunnerGroupByName('Default');
    const registration = only(fake(), 'runnerRegistration');
    expect(registration.path).toBe('/api/v3/actions/runner-registration');
    expect(registration.headers['content-type']).toBe('application/json');
    expect(registration.headers.authorization).toMatch(/^RemoteAuth \S+$/);
    expect(registration.headers.authorization).not.toContain(fake().pat);
    // The trailing slash of the config URL never reaches the server (§1.1).
    expect(registration.body).toBe(
      `{"url":"${fake().configUrl('repo')}","runner_event":"register"}\n`,
    );
    const admin = bearer(only(fake(), 'getRunnerGroup'));
    expect(admin.split('.')).toHaveLength(3);
    expect(jwtClaims(admin).exp).toEqual(expect.any(Number));
    expect(only(fake(), 'getRunnerGroup').path).toBe('/tenant/123/_apis/runtime/runnergroups/');
  });
});

behaviour(4, 'runner-registration flakiness (401/403 retry rule of §2.4)', () => {
  const fake = useFake();

  it('401 four times in a row, then success: the call still succeeds (5 attempts)', async () => {
    fake().injectFault({ endpoint: 'runnerRegistration', status: 401, times: 4 });
    await expect(h.client(fake()).getRunnerGroupByName('Default')).resolves.toMatchObject({
      id: 1,
    });
    expect(trace(fake(), ['runnerRegistration'])).toEqual([
      ...Array<string>(4).fill('runnerRegistration 401'),
      'runnerRegistration 200',
    ]);
  });

  it('403 is retried the same way', async () => {
    fake().injectFault({ endpoint: 'runnerRegistration', status: 403, times: 2 });
    await h.client(fake()).getRunnerGroupByName('Default');
    expect(hits(fake(), 'runnerRegistration')).toBe(3);
  });

  it('always 401: fails after RetryMax+1 attempts with status and body; the next call recovers', async () => {
    const client = h.client(fake());
    fake().injectFault({
      endpoint: 'runnerRegistration',
      status: 401,
      times: 5,
      body: '{"message":"registration token not accepted yet"}',
    });
    const err = api(await h.failure(client.getRunnerGroupByName('Default')));
    expect(err.status).toBe(401);
    expect(err.attempts).toBe(5);
    expect(err.message).toContain('registration token not accepted yet');
    expect(hits(fake(), 'runnerRegistration')).toBe(5);
    expect(hits(fake(), 'getRunnerGroup')).toBe(0);
    await expect(client.getRunnerGroupByName('Default')).resolves.toMatchObject({ id: 1 });
  });

  it('401 on other endpoints is not retried (only runner-registration has the rule)', async () => {
    const client = h.client(fake());
    await client.getRunnerGroupByName('Default');
    fake().injectFault({ endpoint: 'getRunnerGroup', status: 401, times: 5 });
    const err = api(await h.failure(client.getRunnerGroupByName('Default')));
    expect(err.status).toBe(401);
    expect(hits(fake(), 'getRunnerGroup')).toBe(2);
  });
});

behaviour(5, 'admin-token refresh', () => {
  const fake = useFake();

  it('a token valid for 10 min is fetched once for many calls', async () => {
    const client = h.client(fake());
    for (let i = 0; i < 3; i++) {
      await client.getRunnerGroupByName('Default');
    }
    expect(trace(fake())).toEqual([
      'registrationToken 201',
      'runnerRegistration 200',
      ...Array<string>(3).fill('getRunnerGroup 200'),
    ]);
  });

  it('a token living ≤ 60 s triggers the whole chain before every management call', async () => {
    const shortLived = await h.fake({ adminTokenTtlSec: 30 });
    const client = h.client(shortLived);
    for (let i = 0; i < 3; i++) {
      await client.getRunnerGroupByName('Default');
    }
    const chain = ['registrationToken 201', 'runnerRegistration 200', 'getRunnerGroup 200'];
    expect(trace(shortLived)).toEqual([...chain, ...chain, ...chain]);
    const admins = shortLived.requestsFor('getRunnerGroup').map(bearer);
    expect(new Set(admins).size).toBe(3);

    // A failed refresh fails the call; the next call runs the chain again.
    h.reset(shortLived);
    shortLived.injectFault({ endpoint: 'registrationToken', status: 500, times: 5 });
    const err = api(await h.failure(client.getRunnerGroupByName('Default')));
    expect(err.status).toBe(500);
    await client.getRunnerGroupByName('Default');
    expect(trace(shortLived)).toEqual([
      ...Array<string>(5).fill('registrationToken 500'),
      ...chain,
    ]);
    await h.stopFake(shortLived);
  });
});

behaviour(6, 'api-version, headers and routing of management calls', () => {
  const fake = useFake();

  it('every management call carries api-version=6.0-preview, JSON content type and the admin Bearer', async () => {
    const client = h.client(fake());
    const done = await exerciseAllEndpoints(client, fake(), unique('apiv'));
    const management = fake().requests.filter((r) =>
      MANAGEMENT_ENDPOINTS.includes(r.endpoint as never),
    );
    expect(new Set(management.map((r) => r.endpoint))).toEqual(new Set(MANAGEMENT_ENDPOINTS));
    const admin = bearer(only(fake(), 'getRunnerGroup'));
    for (const request of management) {
      expect([request.endpoint, request.query['api-version']]).toEqual([
        request.endpoint,
        '6.0-preview',
      ]);
      expect([request.endpoint, request.headers['content-type']]).toEqual([
        request.endpoint,
        'application/json',
      ]);
      expect([request.endpoint, bearer(request)]).toEqual([request.endpoint, admin]);
    }
    const acquire = only(fake(), 'acquireJobs');
    expect(acquire.query['api-version']).toBe('6.0-preview');
    expect(bearer(acquire)).toBe(done.session.session.messageQueueAccessToken);
    expect(bearer(acquire)).not.toBe(admin);
    // Queue calls get no api-version (§3.2).
    for (const request of [
      ...fake().requestsFor('getMessage'),
      ...fake().requestsFor('deleteMessage'),
    ]) {
      expect(request.query['api-version']).toBeUndefined();
    }
  });

  it('the service answers whatever the order of query parameters; a missing api-version is refused', async () => {
    const client = h.client(fake());
    await client.getRunnerGroupByName('Default');
    const sorted = await rawAdmin(
      fake(),
      'GET',
      '_apis/runtime/runnergroups/?api-version=6.0-preview&groupName=Default',
    );
    const reversed = await rawAdmin(
      fake(),
      'GET',
      '_apis/runtime/runnergroups/?groupName=Default&api-version=6.0-preview',
    );
    const missing = await rawAdmin(fake(), 'GET', '_apis/runtime/runnergroups/?groupName=Default');
    expect([sorted.status, reversed.status, missing.status]).toEqual([200, 200, 400]);
    expect(((await missing.json()) as { typeName: string }).typeName).toContain('ApiVersion');
    // The client itself sends the keys sorted (§3.2 step 3).
    const first = fake().requestsFor('getRunnerGroup')[0];
    expect(Object.keys(first?.query ?? {})).toEqual(['api-version', 'groupName']);
  });
});

behaviour(7, 'success status codes exactly as in §4', () => {
  const fake = useFake();

  it('create 200, JIT 200, session 200, refresh 200, acquire 200, deletes 204', async () => {
    const client = h.client(fake());
    await exerciseAllEndpoints(client, fake(), unique('status'));
    const status = (endpoint: Parameters<typeof only>[1]): number => only(fake(), endpoint).status;
    expect({
      createScaleSet: status('createScaleSet'),
      generateJitConfig: status('generateJitConfig'),
      createSession: status('createSession'),
      refreshSession: status('refreshSession'),
      acquireJobs: status('acquireJobs'),
      deleteMessage: status('deleteMessage'),
      removeRunner: status('removeRunner'),
      deleteSession: status('deleteSession'),
      deleteScaleSet: status('deleteScaleSet'),
    }).toEqual({
      createScaleSet: 200,
      generateJitConfig: 200,
      createSession: 200,
      refreshSession: 200,
      acquireJobs: 200,
      deleteMessage: 204,
      removeRunner: 204,
      deleteSession: 204,
      deleteScaleSet: 204,
    });
  });

  it('a 200 on delete message is an error, as is a 201 on create scale set', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    fake().queueJobs(1, { labels: [set.name] });
    const message = await nextMessage(session, 0);
    fake().injectFault({ endpoint: 'deleteMessage', status: 200, body: '{}' });
    const ack = api(await h.failure(session.deleteMessage(message.messageId)));
    expect(ack.status).toBe(200);
    expect(ack.message).toContain('failed to delete message');

    fake().injectFault({ endpoint: 'createScaleSet', status: 201, body: JSON.stringify(set) });
    const create = api(await h.failure(client.createRunnerScaleSet({ name: unique('c201') })));
    expect(create.status).toBe(201);
    await session.close();
  });
});

behaviour(8, 'list semantics by count', () => {
  const fake = useFake();

  it('scale set by name: count 0 → null, count 1 → the set, count ≥ 2 → error with ActivityId', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client, unique('odd&name+x y'));
    await expect(client.getRunnerScaleSetByName(1, set.name)).resolves.toMatchObject({
      id: set.id,
    });
    await expect(client.getRunnerScaleSetByName(1, unique('absent'))).resolves.toBeNull();
    // count 0 wins even when value is not empty (an SDK test).
    fake().injectFault({
      endpoint: 'getScaleSetByName',
      status: 200,
      body: JSON.stringify({ count: 0, value: [set] }),
    });
    await expect(client.getRunnerScaleSetByName(1, set.name)).resolves.toBeNull();
    fake().injectFault({
      endpoint: 'getScaleSetByName',
      status: 200,
      body: JSON.stringify({ count: 2, value: [set, set] }),
      headers: { ActivityId: 'activity-multiple-sets' },
    });
    const err = api(await h.failure(client.getRunnerScaleSetByName(1, set.name)));
    expect(err.message).toContain('multiple runner scale sets found with name');
    expect(err.activityId).toBe('activity-multiple-sets');
    expect(err.message).toContain('activity_id="activity-multiple-sets"');
    // Names are escaped properly (the SDK would mangle & and +).
    expect(fake().requestsFor('getScaleSetByName')[0]?.query.name).toBe(set.name);
  });

  it('runner group: count 0 → RunnerGroupNotFoundError, count 2 → error', async () => {
    const client = h.client(fake());
    const none = await h.failure(client.getRunnerGroupByName('No Such Group'));
    expect(none).toBeInstanceOf(RunnerGroupNotFoundError);
    expect(none.message).toContain('no runner group found with name "No Such Group"');
    const group = { id: 1, name: 'Default', size: 0, isDefaultGroup: true };
    fake().injectFault({
      endpoint: 'getRunnerGroup',
      status: 200,
      body: JSON.stringify({ count: 2, value: [group, group] }),
    });
    const many = api(await h.failure(client.getRunnerGroupByName('Default')));
    expect(many).not.toBeInstanceOf(RunnerGroupNotFoundError);
    expect(many.message).toContain('multiple runner group found with name "Default"');
    const added = fake().addRunnerGroup(unique('Group'));
    await expect(client.getRunnerGroupByName(added.name)).resolves.toEqual(added);
  });

  it('runner by name: count 0 → null, count 2 → error', async () => {
    const client = h.client(fake());
    await expect(client.getRunnerByName(unique('nobody'))).resolves.toBeNull();
    const runner = { id: 1, name: 'twin', runnerScaleSetId: 1 };
    fake().injectFault({
      endpoint: 'getRunnerByName',
      status: 200,
      body: JSON.stringify({ count: 2, value: [runner, runner] }),
    });
    const err = api(await h.failure(client.getRunnerByName('twin')));
    expect(err.message).toContain('multiple runners found with name "twin"');
  });
});

behaviour(9, 'get scale set by id', () => {
  const fake = useFake();

  it('returns the object, null for a null body, ScaleSetNotFoundError for 404', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    await expect(client.getRunnerScaleSet(set.id)).resolves.toMatchObject({
      id: set.id,
      name: set.name,
    });
    fake().injectFault({ endpoint: 'getScaleSet', status: 200, body: 'null' });
    await expect(client.getRunnerScaleSet(set.id)).resolves.toBeNull();
    const err = api(await h.failure(client.getRunnerScaleSet(987_654)));
    expect(err).toBeInstanceOf(ScaleSetNotFoundError);
    expect(err.status).toBe(404);
    expect(err.typeName).toContain('RunnerScaleSetNotFoundException');
    expect(err.activityId).toMatch(UUID);
  });
});

behaviour(10, 'create scale set', () => {
  const fake = useFake();

  it('defaults labels to the name, sends RunnerSetting and the zero createdOn; the server assigns the id', async () => {
    const client = h.client(fake());
    const name = unique('create');
    const created = await client.createRunnerScaleSet({
      name,
      runnerGroupId: 1,
      runnerSetting: { disableUpdate: true },
    });
    const sent = jsonBody(only(fake(), 'createScaleSet'));
    expect(sent).toEqual({
      name,
      runnerGroupId: 1,
      labels: [{ type: 'System', name }],
      RunnerSetting: { disableUpdate: true },
      createdOn: ZERO_TIME,
    });
    expect(Object.keys(sent)).not.toContain('id');
    expect(created.id).toBeGreaterThan(0);
    expect(created).toMatchObject({
      name,
      runnerGroupId: 1,
      runnerGroupName: 'Default',
      labels: [{ type: 'System', name }],
      runnerSetting: { disableUpdate: true },
    });
    expect(created.createdOn).not.toBe(ZERO_TIME);
  });

  it('labels without a type become System; no name and no labels fails before sending', async () => {
    const client = h.client(fake());
    const name = unique('labels');
    const created = await client.createRunnerScaleSet({
      name,
      labels: [{ name: 'linux' }, { type: 'System', name: 'x64' }],
    });
    expect(jsonBody(only(fake(), 'createScaleSet')).labels).toEqual([
      { type: 'System', name: 'linux' },
      { type: 'System', name: 'x64' },
    ]);
    expect(created.labels.map((l) => l.name)).toEqual(['linux', 'x64']);
    const before = fake().requests.length;
    const err = await h.failure(client.createRunnerScaleSet({ runnerGroupId: 1 }));
    expect(err).toBeInstanceOf(ScaleSetArgumentError);
    expect(err.message).toContain('runner scale set must have a name or at least one label');
    expect(fake().requests).toHaveLength(before);
  });

  it('a duplicate name in the group is a generic ScaleSetApiError with status, activity id and type name', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const err = api(
      await h.failure(client.createRunnerScaleSet({ name: set.name, runnerGroupId: 1 })),
    );
    expect(err.constructor).toBe(ScaleSetApiError);
    expect(err.status).toBe(409);
    expect(err.activityId).toMatch(UUID);
    expect(err.typeName).toContain('RunnerScaleSetExistsException');
    expect(err.exceptionMessage).toContain(set.name);
    expect(isRetryable(err)).toBe(false);
  });
});

behaviour(11, 'update scale set', () => {
  const fake = useFake();

  it('PATCHes a partial body and gets the full updated scale set back', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const group = fake().addRunnerGroup(unique('Builders'));
    const renamed = unique('renamed');
    const updated = await client.updateRunnerScaleSet(set.id, {
      name: renamed,
      runnerGroupId: group.id,
    });
    const request = only(fake(), 'updateScaleSet');
    expect(request.method).toBe('PATCH');
    expect(request.path).toBe(`/tenant/123/_apis/runtime/runnerscalesets/${set.id}`);
    expect(jsonBody(request)).toEqual({
      name: renamed,
      runnerGroupId: group.id,
      RunnerSetting: {},
      createdOn: ZERO_TIME,
    });
    expect(updated).toMatchObject({
      id: set.id,
      name: renamed,
      runnerGroupId: group.id,
      runnerGroupName: group.name,
      labels: set.labels,
    });
  });

  it('an unknown runner group or scale set is refused with the service exception', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const badGroup = api(
      await h.failure(client.updateRunnerScaleSet(set.id, { runnerGroupId: 4242 })),
    );
    expect(badGroup.constructor).toBe(ScaleSetApiError);
    expect(badGroup.status).toBe(404);
    expect(badGroup.isException('RunnerGroupNotFoundException')).toBe(true);
    const gone = await h.failure(client.updateRunnerScaleSet(999_999, { name: 'x' }));
    expect(gone).toBeInstanceOf(ScaleSetNotFoundError);
  });
});

behaviour(12, 'delete scale set', () => {
  const fake = useFake();

  it('DELETE …/runnerscalesets/{id}?api-version → 204; the set is gone', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    await client.deleteRunnerScaleSet(set.id);
    const request = only(fake(), 'deleteScaleSet');
    expect(request).toMatchObject({
      method: 'DELETE',
      path: `/tenant/123/_apis/runtime/runnerscalesets/${set.id}`,
      query: { 'api-version': '6.0-preview' },
      status: 204,
      body: '',
    });
    expect(await h.failure(client.getRunnerScaleSet(set.id))).toBeInstanceOf(ScaleSetNotFoundError);
  });

  it('a 400 {"message"} surfaces the message in the error', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    fake().injectFault({
      endpoint: 'deleteScaleSet',
      status: 400,
      body: '{"message":"scale set still has runners: test error"}',
    });
    const err = api(await h.failure(client.deleteRunnerScaleSet(set.id)));
    expect(err.status).toBe(400);
    expect(err.message).toContain('scale set still has runners: test error');
    expect(err.message).toContain('status="400 Bad Request"');
  });
});

behaviour(13, 'JIT config', () => {
  const fake = useFake();

  it('POST generatejitconfig {name, workFolder} → runner + encodedJITConfig (kept out of JSON)', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const name = unique('runner');
    const config = await client.generateJitRunnerConfig(set.id, { name });
    const encoded = h.jit(config);
    const withFolder = await client.generateJitRunnerConfig(set.id, {
      name: unique('runner'),
      workFolder: '/work',
    });
    h.jit(withFolder);
    expect(
      fake()
        .requestsFor('generateJitConfig')
        .map((r) => r.body),
    ).toEqual([
      JSON.stringify({ name, workFolder: '' }),
      JSON.stringify({ name: withFolder.runner.name, workFolder: '/work' }),
    ]);
    expect(config.runner).toMatchObject({ name, runnerScaleSetId: set.id });
    expect(config.runner.id).toBeGreaterThan(0);
    expect(decodeFakeJitConfig(encoded)).toMatchObject({
      runnerName: name,
      scaleSetId: String(set.id),
    });
    expect(JSON.stringify(config)).not.toContain(encoded);
    expect(
      fake()
        .runners(set.id)
        .map((r) => r.name),
    ).toEqual([name, withFolder.runner.name]);
  });

  it('a name already registered → 409 AgentExistsException → RunnerExistsError', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const name = unique('twice');
    h.jit(await client.generateJitRunnerConfig(set.id, { name }));
    const err = api(await h.failure(client.generateJitRunnerConfig(set.id, { name })));
    expect(err).toBeInstanceOf(RunnerExistsError);
    expect(err.status).toBe(409);
    expect(err.typeName).toContain('AgentExistsException');
    expect(err.message).toContain('runner exists');
    expect(only(fake(), 'createScaleSet').status).toBe(200);
    expect(trace(fake(), ['generateJitConfig'])).toEqual([
      'generateJitConfig 200',
      'generateJitConfig 409',
    ]);
  });

  it('JIT for an unknown scale set → ScaleSetNotFoundError', async () => {
    const err = await h.failure(
      h.client(fake()).generateJitRunnerConfig(999_999, { name: 'x-runner' }),
    );
    expect(err).toBeInstanceOf(ScaleSetNotFoundError);
  });
});

behaviour(14, 'remove runner and get runner', () => {
  const fake = useFake();

  it('get by id / by name; remove → 204 for existing and unknown runners; gone → RunnerNotFoundError', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const config = await client.generateJitRunnerConfig(set.id, { name: unique('r') });
    h.jit(config);
    await expect(client.getRunner(config.runner.id)).resolves.toMatchObject({
      id: config.runner.id,
      name: config.runner.name,
      runnerScaleSetId: set.id,
      status: 'offline',
      busy: false,
    });
    await expect(client.getRunnerByName(config.runner.name)).resolves.toMatchObject({
      id: config.runner.id,
    });
    await client.removeRunner(config.runner.id);
    await client.removeRunner(config.runner.id);
    await client.removeRunner(987_654_321);
    expect(trace(fake(), ['removeRunner'])).toEqual(Array<string>(3).fill('removeRunner 204'));
    const err = api(await h.failure(client.getRunner(config.runner.id)));
    expect(err).toBeInstanceOf(RunnerNotFoundError);
    expect(err.status).toBe(404);
    expect(err.typeName).toContain('AgentNotFoundException');
    expect(err.message).toContain('runner not found');
    await expect(client.getRunnerByName(config.runner.name)).resolves.toBeNull();
  });

  it('a busy runner → 400 JobStillRunningException → JobStillRunningError; after its job it is gone', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const config = await client.generateJitRunnerConfig(set.id, { name: unique('busy') });
    h.jit(config);
    const [job] = fake().queueJobs(1, { labels: [set.name] });
    fake().assignJob(job?.jobId ?? '');
    fake().startJob(job?.jobId ?? '', config.runner.name);
    await expect(client.getRunner(config.runner.id)).resolves.toMatchObject({
      busy: true,
      status: 'online',
    });
    const err = api(await h.failure(client.removeRunner(config.runner.id)));
    expect(err).toBeInstanceOf(JobStillRunningError);
    expect(err.status).toBe(400);
    expect(err.typeName).toContain('JobStillRunningException');
    expect(err.message).toContain('job still running');
    expect(fake().runners(set.id)).toHaveLength(1);
    fake().completeJob(job?.jobId ?? '');
    expect(await h.failure(client.getRunner(config.runner.id))).toBeInstanceOf(RunnerNotFoundError);
  });
});

behaviour(15, 'session create', () => {
  const fake = useFake();

  it('200 with sessionId (non-nil UUID), owner, scale set, queue URL and token, statistics', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSession(set.id, OWNER);
    expect(session.sessionId).toMatch(UUID);
    expect(session.sessionId).not.toBe(NIL_UUID);
    expect(session).toMatchObject({
      ownerName: OWNER,
      runnerScaleSet: { id: set.id, name: set.name },
      messageQueueUrl: `${fake().origin}/scalesets/message`,
      statistics: ZERO_STATS,
    });
    expect(session.messageQueueAccessToken).not.toBe('');
    expect(jsonBody(only(fake(), 'createSession'))).toEqual({
      sessionId: NIL_UUID,
      ownerName: OWNER,
    });
    await client.deleteMessageSession(set.id, session.sessionId);
  });

  it('a second session while one is active → 409 SessionConflictError; an unknown scale set → ScaleSetNotFoundError', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const first = await client.createMessageSessionClient(set.id, OWNER);
    const conflict = api(await h.failure(client.createMessageSessionClient(set.id, 'other-host')));
    expect(conflict).toBeInstanceOf(SessionConflictError);
    expect(conflict.status).toBe(409);
    expect(conflict.typeName).toContain('RunnerScaleSetSessionConflictException');
    expect(conflict.exceptionMessage).toContain('already has an active session');
    const missing = api(await h.failure(client.createMessageSession(999_999, OWNER)));
    expect(missing).toBeInstanceOf(ScaleSetNotFoundError);
    expect(missing.status).toBe(404);
    expect(
      fake()
        .sessions()
        .map((s) => s.sessionId),
    ).toEqual([first.session.sessionId]);
    await first.close();
  });
});

behaviour(16, 'session refresh', () => {
  const fake = useFake();

  it('PATCH → 200 with the full session and a new queue token; the old token then gets 401', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSession(set.id, OWNER);
    const refreshed = await client.refreshMessageSession(set.id, session.sessionId);
    const request = only(fake(), 'refreshSession');
    expect(request).toMatchObject({
      method: 'PATCH',
      path: `/tenant/123/_apis/runtime/runnerscalesets/${set.id}/sessions/${session.sessionId}`,
      body: '',
      status: 200,
    });
    expect(refreshed).toMatchObject({
      sessionId: session.sessionId,
      ownerName: OWNER,
      messageQueueUrl: session.messageQueueUrl,
      runnerScaleSet: { id: set.id },
    });
    expect(refreshed.messageQueueAccessToken).not.toBe(session.messageQueueAccessToken);
    const stale = await fetch(session.messageQueueUrl, {
      headers: {
        authorization: `Bearer ${session.messageQueueAccessToken}`,
        'x-scalesetmaxcapacity': '1',
      },
    });
    expect(stale.status).toBe(401);
    await client.deleteMessageSession(set.id, session.sessionId);
  });

  it('an unknown (evicted) session → 404 RunnerAdminException → SessionNotFoundError', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const err = api(await h.failure(client.refreshMessageSession(set.id, randomUUID())));
    expect(err).toBeInstanceOf(SessionNotFoundError);
    expect(err.status).toBe(404);
    expect(err.typeName).toContain('RunnerAdminException');
  });
});

behaviour(17, 'session delete', () => {
  const fake = useFake();

  it('DELETE → 204; again → 400 SessionExpired → SessionNotFoundError; the scale set is free again', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    await session.close();
    expect(only(fake(), 'deleteSession')).toMatchObject({
      method: 'DELETE',
      path: `/tenant/123/_apis/runtime/runnerscalesets/${set.id}/sessions/${session.session.sessionId}`,
      status: 204,
    });
    const again = api(await h.failure(session.close()));
    expect(again).toBeInstanceOf(SessionNotFoundError);
    expect(again.status).toBe(400);
    expect(again.typeName).toContain('RunnerScaleSetSessionExpiredException');
    const next = await client.createMessageSessionClient(set.id, OWNER);
    expect(next.session.sessionId).not.toBe(session.session.sessionId);
    await next.close();
  });
});

behaviour(18, 'long poll', () => {
  const fake = useFake();

  async function sessionFor(
    client: ScaleSetClient,
  ): Promise<{ set: RunnerScaleSet; session: MessageSessionClient }> {
    const set = await newScaleSet(client);
    return { set, session: await client.createMessageSessionClient(set.id, OWNER) };
  }

  it('no message: held for the poll timeout, then 202 → null; queue token, capacity and Accept are sent', async () => {
    const client = h.client(fake());
    const { session } = await sessionFor(client);
    const started = performance.now();
    await expect(session.getMessage(0, 7)).resolves.toBeNull();
    expect(performance.now() - started).toBeGreaterThanOrEqual(POLL_TIMEOUT_MS - 20);
    const poll = only(fake(), 'getMessage');
    expect(poll).toMatchObject({
      method: 'GET',
      path: '/scalesets/message',
      query: {},
      status: 202,
    });
    expect(poll.headers['x-scalesetmaxcapacity']).toBe('7');
    expect(poll.headers.accept).toBe('application/json; api-version=6.0-preview');
    expect(poll.headers['content-type']).toBeUndefined();
    expect(bearer(poll)).toBe(session.session.messageQueueAccessToken);
    await session.close();
  });

  it('capacity 0 is valid and gets nothing assigned; lastMessageId is sent only when > 0', async () => {
    const client = h.client(fake());
    const { set, session } = await sessionFor(client);
    const [job] = fake().queueJobs(1, { labels: [set.name] });
    await expect(session.getMessage(0, 0)).resolves.toBeNull();
    expect(fake().job(job?.jobId ?? '')?.state).toBe('pending');
    const message = await nextMessage(session, 0, 1);
    expect(message.jobAssignedMessages.map((m) => m.jobId)).toEqual([job?.jobId]);
    await session.deleteMessage(message.messageId);
    await expect(session.getMessage(message.messageId, 1)).resolves.toBeNull();
    const polls = fake().requestsFor('getMessage');
    expect(polls.map((r) => [r.headers['x-scalesetmaxcapacity'], r.query.lastMessageId])).toEqual([
      ['0', undefined],
      ['1', undefined],
      ['1', String(message.messageId)],
    ]);
    expect(await h.failure(session.getMessage(0, -1))).toBeInstanceOf(ScaleSetArgumentError);
    await session.close();
  });

  it('a message that becomes available during the wait completes the pending poll early', async () => {
    const client = h.client(fake());
    const { set, session } = await sessionFor(client);
    fake().setBehaviour({ pollTimeoutMs: 10_000 });
    const started = performance.now();
    const poll = session.getMessage(0, 2);
    await fake().waitFor(
      () =>
        fake()
          .sessions()
          .some((s) => s.pendingPolls === 1),
      2000,
      'a held poll',
    );
    const [job] = fake().queueJobs(1, { labels: [set.name] });
    const message = await poll;
    expect(performance.now() - started).toBeLessThan(5000);
    expect(message?.jobAssignedMessages.map((m) => m.jobId)).toEqual([job?.jobId]);
    fake().setBehaviour({ pollTimeoutMs: POLL_TIMEOUT_MS });
    await session.close();
  });
});

behaviour(19, 'token expiry on the queue (§7.4)', () => {
  const fake = useFake();

  async function sessionWithJob(
    client: ScaleSetClient,
  ): Promise<{ set: RunnerScaleSet; session: MessageSessionClient }> {
    const set = await newScaleSet(client);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    fake().queueJobs(1, { labels: [set.name] });
    return { set, session };
  }

  it('get message 401 → PATCH session → get message 200, with the new token', async () => {
    const client = h.client(fake());
    const { session } = await sessionWithJob(client);
    const oldToken = session.session.messageQueueAccessToken;
    h.reset(fake());
    fake().injectFault({ endpoint: 'getMessage', status: 401 });
    const message = await session.getMessage(0, 5);
    expect(message?.jobAssignedMessages).toHaveLength(1);
    expect(trace(fake())).toEqual(['getMessage 401', 'refreshSession 200', 'getMessage 200']);
    const [first, , second] = ordered(fake());
    expect(bearer(first as RecordedRequest)).toBe(oldToken);
    expect(bearer(second as RecordedRequest)).toBe(session.session.messageQueueAccessToken);
    expect(session.session.messageQueueAccessToken).not.toBe(oldToken);
    await session.close();
  });

  it('a token the service really invalidated (refreshed elsewhere) is refreshed once and polling continues', async () => {
    const client = h.client(fake());
    const { set, session } = await sessionWithJob(client);
    await client.refreshMessageSession(set.id, session.session.sessionId);
    h.reset(fake());
    const message = await session.getMessage(0, 5);
    expect(message?.jobAssignedMessages).toHaveLength(1);
    expect(trace(fake())).toEqual(['getMessage 401', 'refreshSession 200', 'getMessage 200']);
    await session.close();
  });

  it('delete message and acquire jobs refresh and retry once the same way', async () => {
    const client = h.client(fake());
    const { session } = await sessionWithJob(client);
    const message = await nextMessage(session, 0, 5);
    const requestId = message.jobAssignedMessages[0]?.runnerRequestId ?? 0;
    h.reset(fake());
    fake().injectFault({ endpoint: 'deleteMessage', status: 401 });
    await session.deleteMessage(message.messageId);
    fake().injectFault({ endpoint: 'acquireJobs', status: 401 });
    await expect(session.acquireJobs([requestId])).resolves.toEqual([requestId]);
    expect(trace(fake())).toEqual([
      'deleteMessage 401',
      'refreshSession 200',
      'deleteMessage 204',
      'acquireJobs 401',
      'refreshSession 200',
      'acquireJobs 200',
    ]);
    await session.close();
  });

  it('still 401 after the refresh → MessageQueueTokenExpiredError; exactly one refresh and one retry', async () => {
    const client = h.client(fake());
    const { session } = await sessionWithJob(client);
    h.reset(fake());
    fake().injectFault({ endpoint: 'getMessage', status: 401, times: 2 });
    const err = api(await h.failure(session.getMessage(0, 5)));
    expect(err).toBeInstanceOf(MessageQueueTokenExpiredError);
    expect(err.status).toBe(401);
    expect(err.message).toContain('message queue token expired');
    expect(trace(fake())).toEqual(['getMessage 401', 'refreshSession 200', 'getMessage 401']);
    await session.close();
  });
});

behaviour(20, 'redelivery until deleted', () => {
  const fake = useFake();

  it('an unacknowledged message comes again; lastMessageId skips it; after DELETE it is gone', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    fake().queueJobs(1, { labels: [set.name] });
    const first = await nextMessage(session, 0);
    const again = await nextMessage(session, 0);
    expect(again.messageId).toBe(first.messageId);
    await expect(session.getMessage(first.messageId, 10)).resolves.toBeNull();
    await session.deleteMessage(first.messageId);
    expect(only(fake(), 'deleteMessage').path).toBe(`/scalesets/message/${first.messageId}`);
    const [second] = fake().queueJobs(1, { labels: [set.name] });
    const next = await nextMessage(session, 0);
    expect(next.messageId).toBeGreaterThan(first.messageId);
    expect(next.jobAssignedMessages.map((m) => m.jobId)).toEqual([second?.jobId]);
    await session.close();
  });
});

behaviour(21, 'envelope correctness', () => {
  const fake = useFake();

  it('at most 50 job messages per envelope, increasing ids, RFC 3339 Z timestamps, statistics always', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    fake().queueJobs(60, { labels: [set.name] });
    const jobs = await collectJobs(session, (j) => j.assigned.length >= 60, { capacity: 100 });
    expect(jobs.messages.map((m) => m.jobAssignedMessages.length)).toEqual([50, 10]);
    const [a, b] = jobs.messages;
    expect((b?.messageId ?? 0) > (a?.messageId ?? 0)).toBe(true);
    expect(jobs.messages.map((m) => m.messageType)).toEqual(
      Array<string>(2).fill('RunnerScaleSetJobMessages'),
    );
    expect(jobs.messages.map((m) => m.statistics?.totalAssignedJobs)).toEqual([60, 60]);
    for (const job of jobs.assigned) {
      expect(job.queueTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      expect(job.scaleSetAssignTime).not.toBe(ZERO_TIME);
      expect(job.runnerAssignTime).toBe(ZERO_TIME);
      expect(job.requestLabels).toEqual([set.name]);
    }
    await session.close();
  });

  it('an empty body means no job messages; unknown job types are ignored; another envelope type is an error', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    const envelope = (extra: Record<string, unknown>): string =>
      JSON.stringify({
        messageId: 5,
        messageType: 'RunnerScaleSetJobMessages',
        body: '',
        statistics: ZERO_STATS,
        ...extra,
      });
    fake().injectFault({ endpoint: 'getMessage', status: 200, body: envelope({}) });
    await expect(session.getMessage(0, 1)).resolves.toMatchObject({
      messageId: 5,
      jobAssignedMessages: [],
      statistics: ZERO_STATS,
    });
    fake().injectFault({
      endpoint: 'getMessage',
      status: 200,
      body: envelope({ body: JSON.stringify([{ messageType: 'JobFromTheFuture', jobId: 'x' }]) }),
    });
    await expect(session.getMessage(0, 1)).resolves.toMatchObject({
      jobAssignedMessages: [],
      jobStartedMessages: [],
    });
    fake().injectFault({
      endpoint: 'getMessage',
      status: 200,
      body: envelope({ messageType: 'SomethingElse' }),
    });
    const err = api(await h.failure(session.getMessage(0, 1)));
    expect(err.status).toBe(200);
    expect(err.message).toContain('failed to parse message');
    expect(err.message).toContain('unsupported message type');
    await session.close();
  });
});

behaviour(22, 'statistics consistency', () => {
  const fake = useFake();

  it('session statistics reflect creation time; assigned ≥ running; runners counted once connected', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const jobs = fake().queueJobs(2, { labels: [set.name] });
    for (const job of jobs) {
      fake().assignJob(job.jobId);
    }
    const session = await client.createMessageSessionClient(set.id, OWNER);
    expect(session.session.statistics).toMatchObject({
      totalAssignedJobs: 2,
      totalRunningJobs: 0,
      totalRegisteredRunners: 0,
    });
    const config = await client.generateJitRunnerConfig(set.id, { name: unique('stats') });
    h.jit(config);
    const assigned = await collectJobs(session, (j) => j.assigned.length >= 2);
    fake().startJob(jobs[0]?.jobId ?? '', config.runner.name);
    const started = await collectJobs(session, (j) => j.started.length >= 1, {
      lastMessageId: assigned.lastMessageId,
    });
    expect(started.messages.at(-1)?.statistics).toMatchObject({
      totalAssignedJobs: 2,
      totalRunningJobs: 1,
      totalRegisteredRunners: 1,
      totalBusyRunners: 1,
      totalIdleRunners: 0,
    });
    fake().completeJob(jobs[0]?.jobId ?? '');
    const completed = await collectJobs(session, (j) => j.completed.length >= 1, {
      lastMessageId: started.lastMessageId,
    });
    expect(completed.messages.at(-1)?.statistics).toMatchObject({
      totalAssignedJobs: 1,
      totalRunningJobs: 0,
      totalRegisteredRunners: 0,
    });
    for (const message of [...assigned.messages, ...started.messages, ...completed.messages]) {
      const stats = message.statistics;
      expect((stats?.totalAssignedJobs ?? -1) >= (stats?.totalRunningJobs ?? 0)).toBe(true);
    }
    fake().completeJob(jobs[1]?.jobId ?? '');
    await session.close();
  });
});

behaviour(23, 'job state machine', () => {
  const fake = useFake();

  it('assign mode: JobAssigned → JobStarted (runner id/name) → JobCompleted (result), capped by capacity', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    const jobs = fake().queueJobs(3, { labels: [set.name], result: 'failed' });
    const first = await collectJobs(session, (j) => j.assigned.length >= 2, { capacity: 2 });
    expect(first.assigned.map((m) => m.jobId)).toEqual(jobs.slice(0, 2).map((j) => j.jobId));
    expect(first.messages[0]?.statistics?.totalAssignedJobs).toBe(2);
    expect(fake().job(jobs[2]?.jobId ?? '')?.state).toBe('pending');
    const config = await client.generateJitRunnerConfig(set.id, { name: unique('sm') });
    h.jit(config);
    fake().startJob(jobs[0]?.jobId ?? '', config.runner.name);
    fake().finishRunner(config.runner.name);
    const rest = await collectJobs(
      session,
      (j) => j.completed.length >= 1 && j.assigned.length >= 1,
      {
        lastMessageId: first.lastMessageId,
        capacity: 2,
      },
    );
    expect(rest.started).toMatchObject([
      { jobId: jobs[0]?.jobId, runnerId: config.runner.id, runnerName: config.runner.name },
    ]);
    expect(rest.completed).toMatchObject([
      {
        jobId: jobs[0]?.jobId,
        result: 'failed',
        runnerId: config.runner.id,
        runnerName: config.runner.name,
      },
    ]);
    expect(rest.assigned.map((m) => m.jobId)).toEqual([jobs[2]?.jobId]);
    for (const job of jobs.slice(1)) {
      fake().completeJob(job.jobId);
    }
    await session.close();
  });

  it('reassignment: no runner in time → JobCompleted canceled (empty runner) → JobAssigned again', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    fake().setBehaviour({ reassignAfterMs: 150 });
    const [job] = fake().queueJobs(1, { labels: [set.name] });
    const jobs = await collectJobs(
      session,
      (j) => j.completed.length >= 1 && j.assigned.length >= 2,
    );
    expect(jobs.completed).toMatchObject([
      { jobId: job?.jobId, result: 'canceled', runnerId: 0, runnerName: '' },
    ]);
    expect(jobs.assigned.map((m) => m.jobId)).toEqual([job?.jobId, job?.jobId]);
    expect(fake().job(job?.jobId ?? '')?.reassignments).toBeGreaterThanOrEqual(1);
    fake().setBehaviour({ reassignAfterMs: null });
    fake().completeJob(job?.jobId ?? '');
    await session.close();
  });
});

behaviour(24, 'HTTP retry triggers (§3.5)', () => {
  const fake = useFake();

  it('a 5xx burst is retried within the bound (RetryMax+1 hits), then the typed error surfaces', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    fake().injectFault({ endpoint: 'getScaleSet', status: 500, times: 10 });
    const err = api(await h.failure(client.getRunnerScaleSet(set.id)));
    expect(err.constructor).toBe(ScaleSetApiError);
    expect(err.status).toBe(500);
    expect(err.attempts).toBe(5);
    expect(err.retryable).toBe(true);
    expect(isRetryable(err)).toBe(true);
    expect(err.activityId).toMatch(UUID);
    expect(hits(fake(), 'getScaleSet')).toBe(5);
  });

  it('fail N times then succeed: 503 ×3 → success on the 4th hit; POST bodies are replayed', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    fake().injectFault({ endpoint: 'getScaleSet', status: 503, times: 3 });
    await expect(client.getRunnerScaleSet(set.id)).resolves.toMatchObject({ id: set.id });
    expect(trace(fake(), ['getScaleSet'])).toEqual([
      ...Array<string>(3).fill('getScaleSet 503'),
      'getScaleSet 200',
    ]);
    fake().injectFault({ endpoint: 'createScaleSet', status: 502, times: 1 });
    const name = unique('replay');
    await client.createRunnerScaleSet({ name });
    const bodies = fake()
      .requestsFor('createScaleSet')
      .map((r) => r.body);
    expect(bodies.slice(-2)).toEqual([bodies.at(-1), bodies.at(-1)]);
    expect(
      fake()
        .scaleSets()
        .filter((s) => s.name === name),
    ).toHaveLength(1);
  });

  it('501 and other 4xx are not retried; RetryMax 0 means one attempt', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    fake().injectFault({ endpoint: 'getScaleSet', status: 501, times: 5 });
    const notImplemented = api(await h.failure(client.getRunnerScaleSet(set.id)));
    expect([notImplemented.status, notImplemented.retryable, notImplemented.attempts]).toEqual([
      501,
      false,
      1,
    ]);
    fake().clearFaults();
    fake().injectFault({ endpoint: 'getScaleSet', status: 400, times: 5 });
    expect(api(await h.failure(client.getRunnerScaleSet(set.id))).status).toBe(400);
    fake().clearFaults();
    fake().injectFault({ endpoint: 'getScaleSet', status: 500, times: 5 });
    const noRetry = h.client(fake(), { retry: { max: 0 } });
    expect(api(await h.failure(noRetry.getRunnerScaleSet(set.id))).attempts).toBe(1);
    expect(hits(fake(), 'getScaleSet')).toBe(3);
  });

  it('transport errors (connection refused) are retried too, then reported without a status', async () => {
    const gone = await h.fake();
    const client = h.client(gone);
    await h.stopFake(gone);
    const err = api(await h.failure(client.getRunnerGroupByName('Default')));
    expect(err.status).toBeUndefined();
    expect(err.attempts).toBe(5);
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('giving up after 5 attempt(s)');
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('429 with Retry-After: 2 waits at least 2 s and the call succeeds', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    fake().injectFault({ endpoint: 'getScaleSet', status: 429, headers: { 'retry-after': '2' } });
    const started = performance.now();
    await expect(client.getRunnerScaleSet(set.id)).resolves.toMatchObject({ id: set.id });
    expect(performance.now() - started).toBeGreaterThanOrEqual(2000);
    const [limited, retried] = fake().requestsFor('getScaleSet');
    expect([limited?.status, retried?.status]).toEqual([429, 200]);
    // Arrival times are whole milliseconds; allow for rounding only.
    expect((retried?.at ?? 0) - (limited?.at ?? 0)).toBeGreaterThanOrEqual(1995);
  });

  it('a 429 that persists → RateLimitedError; a Retry-After beyond the cap fails at once with retryAfterMs', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    fake().injectFault({
      endpoint: 'getScaleSet',
      status: 429,
      headers: { 'retry-after': '0' },
      times: 5,
    });
    const persistent = api(await h.failure(client.getRunnerScaleSet(set.id)));
    expect(persistent).toBeInstanceOf(RateLimitedError);
    expect([persistent.status, persistent.attempts, isRetryable(persistent)]).toEqual([
      429,
      5,
      true,
    ]);
    fake().injectFault({ endpoint: 'getScaleSet', status: 429, headers: { 'retry-after': '120' } });
    const long = api(await h.failure(client.getRunnerScaleSet(set.id)));
    expect(long).toBeInstanceOf(RateLimitedError);
    expect((long as RateLimitedError).retryAfterMs).toBe(120_000);
    expect(long.attempts).toBe(1);
    expect(hits(fake(), 'getScaleSet')).toBe(6);
  });
});

behaviour(25, 'error bodies', () => {
  const fake = useFake();

  it('{typeName, message} → exception fields, status line and ActivityId in the error text', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    fake().injectFault({
      endpoint: 'getScaleSet',
      status: 400,
      body: JSON.stringify({
        typeName: 'CSharpExceptionNameHere',
        message: 'could not do something',
      }),
      headers: { ActivityId: 'activity-123' },
    });
    const err = api(await h.failure(client.getRunnerScaleSet(set.id)));
    expect(err.constructor).toBe(ScaleSetApiError);
    expect(err).toMatchObject({
      status: 400,
      activityId: 'activity-123',
      typeName: 'CSharpExceptionNameHere',
      exceptionMessage: 'could not do something',
      method: 'GET',
      path: `/tenant/123/_apis/runtime/runnerscalesets/${set.id}?api-version=6.0-preview`,
    });
    expect(err.isException('CSharpException')).toBe(true);
    expect(err.message).toContain('status="400 Bad Request", activity_id="activity-123"');
    expect(err.message).toContain('CSharpExceptionNameHere: could not do something');
  });

  it('text/plain is quoted verbatim, an empty body is "unknown error", non-JSON is reported as such', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    fake().injectFault({
      endpoint: 'getScaleSet',
      status: 400,
      contentType: 'text/plain',
      body: 'the service says no',
    });
    expect((await h.failure(client.getRunnerScaleSet(set.id))).message).toContain(
      'the service says no',
    );
    fake().injectFault({ endpoint: 'getScaleSet', status: 404, emptyBody: true });
    const empty = api(await h.failure(client.getRunnerScaleSet(set.id)));
    expect(empty.message).toContain('status="404 Not Found"');
    expect(empty.message).toContain('unknown error');
    fake().injectFault({ endpoint: 'getScaleSet', status: 400, body: '<html>oops</html>' });
    expect((await h.failure(client.getRunnerScaleSet(set.id))).message).toContain(
      'failed to unmarshal error response body',
    );
  });

  it('GitHub API errors carry X-GitHub-Request-Id, Actions service errors ActivityId', async () => {
    const client = h.client(fake());
    fake().injectFault({
      endpoint: 'registrationToken',
      status: 403,
      body: '{"message":"Resource not accessible by integration"}',
    });
    const github = api(await h.failure(client.getRunnerGroupByName('Default')));
    expect(github.githubRequestId).toMatch(/^[0-9A-F]{16}$/);
    expect(github.activityId).toBeUndefined();
    expect(github.message).toContain('Resource not accessible by integration');
    const service = api(await h.failure(client.getRunner(424_242)));
    expect(service.activityId).toMatch(UUID);
    expect(service.githubRequestId).toBeUndefined();
  });
});

behaviour(26, 'UTF-8 BOM before JSON bodies', () => {
  const fake = useFake({ bom: true });

  it('every endpoint works when the service prefixes its JSON with a BOM', async () => {
    const client = h.client(fake());
    const done = await exerciseAllEndpoints(client, fake(), unique('bom'));
    expect(done.created.id).toBeGreaterThan(0);
    expect(done.message.jobAssignedMessages).toHaveLength(1);
    expect(done.acquired).toEqual([done.job.runnerRequestId]);
    expect(done.refreshed.sessionId).toBe(done.session.session.sessionId);
    const raw = await fetch(
      `${fake().origin}/api/v3/orgs/test-org/actions/runners/registration-token`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${fake().pat}` },
      },
    );
    const bytes = Buffer.from(await raw.arrayBuffer());
    expect(bytes.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
  });
});

behaviour(27, 'acquire-jobs auth and route', () => {
  const fake = useFake();

  it('POST …/runnerscalesets/{id}/acquirejobs with the queue token and a JSON array; [] → []', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    await expect(session.acquireJobs([])).resolves.toEqual([]);
    const request = only(fake(), 'acquireJobs');
    expect(request).toMatchObject({
      method: 'POST',
      path: `/tenant/123/_apis/runtime/runnerscalesets/${set.id}/acquirejobs`,
      query: { 'api-version': '6.0-preview' },
      body: '[]',
      status: 200,
    });
    expect(bearer(request)).toBe(session.session.messageQueueAccessToken);
    expect(bearer(request)).not.toBe(bearer(only(fake(), 'createSession')));
    // The admin token is not accepted here.
    const withAdmin = await rawAdmin(
      fake(),
      'POST',
      `_apis/runtime/runnerscalesets/${set.id}/acquirejobs?api-version=6.0-preview`,
      {
        body: '[]',
        headers: { 'content-type': 'application/json' },
      },
    );
    expect(withAdmin.status).toBe(401);
    expect(await h.failure(session.acquireJobs([-1]))).toBeInstanceOf(ScaleSetArgumentError);
    await session.close();
  });
});

behaviour(28, 'TLS with a custom CA', () => {
  const fake = useFake();

  it('works through HTTPS with caCert, and fails with a clear, non-retried error without it', async () => {
    const certs = createTestCertificates();
    const proxy = await startTlsProxy(fake().origin, certs);
    try {
      const configUrl = `${proxy.origin}/test-org`;
      const trusted = h.client(fake(), { configUrl, caCert: certs.caCert });
      const set = await newScaleSet(trusted);
      const session = await trusted.createMessageSessionClient(set.id, OWNER);
      // The Actions service and queue URLs point at the HTTPS front too.
      expect(session.session.messageQueueUrl).toBe(`${proxy.origin}/scalesets/message`);
      await expect(session.getMessage(0, 1)).resolves.toBeNull();
      await session.close();
      await trusted.deleteRunnerScaleSet(set.id);
      expect(trace(fake())).toEqual([
        'registrationToken 201',
        'runnerRegistration 200',
        'createScaleSet 200',
        'createSession 200',
        'getMessage 202',
        'deleteSession 204',
        'deleteScaleSet 204',
      ]);

      const before = fake().requests.length;
      const untrusted = h.client(fake(), { configUrl });
      const err = api(await h.failure(untrusted.getRunnerGroupByName('Default')));
      expect(err.status).toBeUndefined();
      expect(err.retryable).toBe(false);
      expect(err.attempts).toBe(1);
      expect(err.message).toMatch(/certificate/i);
      expect(err.message).toContain(
        `request POST ${proxy.origin}/api/v3/orgs/test-org/actions/runners/registration-token failed`,
      );
      expect(fake().requests).toHaveLength(before);
    } finally {
      await proxy.close();
    }
  });
});

behaviour(29, 'production failure modes', () => {
  const fake = useFake();

  it('200 with an empty body on get message → "EOF" error, not retried', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    fake().injectFault({ endpoint: 'getMessage', emptyBody: true });
    const err = api(await h.failure(session.getMessage(0, 1)));
    expect(err.status).toBe(200);
    expect(err.message).toContain('EOF');
    expect(hits(fake(), 'getMessage')).toBe(1);
    await session.close();
  });

  it('an empty messageQueueUrl → the first queue call fails clearly without sending anything', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    fake().injectFault({
      endpoint: 'createSession',
      status: 200,
      body: JSON.stringify({
        sessionId: randomUUID(),
        ownerName: OWNER,
        runnerScaleSet: null,
        messageQueueUrl: '',
        messageQueueAccessToken: 'queue-token-without-a-queue',
        statistics: ZERO_STATS,
      }),
    });
    const session = await client.createMessageSessionClient(set.id, OWNER);
    const err = api(await h.failure(session.getMessage(0, 1)));
    expect(err.message).toContain('the session has no usable messageQueueUrl');
    expect(hits(fake(), 'getMessage')).toBe(0);
  });

  it('sustained 500s from the queue surface after RetryMax+1 polls', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    fake().injectFault({ endpoint: 'getMessage', status: 500, untilMs: 60_000 });
    const err = api(await h.failure(session.getMessage(0, 1)));
    expect([err.status, err.attempts]).toEqual([500, 5]);
    expect(hits(fake(), 'getMessage')).toBe(5);
    fake().clearFaults();
    await session.close();
  });

  it('a scale set GitHub deleted → ScaleSetNotFoundError; its session is gone → SessionNotFoundError', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    fake().deleteScaleSet(set.id);
    const poll = api(await h.failure(session.getMessage(0, 1)));
    expect(poll).toBeInstanceOf(SessionNotFoundError);
    expect(await h.failure(client.createMessageSession(set.id, OWNER))).toBeInstanceOf(
      ScaleSetNotFoundError,
    );
    expect(await h.failure(client.getRunnerScaleSet(set.id))).toBeInstanceOf(ScaleSetNotFoundError);
  });

  it('session eviction: get message 401 → PATCH 404 → SessionNotFoundError', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    fake().expireSession(session.session.sessionId);
    h.reset(fake());
    const err = api(await h.failure(session.getMessage(0, 1)));
    expect(err).toBeInstanceOf(SessionNotFoundError);
    expect(err.status).toBe(404);
    expect(trace(fake())).toEqual(['getMessage 401', 'refreshSession 404']);
    // The refresh's own request is what failed, and the error says so.
    expect(err.message).toMatch(/^request PATCH \S+\/sessions\/\S+ failed\(status="404 Not Found"/);
    expect(err.message).toContain('session not found');
  });
});

behaviour(30, 'leniency on input', () => {
  const fake = useFake();

  it('accepts RunnerSetting and runnerSetting, ignores unknown fields, any User-Agent, with or without Content-Type', async () => {
    const client = h.client(fake());
    await client.getRunnerGroupByName('Default');
    const create = async (name: string, setting: Record<string, unknown>): Promise<Response> =>
      rawAdmin(fake(), 'POST', '_apis/runtime/runnerscalesets?api-version=6.0-preview', {
        headers: { 'content-type': 'application/json', 'user-agent': 'curl/8.5.0' },
        body: JSON.stringify({ name, runnerGroupId: 1, frobnicate: { deep: true }, ...setting }),
      });
    const upper = await create(unique('upper'), { RunnerSetting: { disableUpdate: true } });
    const lower = await create(unique('lower'), { runnerSetting: { disableUpdate: true } });
    expect([upper.status, lower.status]).toEqual([200, 200]);
    for (const response of [upper, lower]) {
      const body = (await response.json()) as { id: number };
      await expect(client.getRunnerScaleSet(body.id)).resolves.toMatchObject({
        runnerSetting: { disableUpdate: true },
      });
    }
    const withType = await rawAdmin(
      fake(),
      'GET',
      '_apis/runtime/runnergroups/?groupName=Default&api-version=6.0-preview',
      {
        headers: { 'content-type': 'application/json' },
      },
    );
    const without = await rawAdmin(
      fake(),
      'GET',
      '_apis/runtime/runnergroups/?groupName=Default&api-version=6.0-preview',
      {
        headers: { 'user-agent': 'something else entirely' },
      },
    );
    expect([withType.status, without.status]).toEqual([200, 200]);
  });

  it('session create with or without the nil sessionId; bodyless PATCH/DELETE with JSON content type; get message without Content-Type', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const json = { 'content-type': 'application/json' };
    const created = await rawAdmin(
      fake(),
      'POST',
      `_apis/runtime/runnerscalesets/${set.id}/sessions?api-version=6.0-preview`,
      {
        headers: json,
        body: JSON.stringify({ ownerName: 'legacy-arc' }),
      },
    );
    expect(created.status).toBe(200);
    const session = (await created.json()) as {
      sessionId: string;
      messageQueueUrl: string;
      messageQueueAccessToken: string;
    };
    h.secret(session.messageQueueAccessToken, 'queue token');
    const poll = await fetch(session.messageQueueUrl, {
      headers: {
        authorization: `Bearer ${session.messageQueueAccessToken}`,
        'x-scalesetmaxcapacity': '1',
        'user-agent': 'x',
      },
    });
    expect(poll.status).toBe(202);
    const sessionPath = `_apis/runtime/runnerscalesets/${set.id}/sessions/${session.sessionId}?api-version=6.0-preview`;
    const refreshed = await rawAdmin(fake(), 'PATCH', sessionPath, { headers: json });
    expect(refreshed.status).toBe(200);
    h.secret(
      ((await refreshed.json()) as { messageQueueAccessToken: string }).messageQueueAccessToken,
      'queue token',
    );
    const deleted = await rawAdmin(fake(), 'DELETE', sessionPath, { headers: json });
    expect(deleted.status).toBe(204);
    // The SDK form (nil sessionId) works too, through the client.
    const sdk = await client.createMessageSessionClient(set.id, OWNER);
    const sdkRequest = fake().requestsFor('createSession').at(-1);
    expect(sdkRequest === undefined ? undefined : jsonBody(sdkRequest)).toEqual({
      sessionId: NIL_UUID,
      ownerName: OWNER,
    });
    await sdk.close();
  });
});

behaviour(31, 'observability: the fake records every request', () => {
  const fake = useFake();

  it('records method, path, query, headers (JSON User-Agent, capacity), body, status and retry counts', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    // The session client keeps a snapshot of the User-Agent (§3.3); acquire-jobs uses the parent's.
    client.setScaleSetId(set.id + 1000);
    fake().queueJobs(1, { labels: [set.name] });
    const message = await nextMessage(session, 0, 4);
    await session.acquireJobs([]);
    const userAgent = (r: RecordedRequest): Record<string, unknown> =>
      JSON.parse(r.headers['user-agent'] ?? '{}') as Record<string, unknown>;
    const create = only(fake(), 'createScaleSet');
    expect(create).toMatchObject({
      method: 'POST',
      path: '/tenant/123/_apis/runtime/runnerscalesets',
      query: { 'api-version': '6.0-preview' },
    });
    expect(create.at).toBeLessThanOrEqual(Date.now());
    expect(userAgent(create)).toMatchObject({
      system: 'conformance',
      subsystem: 'scaleset-conformance',
      scale_set_id: 0,
      kind: 'scaleset',
    });
    expect(userAgent(only(fake(), 'createSession')).scale_set_id).toBe(set.id);
    const poll = only(fake(), 'getMessage');
    expect(userAgent(poll).scale_set_id).toBe(set.id);
    expect(poll.headers['x-scalesetmaxcapacity']).toBe('4');
    expect(userAgent(only(fake(), 'acquireJobs')).scale_set_id).toBe(set.id + 1000);
    await expect(session.getMessage(message.messageId, 4)).resolves.toBeNull();
    expect(fake().requestsFor('getMessage')[1]?.query).toEqual({
      lastMessageId: String(message.messageId),
    });

    fake().injectFault({ endpoint: 'getScaleSet', status: 503, times: 2 });
    await client.getRunnerScaleSet(set.id);
    expect(fake().stats().byEndpoint.getScaleSet).toBe(3);
    h.harvest(fake());
    fake().clearRequests();
    expect(fake().stats().total).toBe(0);
    expect(fake().requests).toEqual([]);
    await session.close();
  });
});

// ---- every endpoint, client-side errors, end-to-end ------------------------------------

describe('every endpoint of §4.1–§4.16 through the client (App auth)', () => {
  const fake = useFake();

  it('each of the fake’s protocol endpoints was reached, each answered with its success status', async () => {
    const client = h.appClient(fake());
    const done = await exerciseAllEndpoints(client, fake(), unique('all'));
    const reached = new Set(fake().requests.map((r) => r.endpoint));
    expect([...ENDPOINT_NAMES].filter((e) => !reached.has(e))).toEqual([]);
    expect(fake().requests.filter((r) => r.status >= 300 && r.status !== 202)).toEqual([]);
    expect(done).toMatchObject({
      group: { id: 1, name: 'Default', isDefaultGroup: true },
      byName: { id: done.created.id },
      byId: { id: done.created.id },
      updated: {
        labels: [
          { type: 'System', name: done.created.name },
          { type: 'System', name: `${done.created.name}-extra` },
        ],
      },
      runner: { id: done.jit.runner.id },
      runnerByName: { id: done.jit.runner.id },
      idle: null,
      acquired: [done.job.runnerRequestId],
    });
    expect(done.message.jobAssignedMessages.map((m) => m.runnerRequestId)).toEqual([
      done.job.runnerRequestId,
    ]);
  });
});

describe('§7 client-side errors (nothing is sent)', () => {
  const fake = useFake();

  it('invalid config URLs, empty PAT, incomplete App credentials, bad arguments', async () => {
    const make = (options: Partial<ConstructorParameters<typeof ScaleSetClient>[0]>) => () =>
      h.client(fake(), options);
    for (const configUrl of [
      'https://github.com/some/random/path',
      'https://github.com',
      'http://example.com/org',
      'org/repo',
    ]) {
      const err = h.failureSync(make({ configUrl }));
      expect(err).toBeInstanceOf(InvalidConfigUrlError);
      expect(err.message).toContain('should point to an enterprise, org, or repository');
    }
    expect(h.failureSync(make({ auth: { kind: 'pat', token: '  ' } }))).toBeInstanceOf(
      InvalidClientOptionsError,
    );
    const app = h.failureSync(
      make({
        auth: {
          kind: 'app',
          clientId: fake().app.clientId,
          installationId: 0,
          privateKey: fake().app.privateKey,
        },
      }),
    );
    expect(app).toBeInstanceOf(InvalidClientOptionsError);
    expect(app.message).toContain('app installation ID is required');
    const client = h.client(fake());
    expect(await h.failure(client.getRunnerScaleSet(0))).toBeInstanceOf(ScaleSetArgumentError);
    expect(await h.failure(client.removeRunner(-3))).toBeInstanceOf(ScaleSetArgumentError);
    expect(await h.failure(client.refreshMessageSession(1, ''))).toBeInstanceOf(
      ScaleSetArgumentError,
    );
    expect(fake().requests).toEqual([]);
  });
});

describe('end-to-end through the client only', () => {
  const fake = useFake({ jobDurationMs: 150 });

  beforeAll(() => {
    h.covered.add(22);
    h.covered.add(23);
  });

  it('github.com-like: create set → session → 2 jobs → JIT → 2 runners → started/completed → tear down', async () => {
    const client = h.client(fake());
    const name = unique('e2e');
    const set = await client.createRunnerScaleSet({
      name,
      runnerGroupId: 1,
      runnerSetting: { disableUpdate: true },
    });
    client.setScaleSetId(set.id);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    expect(session.session.statistics?.totalAssignedJobs).toBe(0);
    const jobs = fake().queueJobs(2, { labels: [name] });

    const assigned = await collectJobs(session, (j) => j.assigned.length >= 2);
    expect(assigned.messages.at(-1)?.statistics?.totalAssignedJobs).toBe(2);
    expect(assigned.assigned.map((m) => m.jobId).sort()).toEqual(jobs.map((j) => j.jobId).sort());

    const configs = await Promise.all(
      [1, 2].map((i) => client.generateJitRunnerConfig(set.id, { name: `${name}-runner-${i}` })),
    );
    const runners = configs.map((config) => runFakeRunner(h.jit(config), { pollWaitMs: 2000 }));
    const events = await collectJobs(session, (j) => j.completed.length >= 2, {
      lastMessageId: assigned.lastMessageId,
    });
    const outcomes = await Promise.all(runners);
    expect(outcomes.map((o) => o.jobId).sort()).toEqual(jobs.map((j) => j.jobId).sort());
    expect(events.started.map((m) => m.runnerName).sort()).toEqual([
      `${name}-runner-1`,
      `${name}-runner-2`,
    ]);
    expect(events.completed.map((m) => m.result)).toEqual(['succeeded', 'succeeded']);
    expect(events.messages.at(-1)?.statistics).toMatchObject({
      totalAssignedJobs: 0,
      totalRunningJobs: 0,
    });
    expect(fake().runners(set.id)).toEqual([]);

    await session.close();
    await client.deleteRunnerScaleSet(set.id);
    expect(
      fake()
        .sessions()
        .filter((s) => s.scaleSetId === set.id),
    ).toEqual([]);
    expect(
      fake()
        .scaleSets()
        .map((s) => s.id),
    ).not.toContain(set.id);
    // Every message was acknowledged: each getMessage 200 was followed by its DELETE.
    const acks = fake()
      .requestsFor('deleteMessage')
      .map((r) => r.path);
    const ids = [...assigned.messages, ...events.messages].map(
      (m) => `/scalesets/message/${m.messageId}`,
    );
    expect(acks).toEqual(ids);
    expect(trace(fake(), ['deleteSession', 'deleteScaleSet'])).toEqual([
      'deleteSession 204',
      'deleteScaleSet 204',
    ]);
  });

  it('GHES acquire flow: JobAvailable → acquireJobs → JobAssigned → runner → completed', async () => {
    fake().setBehaviour({ mode: 'acquire' });
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    const [job] = fake().queueJobs(1, { labels: [set.name] });
    const available = await collectJobs(session, (j) => j.available.length >= 1);
    expect(available.available).toMatchObject([
      { jobId: job?.jobId, runnerRequestId: job?.runnerRequestId },
    ]);
    expect(available.available[0]?.acquireJobUrl).toContain(
      `/runnerscalesets/${set.id}/acquirejobs`,
    );
    expect(available.messages.at(-1)?.statistics?.totalAvailableJobs).toBe(1);
    // Not acquired → it stays available.
    await expect(session.getMessage(available.lastMessageId, 10)).resolves.toBeNull();
    expect(fake().job(job?.jobId ?? '')?.state).toBe('available');

    await expect(session.acquireJobs([job?.runnerRequestId ?? 0])).resolves.toEqual([
      job?.runnerRequestId,
    ]);
    const assigned = await collectJobs(session, (j) => j.assigned.length >= 1, {
      lastMessageId: available.lastMessageId,
    });
    expect(assigned.assigned.map((m) => m.jobId)).toEqual([job?.jobId]);
    expect(assigned.messages.at(-1)?.statistics?.totalAssignedJobs).toBe(1);

    const config = await client.generateJitRunnerConfig(set.id, { name: unique('ghes-runner') });
    const outcome = runFakeRunner(h.jit(config), { pollWaitMs: 2000 });
    const done = await collectJobs(session, (j) => j.completed.length >= 1, {
      lastMessageId: assigned.lastMessageId,
    });
    await expect(outcome).resolves.toMatchObject({ jobId: job?.jobId, result: 'succeeded' });
    expect(done.started).toMatchObject([{ jobId: job?.jobId, runnerName: config.runner.name }]);
    expect(done.completed).toMatchObject([{ jobId: job?.jobId, result: 'succeeded' }]);
    expect(trace(fake(), ['acquireJobs'])).toEqual(['acquireJobs 200']);
    await session.close();
    await client.deleteRunnerScaleSet(set.id);
  });
});

describe('secrets stay out of errors and logs', () => {
  const fake = useFake();

  it('errors whose response bodies echo credentials do not repeat them', async () => {
    const client = h.client(fake());
    const set = await newScaleSet(client);
    const admin = bearer(only(fake(), 'createScaleSet'));
    const config = await client.generateJitRunnerConfig(set.id, { name: unique('leak') });
    const jit = h.jit(config);
    const session = await client.createMessageSessionClient(set.id, OWNER);
    const queueToken = session.session.messageQueueAccessToken;

    fake().injectFault({
      endpoint: 'getScaleSet',
      status: 400,
      contentType: 'text/plain',
      body: `bad admin token ${admin}`,
    });
    fake().injectFault({
      endpoint: 'getRunner',
      status: 400,
      body: JSON.stringify({ typeName: 'X', message: `jit ${jit}` }),
    });
    fake().injectFault({
      endpoint: 'getMessage',
      status: 400,
      contentType: 'text/plain',
      body: `token ${queueToken}`,
    });
    const errors = [
      await h.failure(client.getRunnerScaleSet(set.id)),
      await h.failure(client.getRunner(config.runner.id)),
      await h.failure(session.getMessage(0, 1)),
    ];
    for (const [err, secret] of [
      [errors[0], admin],
      [errors[1], jit],
      [errors[2], queueToken],
    ] as const) {
      for (const form of errorForms(err)) {
        expect(form.includes(secret)).toBe(false);
      }
      expect(err?.message).toContain('[REDACTED]');
    }

    // GitHub side, for a fresh client: the PAT and an installation token echoed back.
    fake().injectFault({
      endpoint: 'registrationToken',
      status: 401,
      body: `{"message":"Bad credentials ${fake().pat}"}`,
    });
    const pat = await h.failure(h.client(fake()).getRunnerGroupByName('Default'));
    expect(errorForms(pat).some((f) => f.includes(fake().pat))).toBe(false);
    const appClient = h.appClient(fake());
    await appClient.getRunnerGroupByName('Default');
    const installation = bearer(fake().requestsFor('registrationToken').at(-1) as RecordedRequest);
    fake().injectFault({
      endpoint: 'runnerRegistration',
      status: 400,
      body: `{"message":"${installation} ${fake().app.privateKey.replaceAll('\n', '\\n')}"}`,
    });
    const appErr = await h.failure(h.appClient(fake()).getRunnerGroupByName('Default'));
    expect(
      errorForms(appErr).some((f) => f.includes(installation) || f.includes('PRIVATE KEY')),
    ).toBe(false);
    await session.close();
  });
});

describe('suite invariants (keep last)', () => {
  it('no secret appears in any caught error or any client log line of the whole suite', () => {
    h.harvestAll();
    const kinds = new Set(h.secrets.values());
    for (const kind of [
      'PAT',
      'installation token',
      'App private key',
      'App JWT',
      'registration token',
      'admin token',
      'queue token',
      'JIT config',
      'JIT runner credential',
    ]) {
      expect([kind, kinds.has(kind)]).toEqual([kind, true]);
    }
    const haystacks: [string, string][] = [
      ...h.logLines.map((line, i): [string, string] => [`log line ${i}`, line]),
      ...h.caught.flatMap((err, i) =>
        errorForms(err).map((form): [string, string] => [`caught error ${i}`, form]),
      ),
    ];
    const leaks: string[] = [];
    for (const [secret, what] of h.secrets) {
      for (const [where, text] of haystacks) {
        if (text.includes(secret)) {
          leaks.push(`${what} in ${where}`);
        }
      }
    }
    expect(leaks).toEqual([]);
    // The scan is not vacuous: debug lines were captured and many errors were caught.
    const levels = h.logLines.map((line) => (JSON.parse(line) as { level: number }).level);
    expect(levels).toContain(20);
    expect(levels).toContain(40);
    expect(h.caught.length).toBeGreaterThan(60);
  });

  it('covers every numbered behaviour of §11.1 (1..31)', () => {
    expect([...h.covered].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 31 }, (_, i) => i + 1),
    );
  });
});

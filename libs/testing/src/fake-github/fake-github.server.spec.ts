import { createSign, generateKeyPairSync } from 'node:crypto';
import { decodeFakeJitConfig } from '../fake-runner/fake-jit-config.codec';
import { runFakeRunner } from '../fake-runner/fake-runner.client';
import { parseFakeGitHubArgs } from './fake-github.cli';
import { FakeGitHub } from './fake-github.server';
import type {
  FakeGitHubOptions,
  FakeServiceEvent,
  WireJobMessage,
  WireMessage,
} from './fake-github.types';
import { FakeWireClient, type WireSession } from './fake-github.wire';

const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function appJwt(privateKey: string, claims: Record<string, unknown>): string {
  const input = `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url(claims)}`;
  const sig = createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url');
  return `${input}.${sig}`;
}

function decodeClaims(jwt: string): Record<string, unknown> {
  const [, body = ''] = jwt.split('.');
  return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
}

async function typeName(res: Response): Promise<string> {
  const body = (await res.json()) as { typeName?: string };
  return body.typeName ?? '';
}

describe('FakeGitHub', () => {
  let fake: FakeGitHub;
  let gh: FakeWireClient;

  async function boot(options: FakeGitHubOptions = {}): Promise<void> {
    fake = new FakeGitHub({ pollTimeoutMs: 300, ...options });
    await fake.start();
    gh = new FakeWireClient(fake);
    await gh.bootstrap();
  }

  afterEach(async () => {
    await fake.stop();
  });

  describe('GitHub REST auth (§2, §11.1 items 1–3)', () => {
    beforeEach(() => boot());

    it('exchanges a PAT for a registration token, then for the service URL and an admin JWT', async () => {
      for (const path of [
        '/api/v3/orgs/test-org/actions/runners/registration-token',
        '/api/v3/repos/test-org/test-repo/actions/runners/registration-token',
        '/api/v3/enterprises/test-ent/actions/runners/registration-token',
      ]) {
        const res = await fetch(`${fake.origin}${path}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${fake.pat}` },
        });
        expect(res.status).toBe(201);
        expect(res.headers.get('x-github-request-id')).toBeTruthy();
        const body = (await res.json()) as { token: string; expires_at: string };
        expect(body.token).toMatch(/^[A-Z0-9]+$/);
        expect(body.expires_at).toMatch(TS);
      }
      expect(gh.serviceUrl).toBe(`${fake.origin}/tenant/123/`);
      expect(gh.adminToken.split('.')).toHaveLength(3);
      const claims = decodeClaims(gh.adminToken);
      expect(typeof claims.exp).toBe('number');
      expect(claims.exp as number).toBeGreaterThan(Date.now() / 1000);
      for (const scope of ['repo', 'enterprise'] as const) {
        const reg = await fetch(
          `${fake.origin}/api/v3/orgs/test-org/actions/runners/registration-token`,
          { method: 'POST', headers: { authorization: `Bearer ${fake.pat}` } },
        );
        const { token } = (await reg.json()) as { token: string };
        const res = await fetch(`${fake.origin}/api/v3/actions/runner-registration`, {
          method: 'POST',
          headers: { authorization: `RemoteAuth ${token}` },
          body: JSON.stringify({ url: fake.configUrl(scope), runner_event: 'register' }),
        });
        expect(res.status).toBe(200);
      }
    });

    it('rejects bad credentials with 401 {"message":"Bad credentials"}', async () => {
      const bad = await fetch(
        `${fake.origin}/api/v3/orgs/test-org/actions/runners/registration-token`,
        { method: 'POST', headers: { authorization: 'Bearer ghp_wrong' } },
      );
      expect(bad.status).toBe(401);
      expect(await bad.json()).toEqual({ message: 'Bad credentials' });
      const wrongOrg = await fetch(
        `${fake.origin}/api/v3/orgs/other-org/actions/runners/registration-token`,
        { method: 'POST', headers: { authorization: `Bearer ${fake.pat}` } },
      );
      expect(wrongOrg.status).toBe(404);
      const badRemote = await fetch(`${fake.origin}/api/v3/actions/runner-registration`, {
        method: 'POST',
        headers: { authorization: `Bearer ${fake.pat}` },
        body: JSON.stringify({ url: fake.configUrl(), runner_event: 'register' }),
      });
      expect(badRemote.status).toBe(401);
    });

    it('verifies the GitHub App JWT and issues installation tokens usable like a PAT', async () => {
      const now = Math.floor(Date.now() / 1000);
      const url = `${fake.origin}/api/v3/app/installations/${fake.app.installationId}/access_tokens`;
      const call = (jwt: string, target = url): Promise<Response> =>
        fetch(target, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } });
      const good = { iat: now - 60, exp: now + 480, iss: fake.app.clientId };

      const ok = await call(appJwt(fake.app.privateKey, good));
      expect(ok.status).toBe(201);
      const { token } = (await ok.json()) as { token: string };
      expect(token).toMatch(/^ghs_/);

      expect((await call(appJwt(fake.app.privateKey, { ...good, iss: 'someone' }))).status).toBe(
        401,
      );
      expect((await call(appJwt(fake.app.privateKey, { ...good, exp: now + 1200 }))).status).toBe(
        401,
      );
      expect((await call(appJwt(fake.app.privateKey, { ...good, exp: now - 5 }))).status).toBe(401);
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      const foreign = appJwt(other.export({ type: 'pkcs1', format: 'pem' }).toString(), good);
      expect((await call(foreign)).status).toBe(401);
      const wrongInstallation = url.replace(String(fake.app.installationId), '999');
      expect((await call(appJwt(fake.app.privateKey, good), wrongInstallation)).status).toBe(404);

      const reg = await fetch(
        `${fake.origin}/api/v3/orgs/test-org/actions/runners/registration-token`,
        { method: 'POST', headers: { authorization: `Bearer ${token}` } },
      );
      expect(reg.status).toBe(201);
    });
  });

  describe('management calls (§4, §11.1 items 6–14)', () => {
    beforeEach(() => boot());

    it('requires api-version=6.0-preview and a valid admin token; query order does not matter', async () => {
      const noVersion = await gh.admin(
        'GET',
        '_apis/runtime/runnergroups/?groupName=Default&api-version=5.0',
      );
      expect(noVersion.status).toBe(400);
      expect(noVersion.headers.get('activityid')).toBeTruthy();
      expect((await gh.admin('GET', '_apis/runtime/runnergroups/', undefined, 'nope')).status).toBe(
        401,
      );
      const ordered = await gh.admin(
        'GET',
        '_apis/runtime/runnergroups/?api-version=6.0-preview&groupName=Default',
      );
      const reversed = await gh.admin(
        'GET',
        '_apis/runtime/runnergroups/?groupName=Default&api-version=6.0-preview',
      );
      expect(await ordered.json()).toEqual(await reversed.json());
    });

    it('rejects an expired admin token with 401', async () => {
      await fake.stop();
      await boot({ adminTokenTtlSec: 2 });
      expect((await gh.admin('GET', '_apis/runtime/runnergroups/?groupName=Default')).status).toBe(
        200,
      );
      await new Promise((r) => setTimeout(r, 2100));
      expect((await gh.admin('GET', '_apis/runtime/runnergroups/?groupName=Default')).status).toBe(
        401,
      );
    });

    it('finds runner groups by name with count equal to the array length', async () => {
      const res = await gh.admin('GET', '_apis/runtime/runnergroups/?groupName=Default');
      expect(await res.json()).toEqual({
        count: 1,
        value: [{ id: 1, name: 'Default', size: 0, isDefaultGroup: true }],
      });
      const none = await gh.admin('GET', '_apis/runtime/runnergroups/?groupName=gpu');
      expect(await none.json()).toEqual({ count: 0, value: [] });
      const group = fake.addRunnerGroup('gpu');
      const found = (await (
        await gh.admin('GET', '_apis/runtime/runnergroups/?groupName=gpu')
      ).json()) as { count: number; value: { id: number }[] };
      expect(found.count).toBe(1);
      expect(found.value[0]?.id).toBe(group.id);
    });

    it('creates (200), finds, patches, and deletes (204) scale sets; unknown ids are 404', async () => {
      const created = await gh.admin('POST', '_apis/runtime/runnerscalesets', {
        name: 'linux',
        runnerGroupId: 1,
        RunnerSetting: { disableUpdate: true },
        createdOn: '0001-01-01T00:00:00Z',
      });
      expect(created.status).toBe(200);
      const set = (await created.json()) as Record<string, unknown> & { id: number };
      expect(set).toMatchObject({
        name: 'linux',
        runnerGroupId: 1,
        runnerGroupName: 'Default',
        labels: [{ type: 'System', name: 'linux' }],
        runnerSetting: { disableUpdate: true },
      });
      expect(set.id).toBeGreaterThan(0);
      expect(set.createdOn).toMatch(TS);

      const byName = await gh.admin(
        'GET',
        '_apis/runtime/runnerscalesets?runnerGroupId=1&name=linux',
      );
      expect(((await byName.json()) as { count: number }).count).toBe(1);
      const missing = await gh.admin(
        'GET',
        '_apis/runtime/runnerscalesets?name=nope&runnerGroupId=1',
      );
      expect(await missing.json()).toEqual({ count: 0, value: [] });

      const patched = await gh.admin('PATCH', `_apis/runtime/runnerscalesets/${set.id}`, {
        name: 'linux-2',
        RunnerSetting: {},
        createdOn: '0001-01-01T00:00:00Z',
      });
      expect(patched.status).toBe(200);
      expect(await patched.json()).toMatchObject({
        id: set.id,
        name: 'linux-2',
        labels: set.labels,
      });
      expect(
        await (await gh.admin('GET', `_apis/runtime/runnerscalesets/${set.id}`)).json(),
      ).toMatchObject({ name: 'linux-2' });

      const deleted = await gh.admin('DELETE', `_apis/runtime/runnerscalesets/${set.id}`);
      expect(deleted.status).toBe(204);
      const gone = await gh.admin('GET', `_apis/runtime/runnerscalesets/${set.id}`);
      expect(gone.status).toBe(404);
      expect(await typeName(gone)).toContain('RunnerScaleSetNotFoundException');
    });

    it('registers runners with JIT configs, refuses duplicates, and removes them', async () => {
      const id = await gh.createScaleSet('jit');
      const path = `_apis/runtime/runnerscalesets/${id}/generatejitconfig`;
      const res = await gh.admin('POST', path, { name: 'runner-1', workFolder: '' });
      expect(res.status).toBe(200);
      const jit = (await res.json()) as {
        runner: { id: number; name: string; runnerScaleSetId: number };
        encodedJITConfig: string;
      };
      expect(jit.runner).toMatchObject({ name: 'runner-1', runnerScaleSetId: id });
      const decoded = decodeFakeJitConfig(jit.encodedJITConfig);
      expect(decoded).toMatchObject({ origin: fake.origin, runnerName: 'runner-1' });

      const dup = await gh.admin('POST', path, { name: 'runner-1', workFolder: '' });
      expect(dup.status).toBe(409);
      expect(await typeName(dup)).toContain('TaskAgentExistsException');

      const agents = '_apis/distributedtask/pools/0/agents';
      expect(await (await gh.admin('GET', `${agents}/${jit.runner.id}`)).json()).toMatchObject({
        id: jit.runner.id,
        name: 'runner-1',
        runnerScaleSetId: id,
      });
      const byName = (await (await gh.admin('GET', `${agents}?agentName=runner-1`)).json()) as {
        count: number;
      };
      expect(byName.count).toBe(1);
      expect(fake.runners(id).map((r) => r.name)).toEqual(['runner-1']);

      expect((await gh.admin('DELETE', `${agents}/${jit.runner.id}`)).status).toBe(204);
      const gone = await gh.admin('GET', `${agents}/${jit.runner.id}`);
      expect(gone.status).toBe(404);
      expect(await typeName(gone)).toContain('AgentNotFoundException');
      expect((await gh.admin('DELETE', `${agents}/424242`)).status).toBe(204);
      expect(await (await gh.admin('GET', `${agents}?agentName=runner-1`)).json()).toEqual({
        count: 0,
        value: [],
      });
    });

    it('refuses to remove a busy runner with 400 JobStillRunningException', async () => {
      const id = await gh.createScaleSet('busy');
      const session = await gh.createSession(id);
      const [job] = fake.queueJobs(1);
      await gh.collect(session, 1);
      const jitRes = await gh.admin(
        'POST',
        `_apis/runtime/runnerscalesets/${id}/generatejitconfig`,
        {
          name: 'busy-1',
          workFolder: '',
        },
      );
      const { runner } = (await jitRes.json()) as { runner: { id: number } };
      fake.startJob(job?.jobId ?? '', 'busy-1');
      const res = await gh.admin('DELETE', `_apis/distributedtask/pools/0/agents/${runner.id}`);
      expect(res.status).toBe(400);
      expect(await typeName(res)).toContain('JobStillRunningException');
      expect(fake.runners(id)).toHaveLength(1);
    });

    it('lists a planted offline registration like any other runner', async () => {
      const id = await gh.createScaleSet('planted');
      const planted = fake.plantOfflineRunner(id, 'orphan-1');
      expect(planted).toMatchObject({ name: 'orphan-1', status: 'offline', planted: true });
      const res = await gh.admin('GET', '_apis/distributedtask/pools/0/agents?agentName=orphan-1');
      expect(await res.json()).toMatchObject({
        count: 1,
        value: [{ id: planted.id, status: 'offline' }],
      });
      expect(fake.statistics(id).totalRegisteredRunners).toBe(0);
    });
  });

  describe('sessions (§4.11–4.13, §11.1 items 15–17)', () => {
    beforeEach(() => boot());

    it('creates one session per scale set; a second create is a 409 conflict', async () => {
      const id = await gh.createScaleSet('s1');
      const session = await gh.createSession(id);
      expect(session.sessionId).toMatch(UUID);
      expect(session.sessionId).not.toBe('00000000-0000-0000-0000-000000000000');
      expect(session.ownerName).toBe('test-host');
      expect(session.messageQueueUrl).toBe(`${fake.origin}/scalesets/message`);
      expect(session.messageQueueAccessToken).toBeTruthy();
      expect(session.runnerScaleSet.id).toBe(id);
      expect(Object.keys(session.statistics)).toHaveLength(7);

      const again = await gh.admin('POST', `_apis/runtime/runnerscalesets/${id}/sessions`, {
        ownerName: 'other',
      });
      expect(again.status).toBe(409);
      expect(await typeName(again)).toContain('RunnerScaleSetSessionConflictException');
      const unknown = await gh.admin('POST', '_apis/runtime/runnerscalesets/9999/sessions', {
        ownerName: 'x',
      });
      expect(unknown.status).toBe(404);
      expect(await typeName(unknown)).toContain('RunnerScaleSetNotFoundException');
    });

    it('refresh returns the full session with a new queue token and invalidates the old one', async () => {
      const id = await gh.createScaleSet('s2');
      const session = await gh.createSession(id);
      const res = await gh.admin(
        'PATCH',
        `_apis/runtime/runnerscalesets/${id}/sessions/${session.sessionId}`,
      );
      expect(res.status).toBe(200);
      const refreshed = (await res.json()) as WireSession;
      expect(refreshed.sessionId).toBe(session.sessionId);
      expect(refreshed.messageQueueAccessToken).not.toBe(session.messageQueueAccessToken);
      expect(refreshed.statistics).toBeDefined();
      expect((await gh.poll(session)).status).toBe(401);
      expect((await gh.ack(session, 100000001)).status).toBe(401);
      expect((await gh.poll(refreshed)).status).toBe(202);

      const unknown = await gh.admin(
        'PATCH',
        `_apis/runtime/runnerscalesets/${id}/sessions/11111111-1111-1111-1111-111111111111`,
      );
      expect(unknown.status).toBe(404);
      expect(await typeName(unknown)).toContain('RunnerAdminException');
    });

    it('delete is 204, a second delete 400 SessionExpired, and the scale set is free again', async () => {
      const id = await gh.createScaleSet('s3');
      const session = await gh.createSession(id);
      const path = `_apis/runtime/runnerscalesets/${id}/sessions/${session.sessionId}`;
      expect((await gh.admin('DELETE', path)).status).toBe(204);
      const again = await gh.admin('DELETE', path);
      expect(again.status).toBe(400);
      expect(await typeName(again)).toContain('RunnerScaleSetSessionExpiredException');
      expect((await gh.poll(session)).status).toBe(401);
      const next = await gh.createSession(id);
      expect(next.sessionId).not.toBe(session.sessionId);
    });

    it('expires a session left idle (a dead process) so a new one can be created', async () => {
      await fake.stop();
      await boot({ sessionIdleExpiryMs: 200 });
      const id = await gh.createScaleSet('stale');
      const stale = await gh.createSession(id);
      await expect(gh.createSession(id)).rejects.toThrow(/409/);
      await new Promise((r) => setTimeout(r, 300));
      const fresh = await gh.createSession(id);
      expect(fresh.sessionId).not.toBe(stale.sessionId);
      expect((await gh.poll(stale)).status).toBe(401);
    });
  });

  describe('message queue (§4.14–4.16, §6, §11.1 items 18–23)', () => {
    let scaleSetId: number;
    let session: WireSession;

    async function setUp(options: FakeGitHubOptions = {}): Promise<void> {
      await boot(options);
      scaleSetId = await gh.createScaleSet('queue');
      session = await gh.createSession(scaleSetId);
    }

    it('answers 202 after the poll timeout and completes a held poll early when a job arrives', async () => {
      await setUp({ pollTimeoutMs: 400 });
      const started = Date.now();
      const idle = await gh.poll(session);
      expect(idle.status).toBe(202);
      expect(await idle.text()).toBe('');
      expect(Date.now() - started).toBeGreaterThanOrEqual(350);

      await fake.stop();
      await setUp({ pollTimeoutMs: 10_000 });
      const early = Date.now();
      const pending = gh.poll(session);
      setTimeout(() => fake.queueJobs(1), 100);
      const res = await pending;
      expect(res.status).toBe(200);
      expect(Date.now() - early).toBeLessThan(5000);
    });

    it('validates X-ScaleSetMaxCapacity and lastMessageId', async () => {
      await setUp();
      expect((await gh.poll(session, { capacity: null })).status).toBe(400);
      expect((await gh.poll(session, { capacity: '-1' })).status).toBe(400);
      expect((await gh.poll(session, { capacity: 'x' })).status).toBe(400);
      expect((await gh.poll(session, { capacity: '0' })).status).toBe(202);
      const bad = await fetch(`${session.messageQueueUrl}?lastMessageId=abc`, {
        headers: {
          authorization: `Bearer ${session.messageQueueAccessToken}`,
          'X-ScaleSetMaxCapacity': '1',
        },
      });
      expect(bad.status).toBe(400);
      expect((await gh.poll(session, { token: gh.adminToken })).status).toBe(401);
    });

    it('sends well-formed envelopes: body is a JSON string, statistics always, RFC 3339 Z times', async () => {
      await setUp();
      const [job] = fake.queueJobs(1, { labels: ['queue'] });
      const res = await gh.poll(session);
      expect(res.status).toBe(200);
      const message = (await res.json()) as WireMessage;
      expect(message.messageType).toBe('RunnerScaleSetJobMessages');
      expect(message.messageId).toBeGreaterThanOrEqual(100_000_000);
      expect(typeof message.body).toBe('string');
      const jobs = JSON.parse(message.body) as WireJobMessage[];
      expect(jobs).toHaveLength(1);
      expect(jobs[0]).toMatchObject({
        messageType: 'JobAssigned',
        jobId: job?.jobId,
        runnerRequestId: job?.runnerRequestId,
        requestLabels: ['queue'],
        ownerName: 'test-org',
        repositoryName: 'test-repo',
        runnerAssignTime: '0001-01-01T00:00:00Z',
      });
      for (const key of ['queueTime', 'scaleSetAssignTime', 'runnerAssignTime', 'finishTime']) {
        expect((jobs[0] as unknown as Record<string, string>)[key]).toMatch(TS);
      }
      expect(message.statistics).toEqual({
        totalAvailableJobs: 0,
        totalAcquiredJobs: 0,
        totalAssignedJobs: 1,
        totalRunningJobs: 0,
        totalRegisteredRunners: 0,
        totalBusyRunners: 0,
        totalIdleRunners: 0,
      });
    });

    it('redelivers until DELETE (204) and honours lastMessageId', async () => {
      await setUp();
      fake.queueJobs(1);
      const first = await gh.nextMessage(session);
      const again = await gh.nextMessage(session);
      expect(again.message.messageId).toBe(first.message.messageId);

      fake.queueJobs(1);
      await new Promise((r) => setImmediate(r));
      const second = await gh.nextMessage(session, first.message.messageId);
      expect(second.message.messageId).toBeGreaterThan(first.message.messageId);
      // lastMessageId absent → the oldest undeleted message again.
      expect((await gh.nextMessage(session)).message.messageId).toBe(first.message.messageId);
      // Nothing newer than the newest → held, then 202.
      expect((await gh.poll(session, { lastMessageId: second.message.messageId })).status).toBe(
        202,
      );

      const ack = await gh.ack(session, first.message.messageId);
      expect(ack.status).toBe(204);
      expect((await gh.nextMessage(session)).message.messageId).toBe(second.message.messageId);
      expect((await gh.ack(session, second.message.messageId)).status).toBe(204);
      expect((await gh.ack(session, second.message.messageId)).status).toBe(204);
      expect((await gh.poll(session)).status).toBe(202);
      expect((await gh.ack(session, 999_999_999)).status).toBe(404);
    });

    it('batches at most 50 job messages per envelope and caps assignment at X-ScaleSetMaxCapacity', async () => {
      await setUp();
      fake.queueJobs(60);
      const first = await gh.nextMessage(session, 0, '100');
      expect(first.jobs).toHaveLength(50);
      expect(first.message.statistics.totalAssignedJobs).toBe(60);
      await gh.ack(session, first.message.messageId);
      const second = await gh.nextMessage(session, first.message.messageId, '100');
      expect(second.jobs).toHaveLength(10);
      expect(second.message.messageId).toBeGreaterThan(first.message.messageId);

      await fake.stop();
      await setUp();
      fake.queueJobs(5);
      const capped = await gh.nextMessage(session, 0, '2');
      expect(capped.jobs.map((j) => j.messageType)).toEqual(['JobAssigned', 'JobAssigned']);
      expect(capped.message.statistics.totalAssignedJobs).toBe(2);
      await gh.ack(session, capped.message.messageId);
      expect((await gh.poll(session, { capacity: '2' })).status).toBe(202);
      expect(fake.jobs().filter((j) => j.state === 'pending')).toHaveLength(3);
    });

    it('runs the job state machine: assigned → started → completed, with consistent statistics', async () => {
      await setUp();
      const [job] = fake.queueJobs(1, { result: 'failed' });
      const [assigned] = await gh.collect(session, 1);
      expect(assigned?.messageType).toBe('JobAssigned');
      await gh.admin('POST', `_apis/runtime/runnerscalesets/${scaleSetId}/generatejitconfig`, {
        name: 'r-1',
        workFolder: '',
      });
      fake.setRunnerOnline('r-1');
      fake.startJob(job?.jobId ?? '');
      const started = await gh.nextMessage(session);
      expect(started.jobs[0]).toMatchObject({ messageType: 'JobStarted', runnerName: 'r-1' });
      expect(started.jobs[0]?.runnerId).toBeGreaterThan(0);
      expect(started.message.statistics).toMatchObject({
        totalAssignedJobs: 1,
        totalRunningJobs: 1,
        totalRegisteredRunners: 1,
        totalBusyRunners: 1,
        totalIdleRunners: 0,
      });
      await gh.ack(session, started.message.messageId);
      fake.completeJob(job?.jobId ?? '');
      const done = await gh.nextMessage(session);
      expect(done.jobs[0]).toMatchObject({
        messageType: 'JobCompleted',
        result: 'failed',
        runnerName: 'r-1',
      });
      expect(done.jobs[0]?.finishTime).not.toBe('0001-01-01T00:00:00Z');
      expect(done.message.statistics.totalAssignedJobs).toBe(0);
      expect(fake.runners(scaleSetId)).toHaveLength(0);
    });

    it('acquire mode: JobAvailable, acquire with the queue token only, then JobAssigned', async () => {
      await setUp({ mode: 'acquire' });
      const [job] = fake.queueJobs(1);
      const available = await gh.nextMessage(session);
      expect(available.jobs[0]).toMatchObject({
        messageType: 'JobAvailable',
        runnerRequestId: job?.runnerRequestId,
        acquireJobUrl: `${fake.origin}/tenant/123/_apis/runtime/runnerscalesets/${scaleSetId}/acquirejobs`,
      });
      expect(available.message.statistics.totalAvailableJobs).toBe(1);
      await gh.ack(session, available.message.messageId);
      expect((await gh.poll(session)).status).toBe(202);

      const acquire = `_apis/runtime/runnerscalesets/${scaleSetId}/acquirejobs`;
      expect((await gh.admin('POST', acquire, [job?.runnerRequestId])).status).toBe(401);
      const empty = await gh.admin('POST', acquire, [], session.messageQueueAccessToken);
      expect(await empty.json()).toEqual({ count: 0, value: [] });
      const res = await gh.admin(
        'POST',
        acquire,
        [job?.runnerRequestId],
        session.messageQueueAccessToken,
      );
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ count: 1, value: [job?.runnerRequestId] });
      const assigned = await gh.nextMessage(session, available.message.messageId);
      expect(assigned.jobs[0]).toMatchObject({ messageType: 'JobAssigned', jobId: job?.jobId });
    });

    it('cancels and reassigns a job no runner started, at most 3 times', async () => {
      await setUp({ reassignAfterMs: 80 });
      const [job] = fake.queueJobs(1);
      const seen = await gh.collect(session, 7);
      expect(seen.map((j) => j.messageType)).toEqual([
        'JobAssigned',
        'JobCompleted',
        'JobAssigned',
        'JobCompleted',
        'JobAssigned',
        'JobCompleted',
        'JobAssigned',
      ]);
      expect(seen[1]).toMatchObject({ result: 'canceled', runnerId: 0, runnerName: '' });
      await new Promise((r) => setTimeout(r, 250));
      expect(fake.job(job?.jobId ?? '')).toMatchObject({ state: 'assigned', reassignments: 3 });
    });

    it('drops JobCompleted, duplicates and reorders messages on request', async () => {
      await setUp();
      fake.duplicateMessages(1);
      fake.queueJobs(1);
      const a = await gh.nextMessage(session);
      await gh.ack(session, a.message.messageId);
      const b = await gh.nextMessage(session, a.message.messageId);
      expect(b.message.messageId).toBeGreaterThan(a.message.messageId);
      expect(b.message.body).toBe(a.message.body);
      await gh.ack(session, b.message.messageId);

      fake.reorderMessages(1);
      const [j2] = fake.queueJobs(1);
      await gh.admin('POST', `_apis/runtime/runnerscalesets/${scaleSetId}/generatejitconfig`, {
        name: 'r-x',
        workFolder: '',
      });
      fake.assignJob(j2?.jobId ?? '');
      fake.startJob(j2?.jobId ?? '', 'r-x');
      fake.completeJob(j2?.jobId ?? '');
      const reordered = await gh.nextMessage(session, b.message.messageId);
      expect(reordered.jobs.map((j) => j.messageType)).toEqual([
        'JobCompleted',
        'JobStarted',
        'JobAssigned',
      ]);
      await gh.ack(session, reordered.message.messageId);

      fake.dropJobCompleted(true);
      const [j3] = fake.queueJobs(1);
      const assigned = await gh.nextMessage(session, reordered.message.messageId);
      await gh.ack(session, assigned.message.messageId);
      fake.completeJob(j3?.jobId ?? '');
      expect((await gh.poll(session, { lastMessageId: assigned.message.messageId })).status).toBe(
        202,
      );
      expect(fake.job(j3?.jobId ?? '')?.state).toBe('completed');
    });

    it('stop() completes a pending long poll', async () => {
      await setUp({ pollTimeoutMs: 30_000 });
      const pending = gh.poll(session);
      await fake.waitFor(() => fake.sessions()[0]?.pendingPolls === 1, 2000, 'poll held');
      await fake.stop();
      expect((await pending).status).toBe(202);
    });
  });

  describe('fault injection (§11.1 items 24–26, 29)', () => {
    beforeEach(() => boot());

    it('answers the next N calls with a status, then recovers; Retry-After and text bodies pass through', async () => {
      fake.injectFault({ endpoint: 'getRunnerGroup', status: 503, times: 2 });
      const path = '_apis/runtime/runnergroups/?groupName=Default';
      expect((await gh.admin('GET', path)).status).toBe(503);
      expect((await gh.admin('GET', path)).status).toBe(503);
      expect((await gh.admin('GET', path)).status).toBe(200);

      fake.injectFault({
        endpoint: 'getRunnerGroup',
        status: 429,
        headers: { 'Retry-After': '3' },
      });
      const limited = await gh.admin('GET', path);
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('3');

      fake.injectFault({
        endpoint: '*',
        status: 400,
        body: 'plain failure',
        contentType: 'text/plain',
      });
      const plain = await gh.admin('GET', path);
      expect(plain.status).toBe(400);
      expect(plain.headers.get('content-type')).toBe('text/plain');
      expect(await plain.text()).toBe('plain failure');
      expect(fake.requestsFor('getRunnerGroup').map((r) => r.status)).toEqual([
        503, 503, 200, 429, 400,
      ]);
    });

    it('applies a probabilistic fault only within its time window', async () => {
      fake.injectFault({ endpoint: 'getRunnerGroup', status: 500, probability: 0.5, untilMs: 400 });
      const path = '_apis/runtime/runnergroups/?groupName=Default';
      const during = await Promise.all(
        Array.from({ length: 40 }, async () => (await gh.admin('GET', path)).status),
      );
      expect(during.filter((s) => s === 500).length).toBeGreaterThan(0);
      expect(during.filter((s) => s === 200).length).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 450));
      const after = await Promise.all(
        Array.from({ length: 20 }, async () => (await gh.admin('GET', path)).status),
      );
      expect(after.every((s) => s === 200)).toBe(true);
    });

    it('injects 404 on session refresh, 409 on create, 401 on polls, empty bodies, delays and a BOM', async () => {
      const id = await gh.createScaleSet('faults');
      fake.injectFault({ endpoint: 'createSession', status: 409 });
      await expect(gh.createSession(id)).rejects.toThrow(/409/);
      const session = await gh.createSession(id);
      fake.injectFault({ endpoint: 'refreshSession', status: 404 });
      const refresh = `_apis/runtime/runnerscalesets/${id}/sessions/${session.sessionId}`;
      expect((await gh.admin('PATCH', refresh)).status).toBe(404);
      expect((await gh.admin('PATCH', refresh)).status).toBe(200);

      fake.injectFault({ endpoint: 'getMessage', emptyBody: true });
      const empty = await gh.poll(session, { token: 'anything' });
      expect(empty.status).toBe(200);
      expect(await empty.text()).toBe('');

      fake.injectFault({ endpoint: 'getRunnerGroup', delayMs: 250 });
      const started = Date.now();
      expect((await gh.admin('GET', '_apis/runtime/runnergroups/?groupName=Default')).status).toBe(
        200,
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(240);

      fake.injectFault({ endpoint: 'getScaleSet', bom: true });
      const bom = Buffer.from(
        await (await gh.admin('GET', `_apis/runtime/runnerscalesets/${id}`)).arrayBuffer(),
      );
      expect([...bom.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
      expect(JSON.parse(bom.subarray(3).toString('utf8'))).toMatchObject({ id });

      fake.injectFault({ endpoint: 'deleteMessage', status: 501, times: 1 });
      expect((await gh.ack(session, 100000001)).status).toBe(501);
    });

    it('prefixes every JSON body with a BOM when constructed with bom: true', async () => {
      await fake.stop();
      await boot({ bom: true });
      expect(gh.serviceUrl).toBe(`${fake.origin}/tenant/123/`);
      const raw = Buffer.from(
        await (
          await gh.admin('GET', '_apis/runtime/runnergroups/?groupName=Default')
        ).arrayBuffer(),
      );
      expect([...raw.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    });
  });

  describe('recording, control API and runners', () => {
    beforeEach(() => boot());

    it('records requests with lower-case headers, endpoint names and counters', async () => {
      await gh.admin('GET', '_apis/runtime/runnergroups/?groupName=Default');
      const rec = fake.requestsFor('getRunnerGroup')[0];
      expect(rec).toMatchObject({
        method: 'GET',
        path: '/tenant/123/_apis/runtime/runnergroups/',
        query: { groupName: 'Default', 'api-version': '6.0-preview' },
        status: 200,
        endpoint: 'getRunnerGroup',
      });
      expect(rec?.headers['content-type']).toBe('application/json');
      expect(rec?.headers.authorization).toMatch(/^Bearer /);
      const stats = fake.stats();
      expect(stats.byEndpoint.registrationToken).toBe(1);
      expect(stats.byEndpoint.runnerRegistration).toBe(1);
      expect(stats.peakRequestsPerSecond).toBeGreaterThanOrEqual(1);
      fake.clearRequests();
      expect(fake.requests).toHaveLength(0);
    });

    it('serves the control API over HTTP', async () => {
      const id = await gh.createScaleSet('ctl');
      const control = (method: string, path: string, body?: unknown): Promise<Response> =>
        fetch(`${fake.origin}/_fake/control/${path}`, {
          method,
          headers: { 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      const queued = (await (
        await control('POST', 'jobs', { count: 2, durationMs: 5 })
      ).json()) as {
        jobId: string;
      }[];
      expect(queued).toHaveLength(2);
      const jobs = (await (await control('GET', 'jobs')).json()) as { jobId: string }[];
      expect(jobs.map((j) => j.jobId)).toEqual(queued.map((j) => j.jobId));
      await control('POST', 'faults', { endpoint: 'getScaleSet', status: 500 });
      expect((await gh.admin('GET', `_apis/runtime/runnerscalesets/${id}`)).status).toBe(500);
      const planted = await control('POST', 'runners/plant', { scaleSetId: id, name: 'ghost' });
      expect(await planted.json()).toMatchObject({ name: 'ghost', scaleSetId: id });
      const listed = (await (await control('GET', `scale-sets/${id}/runners`)).json()) as unknown[];
      expect(listed).toHaveLength(1);
      const info = (await (await control('GET', 'info')).json()) as { configUrls: { org: string } };
      expect(info.configUrls.org).toBe(`${fake.origin}/test-org`);
      expect((await control('GET', 'nothing')).status).toBe(404);
      expect((await control('POST', 'faults', { endpoint: 'bogus', status: 500 })).status).toBe(
        400,
      );
      expect((await control('DELETE', `scale-sets/${id}`)).status).toBe(200);
      const vanished = await gh.admin('POST', `_apis/runtime/runnerscalesets/${id}/sessions`, {
        ownerName: 'x',
      });
      expect(vanished.status).toBe(404);
      expect(await typeName(vanished)).toContain('RunnerScaleSetNotFoundException');
    });

    it('lets an in-process runner take a job with its JIT config; the config is single-use', async () => {
      const id = await gh.createScaleSet('inproc');
      const session = await gh.createSession(id);
      fake.queueJobs(1, { durationMs: 20, result: 'succeeded' });
      await gh.collect(session, 1);
      const res = await gh.admin('POST', `_apis/runtime/runnerscalesets/${id}/generatejitconfig`, {
        name: 'proc-1',
        workFolder: '',
      });
      const { encodedJITConfig } = (await res.json()) as { encodedJITConfig: string };
      const outcome = await runFakeRunner(encodedJITConfig);
      expect(outcome).toMatchObject({ runnerName: 'proc-1', result: 'succeeded' });
      const seen = await gh.collect(session, 2);
      expect(seen.map((j) => [j.messageType, j.runnerName])).toEqual([
        ['JobStarted', 'proc-1'],
        ['JobCompleted', 'proc-1'],
      ]);
      await expect(runFakeRunner(encodedJITConfig)).rejects.toThrow(/401/);
    });

    it('reports job messages and runners coming online to event listeners, as they happen', async () => {
      const id = await gh.createScaleSet('events');
      const session = await gh.createSession(id);
      const events: FakeServiceEvent[] = [];
      const unsubscribe = fake.onEvent((e) => events.push(e));
      const before = Date.now();
      const [job] = fake.queueJobs(1, { durationMs: 5 });
      await gh.collect(session, 1);
      expect(events).toEqual([
        {
          kind: 'job-message',
          at: expect.any(Number) as number,
          scaleSetId: id,
          messageType: 'JobAssigned',
          jobId: job?.jobId,
          runnerRequestId: job?.runnerRequestId,
        },
      ]);
      expect(events[0]?.at).toBeGreaterThanOrEqual(before - 1);
      expect(events[0]?.at).toBeLessThanOrEqual(Date.now() + 1);
      const res = await gh.admin('POST', `_apis/runtime/runnerscalesets/${id}/generatejitconfig`, {
        name: 'ev-1',
        workFolder: '',
      });
      const { encodedJITConfig } = (await res.json()) as { encodedJITConfig: string };
      await runFakeRunner(encodedJITConfig);
      expect(events.map((e) => (e.kind === 'job-message' ? e.messageType : e.kind))).toEqual([
        'JobAssigned',
        'runner-online',
        'JobStarted',
        'JobCompleted',
      ]);
      expect(events[1]).toMatchObject({
        kind: 'runner-online',
        scaleSetId: id,
        runnerName: 'ev-1',
      });
      unsubscribe();
      fake.queueJobs(1);
      expect(events).toHaveLength(4);
    });
  });

  it('parses the CLI arguments and rejects unknown ones', () => {
    expect(
      parseFakeGitHubArgs(['--port', '8080', '--poll-timeout-ms=500', '--mode', 'acquire']),
    ).toEqual({
      port: 8080,
      options: { pollTimeoutMs: 500, mode: 'acquire' },
    });
    expect(() => parseFakeGitHubArgs(['--mode', 'other'])).toThrow(/assign or acquire/);
    expect(() => parseFakeGitHubArgs(['--nope'])).toThrow(/unknown argument/);
    fake = new FakeGitHub();
  });
});

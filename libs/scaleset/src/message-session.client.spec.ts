import { inspect } from 'node:util';
import {
  MessageQueueTokenExpiredError,
  ScaleSetApiError,
  ScaleSetArgumentError,
  SessionNotFoundError,
} from './errors';
import { ScaleSetClient } from './scaleset.client';
import type { RunnerScaleSetSession } from './scaleset.types';
import { FakeActionsServer, type RecordedRequest, type Reply } from './test/fake-actions.server';

const SESSION_ID = '3f2504e0-4f89-11d3-9a0c-0305e82c3301';
const SESSIONS = '/tenant/123/_apis/runtime/runnerscalesets/5/sessions';
const QUEUE = '/scalesets/message';
const stats = { totalAssignedJobs: 1, totalRunningJobs: 0 };

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

describe('MessageSessionClient', () => {
  let server: FakeActionsServer;
  let client: ScaleSetClient;
  /** Queue token the fake currently accepts. */
  let validToken: string;
  let tokenCounter: number;

  const session = (token: string) => ({
    sessionId: SESSION_ID,
    ownerName: 'host-1',
    runnerScaleSet: { id: 5, name: 'set' },
    messageQueueUrl: `${server.origin}${QUEUE}?tenant=abc`,
    messageQueueAccessToken: token,
    statistics: stats,
  });

  const onQueue = (handler: (r: RecordedRequest) => Reply | undefined) => {
    server.on((r) => {
      if (!r.path.startsWith(QUEUE) && !r.path.endsWith('/acquirejobs')) {
        return undefined;
      }
      if (r.headers.authorization !== `Bearer ${validToken}`) {
        return { status: 401, body: 'token expired' };
      }
      return handler(r);
    });
  };

  beforeEach(async () => {
    server = new FakeActionsServer();
    await server.start();
    tokenCounter = 1;
    validToken = 'queue-token-0001';
    server.on((r) => {
      if (r.method === 'POST' && r.path === SESSIONS) {
        return { status: 200, body: session(validToken) };
      }
      if (r.method === 'PATCH' && r.path === `${SESSIONS}/${SESSION_ID}`) {
        tokenCounter += 1;
        validToken = `queue-token-000${tokenCounter}`;
        return { status: 200, body: session(validToken) };
      }
      if (r.method === 'DELETE' && r.path === `${SESSIONS}/${SESSION_ID}`) {
        return { status: 204 };
      }
      return undefined;
    });
    client = new ScaleSetClient({
      configUrl: server.configUrl,
      auth: { kind: 'pat', token: 'ghp_PersonalAccessToken0123456789abcdef' },
      retry: { waitMinMs: 10, waitMaxMs: 20 },
      proxy: 'none',
      env: {},
    });
  });
  afterEach(async () => {
    await client.close();
    await server.stop();
  });

  it('creates a session with the SDK body and long-polls with the queue headers', async () => {
    onQueue((r) =>
      r.method === 'GET'
        ? {
            status: 200,
            body: {
              messageId: 11,
              messageType: 'RunnerScaleSetJobMessages',
              body: JSON.stringify([{ messageType: 'JobAssigned', runnerRequestId: 1 }]),
              statistics: stats,
            },
          }
        : undefined,
    );
    client.setScaleSetId(5);
    const sessionClient = await client.createMessageSessionClient(5, 'host-1');
    expect(server.hits('POST', SESSIONS)[0]?.body).toBe(
      '{"sessionId":"00000000-0000-0000-0000-000000000000","ownerName":"host-1"}',
    );
    expect(sessionClient.session).toMatchObject({ sessionId: SESSION_ID, statistics: stats });

    const message = await sessionClient.getMessage(10, 7);
    expect(message?.messageId).toBe(11);
    expect(message?.jobAssignedMessages).toHaveLength(1);
    const [poll] = server.hits('GET', QUEUE);
    expect(poll?.rawUrl).toBe(`${QUEUE}?lastMessageId=10&tenant=abc`);
    expect(poll?.headers.authorization).toBe('Bearer queue-token-0001');
    expect(poll?.headers.accept).toBe('application/json; api-version=6.0-preview');
    expect(poll?.headers['x-scalesetmaxcapacity']).toBe('7');
    expect(poll?.headers['content-type']).toBeUndefined();
    expect(JSON.parse(poll?.headers['user-agent'] ?? '')).toMatchObject({ scale_set_id: 5 });

    await sessionClient.getMessage(0, 0);
    expect(server.hits('GET', QUEUE)[1]?.rawUrl).toBe(`${QUEUE}?tenant=abc`);
    expect(server.hits('GET', QUEUE)[1]?.headers['x-scalesetmaxcapacity']).toBe('0');
  });

  it('returns null on 202', async () => {
    onQueue(() => ({ status: 202 }));
    const sessionClient = await client.createMessageSessionClient(5, 'host-1');
    await expect(sessionClient.getMessage(0, 10)).resolves.toBeNull();
  });

  it('on 401 refreshes the session once and retries once', async () => {
    const sessionClient = await client.createMessageSessionClient(5, 'host-1');
    validToken = 'queue-token-expired';
    tokenCounter = 1;
    onQueue(() => ({ status: 202 }));
    await expect(sessionClient.getMessage(0, 10)).resolves.toBeNull();
    const sequence = server.requests
      .filter((r) => r.path.startsWith('/tenant/') || r.path.startsWith(QUEUE))
      .map(
        (r) =>
          `${r.method} ${r.path} ${(r.headers.authorization ?? '').replace(/^Bearer eyJ.*$/, 'Bearer <admin>')}`,
      );
    expect(sequence).toEqual([
      `POST ${SESSIONS} Bearer <admin>`,
      `GET ${QUEUE} Bearer queue-token-0001`,
      `PATCH ${SESSIONS}/${SESSION_ID} Bearer <admin>`,
      `GET ${QUEUE} Bearer queue-token-0002`,
    ]);
    expect(sessionClient.session.messageQueueAccessToken).toBe('queue-token-0002');
    expect(server.hits('PATCH', SESSION_ID)[0]?.body).toBe('');
    expect(server.hits('PATCH', SESSION_ID)[0]?.headers['content-type']).toBe('application/json');
  });

  it('reports a second 401 as MessageQueueTokenExpiredError without leaking tokens', async () => {
    const sessionClient = await client.createMessageSessionClient(5, 'host-1');
    server.on((r) =>
      r.path.startsWith(QUEUE)
        ? { status: 401, body: `bad ${r.headers.authorization ?? ''}` }
        : undefined,
    );
    const err = await failure(sessionClient.deleteMessage(11));
    expect(err).toBeInstanceOf(MessageQueueTokenExpiredError);
    expect((err as ScaleSetApiError).status).toBe(401);
    expect(server.hits('DELETE', `${QUEUE}/11`)).toHaveLength(2);
    expect(server.hits('PATCH', SESSION_ID)).toHaveLength(1);
    for (const form of [err.message, String(err), JSON.stringify(err), inspect(err)]) {
      expect(form).not.toContain('queue-token-000');
    }
  });

  it('concurrent 401s share one refresh', async () => {
    const sessionClient = await client.createMessageSessionClient(5, 'host-1');
    validToken = 'queue-token-0002';
    onQueue(() => ({ status: 202 }));
    await Promise.all([
      sessionClient.getMessage(0, 1),
      sessionClient.getMessage(0, 1),
      sessionClient.getMessage(0, 1),
    ]);
    expect(server.hits('PATCH', SESSION_ID)).toHaveLength(1);
  });

  it('surfaces an evicted session (404 on refresh) as SessionNotFoundError', async () => {
    const sessionClient = await client.createMessageSessionClient(5, 'host-1');
    server.on((r) =>
      r.method === 'PATCH'
        ? {
            status: 404,
            body: {
              typeName: 'GitHub.Actions.Runtime.WebApi.RunnerAdminException',
              message: "runner referenced a session ID that doesn't exist in redis",
            },
          }
        : r.path.startsWith(QUEUE)
          ? { status: 401 }
          : undefined,
    );
    await expect(sessionClient.getMessage(3, 1)).rejects.toBeInstanceOf(SessionNotFoundError);
  });

  it('acks with DELETE <queue path>/<id> and treats anything but 204 as an error', async () => {
    let status = 204;
    onQueue((r) => (r.method === 'DELETE' ? { status } : undefined));
    const sessionClient = await client.createMessageSessionClient(5, 'host-1');
    await sessionClient.deleteMessage(100000171);
    const [ack] = server.hits('DELETE', `${QUEUE}/100000171`);
    expect(ack?.rawUrl).toBe(`${QUEUE}/100000171?tenant=abc`);
    expect(ack?.headers['content-type']).toBe('application/json');
    status = 200;
    const err = await failure(sessionClient.deleteMessage(100000172));
    expect(err).toBeInstanceOf(ScaleSetApiError);
    expect((err as ScaleSetApiError).status).toBe(200);
  });

  it('acquires jobs on the service URL with the queue token', async () => {
    onQueue((r) => ({
      status: 200,
      body: { count: 1, value: (JSON.parse(r.body) as number[]).slice(0, 1) },
    }));
    const sessionClient = await client.createMessageSessionClient(5, 'host-1');
    await expect(sessionClient.acquireJobs([1, 2])).resolves.toEqual([1]);
    const [acquire] = server.hits('POST', '/acquirejobs');
    expect(acquire?.rawUrl).toBe(
      '/tenant/123/_apis/runtime/runnerscalesets/5/acquirejobs?api-version=6.0-preview',
    );
    expect(acquire?.headers.authorization).toBe('Bearer queue-token-0001');
    expect(acquire?.body).toBe('[1,2]');
  });

  it.each([
    ['an empty body', '', 'EOF'],
    ['non-JSON', 'nope', 'invalid JSON'],
    [
      'a wrong message type',
      JSON.stringify({ messageId: 1, messageType: 'Other', body: '' }),
      'unsupported message type',
    ],
  ])('rejects a 200 with %s', async (_label, body, fragment) => {
    onQueue(() => ({ status: 200, body }));
    const sessionClient = await client.createMessageSessionClient(5, 'host-1');
    const err = await failure(sessionClient.getMessage(0, 1));
    expect(err).toBeInstanceOf(ScaleSetApiError);
    expect(err.message).toContain(fragment);
  });

  it('works from a handed-over session and deletes it on close', async () => {
    const handedOver: RunnerScaleSetSession = {
      ...session('queue-token-0001'),
      runnerScaleSet: null,
      statistics: null,
    };
    onQueue(() => ({ status: 202 }));
    const sessionClient = client.messageSessionClientFor(5, handedOver);
    await expect(sessionClient.getMessage(0, 1)).resolves.toBeNull();
    await sessionClient.close();
    expect(server.hits('POST', SESSIONS)).toHaveLength(0);
    expect(server.hits('DELETE', `${SESSIONS}/${SESSION_ID}`)).toHaveLength(1);
  });

  it('deletes a predecessor session by id only', async () => {
    await client.deleteMessageSession(5, SESSION_ID);
    expect(server.hits('DELETE', `${SESSIONS}/${SESSION_ID}`)[0]?.rawUrl).toBe(
      `${SESSIONS}/${SESSION_ID}?api-version=6.0-preview`,
    );
  });

  it('rejects a session without a usable queue URL and bad arguments before sending', async () => {
    const sessionClient = client.messageSessionClientFor(5, {
      ...session('t'),
      runnerScaleSet: null,
      statistics: null,
      messageQueueUrl: '',
    });
    await expect(sessionClient.getMessage(0, 1)).rejects.toThrow('no usable messageQueueUrl');
    const remote = client.messageSessionClientFor(5, {
      ...session('t'),
      runnerScaleSet: null,
      statistics: null,
      messageQueueUrl: 'http://example.com/m',
    });
    await expect(remote.getMessage(0, 1)).rejects.toThrow('no usable messageQueueUrl');
    await expect(sessionClient.getMessage(0, -1)).rejects.toBeInstanceOf(ScaleSetArgumentError);
    expect(server.requests).toHaveLength(0);
  });
});

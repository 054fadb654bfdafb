import type { FakeGitHub } from './fake-github.server';
import type { WireJobMessage, WireMessage } from './fake-github.types';

/** A session as returned by create/refresh session. */
export interface WireSession {
  sessionId: string;
  ownerName: string;
  messageQueueUrl: string;
  messageQueueAccessToken: string;
  statistics: Record<string, number>;
  runnerScaleSet: { id: number; name: string };
}

/**
 * Minimal wire-level client of the fake used by its own tests: plain `fetch`, no retries,
 * nothing shared with `@app/scaleset`.
 */
export class FakeWireClient {
  serviceUrl = '';
  adminToken = '';

  constructor(private readonly fake: FakeGitHub) {}

  /** Runs PAT → registration token → runner-registration. */
  async bootstrap(): Promise<void> {
    const reg = await fetch(
      `${this.fake.origin}/api/v3/orgs/test-org/actions/runners/registration-token`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${this.fake.pat}` },
      },
    );
    const { token } = (await reg.json()) as { token: string };
    const res = await fetch(`${this.fake.origin}/api/v3/actions/runner-registration`, {
      method: 'POST',
      headers: { authorization: `RemoteAuth ${token}`, 'content-type': 'application/json' },
      body: `${JSON.stringify({ url: this.fake.configUrl(), runner_event: 'register' })}\n`,
    });
    const admin = (await res.json()) as { url: string; token: string };
    this.serviceUrl = admin.url;
    this.adminToken = admin.token;
  }

  /** A management call; `path` is relative to the service URL, `api-version` is added. */
  async admin(method: string, path: string, body?: unknown, token?: string): Promise<Response> {
    const url = new URL(path, this.serviceUrl);
    if (!url.searchParams.has('api-version')) {
      url.searchParams.set('api-version', '6.0-preview');
    }
    const init: RequestInit = {
      method,
      headers: {
        authorization: `Bearer ${token ?? this.adminToken}`,
        'content-type': 'application/json',
      },
    };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
    }
    return fetch(url, init);
  }

  async createScaleSet(name: string, extra: Record<string, unknown> = {}): Promise<number> {
    const res = await this.admin('POST', '_apis/runtime/runnerscalesets', {
      name,
      runnerGroupId: 1,
      RunnerSetting: { disableUpdate: true },
      createdOn: '0001-01-01T00:00:00Z',
      ...extra,
    });
    const body = (await res.json()) as { id: number };
    return body.id;
  }

  async createSession(scaleSetId: number): Promise<WireSession> {
    const res = await this.admin('POST', `_apis/runtime/runnerscalesets/${scaleSetId}/sessions`, {
      sessionId: '00000000-0000-0000-0000-000000000000',
      ownerName: 'test-host',
    });
    if (res.status !== 200) {
      throw new Error(`create session answered ${res.status}: ${await res.text()}`);
    }
    return (await res.json()) as WireSession;
  }

  async poll(
    session: WireSession,
    opts: { lastMessageId?: number; capacity?: string | null; token?: string } = {},
  ): Promise<Response> {
    const url = new URL(session.messageQueueUrl);
    if (opts.lastMessageId !== undefined && opts.lastMessageId > 0) {
      url.searchParams.set('lastMessageId', String(opts.lastMessageId));
    }
    const headers: Record<string, string> = {
      authorization: `Bearer ${opts.token ?? session.messageQueueAccessToken}`,
      accept: 'application/json; api-version=6.0-preview',
    };
    if (opts.capacity !== null) {
      headers['x-scalesetmaxcapacity'] = opts.capacity ?? '10';
    }
    return fetch(url, { headers });
  }

  /** Polls until a 200, returning the envelope and its parsed job messages. */
  async nextMessage(
    session: WireSession,
    lastMessageId = 0,
    capacity = '10',
  ): Promise<{ message: WireMessage; jobs: WireJobMessage[] }> {
    for (let i = 0; i < 50; i += 1) {
      const res = await this.poll(session, { lastMessageId, capacity });
      if (res.status === 200) {
        const message = (await res.json()) as WireMessage;
        const jobs = message.body === '' ? [] : (JSON.parse(message.body) as WireJobMessage[]);
        return { message, jobs };
      }
      if (res.status !== 202) {
        throw new Error(`get message answered ${res.status}: ${await res.text()}`);
      }
    }
    throw new Error('no message after 50 polls');
  }

  async ack(session: WireSession, messageId: number, token?: string): Promise<Response> {
    return fetch(`${session.messageQueueUrl}/${messageId}`, {
      method: 'DELETE',
      headers: {
        authorization: `Bearer ${token ?? session.messageQueueAccessToken}`,
        'content-type': 'application/json',
      },
    });
  }

  /** Receives and acknowledges messages until `count` job messages have arrived. */
  async collect(session: WireSession, count: number, capacity = '10'): Promise<WireJobMessage[]> {
    const out: WireJobMessage[] = [];
    let last = 0;
    while (out.length < count) {
      const { message, jobs } = await this.nextMessage(session, last, capacity);
      await this.ack(session, message.messageId);
      last = message.messageId;
      out.push(...jobs);
    }
    return out;
  }
}

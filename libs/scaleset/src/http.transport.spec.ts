import { FakeActionsServer } from './test/fake-actions.server';
import { ScaleSetApiError, isRetryable } from './errors';
import {
  backoffMs,
  createDispatcher,
  DEFAULT_RETRY_POLICY,
  HttpTransport,
  NOOP_LOGGER,
  parseRetryAfter,
  type RetryPolicy,
} from './http.transport';
import { SecretRedactor } from './secret.redactor';

function transport(retry: Partial<RetryPolicy> = {}, timeoutMs = 5_000): HttpTransport {
  return new HttpTransport({
    dispatcher: createDispatcher({ proxy: 'none', env: {} }),
    retry: { ...DEFAULT_RETRY_POLICY, waitMinMs: 10, waitMaxMs: 40, ...retry },
    timeoutMs,
    logger: NOOP_LOGGER,
    redactor: new SecretRedactor(),
  });
}

describe('HttpTransport retry policy (§3.5)', () => {
  const server = new FakeActionsServer();
  let http: HttpTransport;

  beforeAll(async () => {
    await server.start();
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(() => {
    server.requests.length = 0;
    http = transport();
  });
  afterEach(async () => {
    await http.close();
  });

  const get = (path: string, signal?: AbortSignal) =>
    http.send({ method: 'GET', url: new URL(`${server.origin}${path}`), headers: {}, signal });

  it('makes exactly RetryMax + 1 attempts on a persistent 500 and returns the last response', async () => {
    server.on((r) => (r.path === '/p500' ? { status: 500, body: 'boom' } : undefined));
    const response = await get('/p500');
    expect(response.status).toBe(500);
    expect(response.attempts).toBe(5);
    expect(server.hits('GET', '/p500')).toHaveLength(5);
  });

  it('honours an explicit RetryMax of 0 and 3', async () => {
    server.on((r) => (r.path === '/p503' ? { status: 503 } : undefined));
    const none = transport({ max: 0 });
    await none.send({ method: 'GET', url: new URL(`${server.origin}/p503`), headers: {} });
    expect(server.hits('GET', '/p503')).toHaveLength(1);
    const three = transport({ max: 3 });
    await three.send({ method: 'GET', url: new URL(`${server.origin}/p503`), headers: {} });
    expect(server.hits('GET', '/p503')).toHaveLength(5);
    await Promise.all([none.close(), three.close()]);
  });

  it.each([501, 400, 401, 403, 404, 409])('does not retry %i', async (status) => {
    server.on((r) => (r.path === `/s${status}` ? { status } : undefined));
    const response = await get(`/s${status}`);
    expect(response.status).toBe(status);
    expect(server.hits('GET', `/s${status}`)).toHaveLength(1);
  });

  it('retries extra statuses when asked (runner-registration 401/403)', async () => {
    let n = 0;
    server.on((r) =>
      r.path === '/flaky401'
        ? ++n <= 4
          ? { status: 401 }
          : { status: 200, body: 'ok' }
        : undefined,
    );
    const response = await http.send({
      method: 'POST',
      url: new URL(`${server.origin}/flaky401`),
      headers: {},
      body: 'replayed',
      extraRetryStatuses: [401, 403],
    });
    expect(response.status).toBe(200);
    expect(server.hits('POST', '/flaky401').map((r) => r.body)).toEqual(Array(5).fill('replayed'));
  });

  it('waits for Retry-After: 2 on 429, then succeeds', async () => {
    let n = 0;
    server.on((r) =>
      r.path === '/limited'
        ? ++n === 1
          ? { status: 429, headers: { 'retry-after': '2' } }
          : { status: 200, body: '\uFEFF{"ok":true}' }
        : undefined,
    );
    const started = Date.now();
    const response = await get('/limited');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_950);
    expect(response.status).toBe(200);
    expect(response.body).toBe('{"ok":true}');
  });

  it('does not wait out a Retry-After above retryAfterMaxMs', async () => {
    server.on((r) =>
      r.path === '/long-limit' ? { status: 429, headers: { 'retry-after': '3600' } } : undefined,
    );
    const started = Date.now();
    const response = await get('/long-limit');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(response.status).toBe(429);
    expect(server.hits('GET', '/long-limit')).toHaveLength(1);
  });

  it('stops retrying once the signal aborts', async () => {
    server.on((r) => (r.path === '/abort' ? { status: 500 } : undefined));
    const slow = transport({ waitMinMs: 200, waitMaxMs: 200 });
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort(new Error('stop now'));
    }, 100);
    await expect(
      slow.send({
        method: 'GET',
        url: new URL(`${server.origin}/abort`),
        headers: {},
        signal: controller.signal,
      }),
    ).rejects.toThrow('stop now');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(server.hits('GET', '/abort')).toHaveLength(1);
    await slow.close();
  });

  it('aborts a pending long poll', async () => {
    server.on((r) => (r.path === '/hang' ? { status: 202, delayMs: 2_000 } : undefined));
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => {
      controller.abort();
    }, 50);
    await expect(get('/hang', controller.signal)).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('times out each attempt and retries, then reports a retryable transport error', async () => {
    server.on((r) => (r.path === '/slow' ? { status: 200, delayMs: 300 } : undefined));
    const quick = transport({ max: 1 }, 50);
    const error = await quick
      .send({ method: 'GET', url: new URL(`${server.origin}/slow`), headers: {} })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ScaleSetApiError);
    expect((error as ScaleSetApiError).status).toBeUndefined();
    expect((error as ScaleSetApiError).message).toContain('timed out after 50 ms');
    expect((error as ScaleSetApiError).message).toContain('giving up after 2 attempt(s)');
    expect(isRetryable(error)).toBe(true);
    expect(server.hits('GET', '/slow')).toHaveLength(2);
    await quick.close();
  });

  it('reports connection failures after retries with the attempt count', async () => {
    const closed = new FakeActionsServer();
    await closed.start();
    const origin = closed.origin;
    await closed.stop();
    const error = await transport({ max: 2 })
      .send({ method: 'GET', url: new URL(`${origin}/x`), headers: {} })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ScaleSetApiError);
    expect((error as ScaleSetApiError).attempts).toBe(3);
    expect((error as Error).message).toContain('ECONNREFUSED');
    expect(isRetryable(error)).toBe(true);
  });
});

describe('backoff and Retry-After parsing', () => {
  it('doubles from waitMin and caps at waitMax, with at most 10 % jitter', () => {
    const policy = { ...DEFAULT_RETRY_POLICY };
    expect([0, 1, 2, 3, 6].map((n) => backoffMs(n, policy, () => 0))).toEqual([
      1_000, 2_000, 4_000, 8_000, 30_000,
    ]);
    expect(backoffMs(0, policy, () => 0.999)).toBeLessThanOrEqual(1_100);
  });

  it('parses seconds and HTTP dates; a past date means now', () => {
    const now = Date.parse('2026-05-05T12:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7_000);
    expect(parseRetryAfter('Tue, 05 May 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 05 May 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

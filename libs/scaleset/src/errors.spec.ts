import { inspect } from 'node:util';
import {
  createApiError,
  isRetryable,
  JobStillRunningError,
  RateLimitedError,
  RunnerExistsError,
  ScaleSetApiError,
  ScaleSetNotFoundError,
  SessionNotFoundError,
} from './errors';
import type { HttpRequest, HttpResponse } from './http.transport';
import { errorFromResponse } from './response.decoder';
import { SecretRedactor } from './secret.redactor';

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDB9.c2lnbmF0dXJl';
const PAT = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789';
const PEM =
  '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';

function request(
  path = '/tenant/1/_apis/runtime/runnerscalesets/5?api-version=6.0-preview',
): HttpRequest {
  return { method: 'POST', url: new URL(`https://svc.example${path}`), headers: {} };
}

function response(
  status: number,
  body: string,
  headers: Record<string, string> = {},
): HttpResponse {
  const h = new Headers(headers);
  return {
    status,
    statusText: status === 400 ? 'Bad Request' : 'X',
    headers: h,
    body,
    attempts: 1,
  };
}

function forms(err: Error): string[] {
  return [
    err.message,
    String(err),
    JSON.stringify(err),
    inspect(err),
    inspect(err, { depth: 10 }),
    err.stack ?? '',
  ];
}

describe('SecretRedactor', () => {
  it('masks known secrets and credential-shaped text', () => {
    const redactor = new SecretRedactor();
    redactor.add('opaque-queue-token-123');
    redactor.add('abc');
    const text = redactor.redact(
      `q=opaque-queue-token-123 jwt=${JWT} pat=${PAT} Authorization: Bearer xyz123 RemoteAuth reg-tok ${PEM} {"encodedJITConfig":"c2VjcmV0","token":"t0k"} abc`,
    );
    for (const secret of [
      'opaque-queue-token-123',
      JWT,
      PAT,
      'xyz123',
      'reg-tok',
      'MIIEvQ',
      'c2VjcmV0',
      't0k',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('Bearer [REDACTED]');
    expect(text).toContain('"encodedJITConfig":"[REDACTED]"');
    expect(text).toContain(' abc');
  });
});

describe('errorFromResponse (§7.1)', () => {
  const redactor = new SecretRedactor();

  it('formats the SDK message shape with activity and request ids', () => {
    const err = errorFromResponse(
      request(),
      response(400, '{"typeName":"CSharpExceptionNameHere","message":"could not do something"}', {
        ActivityId: 'act-1',
        'X-GitHub-Request-Id': 'gh-2',
      }),
      redactor,
      { reason: 'failed to create message session' },
    );
    expect(err.message).toBe(
      'request POST https://svc.example/tenant/1/_apis/runtime/runnerscalesets/5?api-version=6.0-preview failed(status="400 Bad Request", activity_id="act-1", github_request_id="gh-2"): failed to create message session: CSharpExceptionNameHere: could not do something',
    );
    expect(err).toMatchObject({
      status: 400,
      method: 'POST',
      path: '/tenant/1/_apis/runtime/runnerscalesets/5?api-version=6.0-preview',
      typeName: 'CSharpExceptionNameHere',
      exceptionMessage: 'could not do something',
    });
    expect(err.isException('NameHere')).toBe(true);
  });

  it.each([
    ['TaskAgentExistsException', 409, RunnerExistsError],
    ['X.JobStillRunningException, X', 400, JobStillRunningError],
    ['RunnerScaleSetNotFoundException', 404, ScaleSetNotFoundError],
    ['RunnerAdminException', 404, SessionNotFoundError],
  ])('maps %s by substring', (typeName, status, ErrorClass) => {
    const err = errorFromResponse(
      request(),
      response(status, JSON.stringify({ typeName, message: 'm' })),
      redactor,
    );
    expect(err).toBeInstanceOf(ErrorClass);
    expect(err).toBeInstanceOf(ScaleSetApiError);
  });

  it('does not treat RunnerAdminException with another status as a missing session', () => {
    const err = errorFromResponse(
      request(),
      response(500, '{"typeName":"RunnerAdminException","message":"m"}'),
      redactor,
    );
    expect(err).not.toBeInstanceOf(SessionNotFoundError);
    expect(isRetryable(err)).toBe(true);
  });

  it('quotes non-JSON bodies and reports empty ones as unknown error', () => {
    expect(errorFromResponse(request(), response(400, '<html>'), redactor).message).toContain(
      'failed to unmarshal error response body: "<html>"',
    );
    expect(errorFromResponse(request(), response(404, ''), redactor).message).toContain(
      'unknown error',
    );
  });

  it('never quotes bodies of secret endpoints, only their exception', () => {
    const err = errorFromResponse(
      request(),
      response(201, `{"runner":{"id":1},"encodedJITConfig":"eW91LXNob3VsZC1ub3Qtc2VlLXRoaXM="}`),
      redactor,
      { secretBody: true },
    );
    const plain = errorFromResponse(
      request(),
      response(500, 'token=raw-secret-in-text'),
      redactor,
      {
        secretBody: true,
      },
    );
    for (const form of [...forms(err), ...forms(plain)]) {
      expect(form).not.toContain('eW91LXNob3VsZC1ub3Qtc2VlLXRoaXM');
      expect(form).not.toContain('raw-secret-in-text');
    }
  });

  it('redacts secrets echoed in error bodies from every form of the error', () => {
    const local = new SecretRedactor();
    local.add(PAT);
    const err = errorFromResponse(
      request(),
      response(400, `token ${PAT} / ${JWT} / ${PEM}`, { 'content-type': 'text/plain' }),
      local,
    );
    for (const form of forms(err)) {
      expect(form).not.toContain(PAT);
      expect(form).not.toContain(JWT);
      expect(form).not.toContain('MIIEvQ');
    }
  });

  it('classifies 429 and 403 rate limits with a pause', () => {
    const limited = errorFromResponse(
      request(),
      response(429, '', { 'Retry-After': '12' }),
      redactor,
    );
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterMs).toBe(12_000);
    const secondary = errorFromResponse(
      request(),
      response(403, '{"message":"secondary rate limit"}', { 'retry-after': '60' }),
      redactor,
    );
    expect(secondary).toBeInstanceOf(RateLimitedError);
    const forbidden = errorFromResponse(request(), response(403, '{"message":"no"}'), redactor);
    expect(forbidden).not.toBeInstanceOf(RateLimitedError);
    expect(isRetryable(forbidden)).toBe(false);
    expect(JSON.parse(JSON.stringify(limited)) as object).toMatchObject({
      name: 'RateLimitedError',
      retryAfterMs: 12_000,
    });
  });

  it('masks secret query values in the path', () => {
    const err = errorFromResponse(
      request('/m?sig=s3cr3t&lastMessageId=2'),
      response(500, ''),
      redactor,
    );
    expect(err.path).toBe('/m?sig=REDACTED&lastMessageId=2');
    expect(err.message).not.toContain('s3cr3t');
  });
});

describe('isRetryable', () => {
  const ctx = { method: 'GET', url: 'https://x/', path: '/', reason: 'r' };
  it.each([
    [undefined, true, true],
    [undefined, false, false],
    [500, undefined, true],
    [503, undefined, true],
    [501, undefined, false],
    [429, undefined, true],
    [404, undefined, false],
    [401, undefined, false],
  ])('status %p (transport retryable %p) → %p', (status, transportRetryable, expected) => {
    const err = createApiError({ ...ctx, status, transportRetryable }, { rateLimited: false });
    expect(isRetryable(err)).toBe(expected);
  });

  it('is false for anything that is not a ScaleSetApiError', () => {
    expect(isRetryable(new Error('x'))).toBe(false);
    expect(isRetryable(new DOMException('aborted', 'AbortError'))).toBe(false);
  });
});

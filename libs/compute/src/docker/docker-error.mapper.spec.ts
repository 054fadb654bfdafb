import { inspect } from 'node:util';
import {
  EngineImageNotFoundError,
  EnginePermanentError,
  EngineTimeoutError,
  EngineTransientError,
  EngineUnavailableError,
  isPermanentEngineError,
} from '../errors';
import { redact, toEngineError, type DockerCallContext } from './docker-error.mapper';

const ctx: DockerCallContext = {
  operation: 'create-container',
  resource: 'runner-1',
  endpoint: 'unix:///var/run/docker.sock',
  timedOut: false,
  timeoutMs: 1000,
};

/** Shaped like docker-modem's errors for HTTP answers. */
function httpError(statusCode: number, message: string): Error {
  return Object.assign(new Error(`(HTTP code ${statusCode}) unexpected - ${message} `), {
    statusCode,
    json: { message },
  });
}

function sysError(code: string): Error {
  return Object.assign(new Error(`connect ${code} /var/run/docker.sock`), { code });
}

describe('toEngineError', () => {
  it.each(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN'])(
    'treats %s (daemon unreachable) as retryable',
    (code) => {
      const err = toEngineError(sysError(code), ctx);
      expect(err).toBeInstanceOf(EngineUnavailableError);
      expect(err.retryable).toBe(true);
      expect(err.message).toContain('unix:///var/run/docker.sock');
    },
  );

  it.each([500, 502, 503])('treats HTTP %d as retryable', (status) => {
    const err = toEngineError(httpError(status, 'daemon broke'), ctx);
    expect(err).toBeInstanceOf(EngineTransientError);
    expect(err).toMatchObject({ code: 'SERVER_ERROR', status, retryable: true });
  });

  it('treats a missing image on create as a permanent image error', () => {
    const err = toEngineError(httpError(404, 'No such image: runner:1'), ctx);
    expect(err).toBeInstanceOf(EngineImageNotFoundError);
    expect(isPermanentEngineError(err)).toBe(true);
  });

  it.each([
    [400, 'REJECTED'],
    [404, 'NOT_FOUND'],
    [403, 'PERMISSION_DENIED'],
    [401, 'PERMISSION_DENIED'],
    [422, 'REJECTED'],
  ])('treats HTTP %d as permanent (%s)', (status, code) => {
    const err = toEngineError(httpError(status, 'invalid thing'), ctx);
    expect(err).toBeInstanceOf(EnginePermanentError);
    expect(err).toMatchObject({ code, status, retryable: false });
    expect(err.message).toContain('invalid thing');
  });

  it('treats a 409 that reaches it as a retryable conflict', () => {
    expect(toEngineError(httpError(409, 'removal in progress'), ctx)).toMatchObject({
      code: 'CONFLICT',
      retryable: true,
    });
  });

  it('treats socket permission problems as permanent', () => {
    expect(toEngineError(sysError('EACCES'), ctx)).toMatchObject({
      code: 'PERMISSION_DENIED',
      retryable: false,
    });
  });

  it('reports its own timeout as a retryable timeout', () => {
    const abort = Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
    const err = toEngineError(abort, { ...ctx, timedOut: true, timeoutMs: 250 });
    expect(err).toBeInstanceOf(EngineTimeoutError);
    expect(err.retryable).toBe(true);
  });

  it('reports an abort as retryable ABORTED', () => {
    const abort = Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
    expect(toEngineError(abort, ctx)).toMatchObject({ code: 'ABORTED', retryable: true });
    expect(toEngineError(sysError('ECONNRESET'), { ...ctx, aborted: true })).toMatchObject({
      code: 'ABORTED',
    });
  });

  it('retries anything it does not recognise', () => {
    expect(toEngineError(new Error('weird'), ctx)).toMatchObject({
      code: 'UNKNOWN',
      retryable: true,
    });
    expect(toEngineError('a string', ctx)).toMatchObject({ code: 'UNKNOWN', retryable: true });
  });

  it('passes engine errors through unchanged', () => {
    const original = new EngineImageNotFoundError('img', 'gone');
    expect(toEngineError(original, ctx)).toBe(original);
  });

  it('removes secrets from the message and the cause, and drops the response body', () => {
    const secret = 'eyJqaXQiOiJzZWNyZXQifQ==';
    const raw = httpError(400, `invalid env ACTIONS_RUNNER_INPUT_JITCONFIG=${secret}`);

    const err = toEngineError(raw, { ...ctx, secrets: [secret] });

    expect(err.message).toContain('[REDACTED]');
    expect(inspect(err, { depth: 10 })).not.toContain(secret);
    expect(err.cause).toMatchObject({ statusCode: 400 });
    expect(err.cause).not.toHaveProperty('json');
  });
});

describe('redact', () => {
  it('replaces every occurrence and ignores empty secrets', () => {
    expect(redact('a-s-a-s', ['s', ''])).toBe('a-[REDACTED]-a-[REDACTED]');
    expect(redact('nothing here', [])).toBe('nothing here');
  });
});

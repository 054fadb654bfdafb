import { EnginePermanentError, EngineTimeoutError, isPermanentEngineError } from '../errors';
import {
  classifyGcpFailure,
  describeGcpFailure,
  offendingField,
  operationFailure,
  redactGcp,
  toGcpEngineError,
  type GcpFailureKind,
} from './gcp-error.mapper';

/** A client error as the REST transport builds it: `code` is a gRPC code or an HTTP status. */
function clientError(fields: Record<string, unknown>): Error {
  const message = fields['message'];
  return Object.assign(new Error(typeof message === 'string' ? message : 'failed'), fields);
}

const ctx = { operation: 'insert-instance', resource: 'runner-1', zone: 'us-central1-a' } as const;

describe('classifyGcpFailure', () => {
  it.each<[string, Record<string, unknown>, GcpFailureKind]>([
    ['HTTP 404 in code', { code: 404 }, 'not-found'],
    ['gRPC NOT_FOUND in code', { code: 5 }, 'not-found'],
    ['HTTP 409 in code', { code: 409 }, 'already-exists'],
    ['gRPC ALREADY_EXISTS', { code: 6 }, 'already-exists'],
    ['HTTP 403 in code', { code: 403 }, 'permission-denied'],
    [
      'gRPC PERMISSION_DENIED with httpStatusCode',
      { code: 7, httpStatusCode: 403 },
      'permission-denied',
    ],
    ['gRPC UNAUTHENTICATED', { code: 16 }, 'permission-denied'],
    ['HTTP 429', { code: 429 }, 'rate-limited'],
    ['gRPC RESOURCE_EXHAUSTED', { code: 8 }, 'rate-limited'],
    [
      '403 rateLimitExceeded (not a permission problem)',
      { code: 403, errors: [{ reason: 'rateLimitExceeded' }] },
      'rate-limited',
    ],
    ['HTTP 500', { code: 500 }, 'server-error'],
    ['gRPC INTERNAL with 502', { code: 13, httpStatusCode: 502 }, 'server-error'],
    ['HTTP 503', { code: 503 }, 'unavailable'],
    ['gRPC UNAVAILABLE (connection reset)', { code: 14 }, 'unavailable'],
    ['a socket error', { code: 'ECONNRESET' }, 'unavailable'],
    ['gRPC DEADLINE_EXCEEDED', { code: 4 }, 'timeout'],
    ['HTTP 400', { code: 400 }, 'invalid'],
    ['gRPC INVALID_ARGUMENT', { code: 3 }, 'invalid'],
    ['HTTP 412', { code: 412 }, 'conflict'],
    ['resourceNotReady', { code: 400, errors: [{ reason: 'resourceNotReady' }] }, 'conflict'],
    [
      'quota in the message (403)',
      { code: 403, message: "Quota 'CPUS' exceeded.  Limit: 24.0 in region us-central1." },
      'quota',
    ],
    ['quota reason', { code: 403, errors: [{ reason: 'quotaExceeded' }] }, 'quota'],
    ['ErrorInfo reason', { code: 7, reason: 'QUOTA_EXCEEDED' }, 'quota'],
    [
      'stockout in the message',
      {
        code: 503,
        message: 'ZONE_RESOURCE_POOL_EXHAUSTED: The zone does not have enough resources',
      },
      'stockout',
    ],
    ['something else', { message: 'odd' }, 'unknown'],
  ])('%s → %s', (_name, fields, kind) => {
    expect(classifyGcpFailure(describeGcpFailure(clientError(fields)))).toBe(kind);
  });

  it('reads failed zone operations, whose reasons are in error.errors[].code', () => {
    const stockout = operationFailure({
      status: 'DONE',
      httpErrorStatusCode: 503,
      error: {
        errors: [
          {
            code: 'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS',
            message: "The zone 'projects/p/zones/us-central1-a' does not have enough resources",
          },
        ],
      },
    });
    const quota = operationFailure({
      status: 'DONE',
      error: { errors: [{ code: 'QUOTA_EXCEEDED', message: "Quota 'CPUS' exceeded." }] },
    });

    expect(stockout && classifyGcpFailure(stockout)).toBe('stockout');
    expect(stockout?.httpStatus).toBe(503);
    expect(quota && classifyGcpFailure(quota)).toBe('quota');
    expect(operationFailure({ status: 'DONE', error: null })).toBeNull();
    expect(operationFailure({ status: 'DONE', error: { errors: [] } })).toBeNull();
  });
});

describe('toGcpEngineError', () => {
  it('makes a missing image permanent, naming engine.gcp.image', () => {
    const err = toGcpEngineError(
      clientError({
        code: 404,
        message: "The resource 'projects/p/global/images/family/nope' was not found",
        errors: [{ reason: 'notFound' }],
      }),
      ctx,
    );

    expect(err).toBeInstanceOf(EnginePermanentError);
    expect(err.code).toBe('IMAGE_NOT_FOUND');
    expect(err.message).toContain('engine.gcp.image');
  });

  it('makes an invalid machine type permanent, naming engine.gcp.machine_type', () => {
    const err = toGcpEngineError(
      clientError({
        code: 3,
        httpStatusCode: 400,
        message:
          "Invalid value for field 'resource.machineType': 'zones/us-central1-a/machineTypes/e9-huge'.",
      }),
      ctx,
    );

    expect(isPermanentEngineError(err)).toBe(true);
    expect(err.code).toBe('REJECTED');
    expect(err.status).toBe(400);
    expect(err.message).toContain('engine.gcp.machine_type');
  });

  it('makes permission denied permanent and names the IAM roles to grant', () => {
    const plain = toGcpEngineError(clientError({ code: 403, message: 'Required permission' }), ctx);
    const withSa = toGcpEngineError(clientError({ code: 7, message: 'denied' }), {
      ...ctx,
      serviceAccount: true,
    });

    expect(plain.code).toBe('PERMISSION_DENIED');
    expect(plain.retryable).toBe(false);
    expect(plain.message).toContain('roles/compute.instanceAdmin.v1');
    expect(withSa.message).toContain('roles/iam.serviceAccountUser');
  });

  it.each([
    [{ code: 429 }, 'RATE_LIMITED'],
    [{ code: 503 }, 'UNAVAILABLE'],
    [{ code: 500 }, 'SERVER_ERROR'],
    [{ code: 14 }, 'UNAVAILABLE'],
    [{ code: 'ECONNREFUSED' }, 'UNAVAILABLE'],
    [{ code: 403, errors: [{ reason: 'quotaExceeded' }] }, 'QUOTA_EXCEEDED'],
    [{ code: 503, reason: 'ZONE_RESOURCE_POOL_EXHAUSTED' }, 'CAPACITY'],
  ])('%j is retryable (%s)', (fields, code) => {
    const err = toGcpEngineError(clientError(fields), ctx);

    expect(err.retryable).toBe(true);
    expect(err.code).toBe(code);
  });

  it('reports its own timeouts and aborts', () => {
    expect(
      toGcpEngineError(new Error('x'), { ...ctx, timedOut: true, timeoutMs: 5 }),
    ).toBeInstanceOf(EngineTimeoutError);
    expect(toGcpEngineError(new Error('x'), { ...ctx, aborted: true }).code).toBe('ABORTED');
  });

  it('never carries the JIT config, the request or the response body', () => {
    const jit = 'eyJ' + 'A'.repeat(200);
    const raw = clientError({
      code: 400,
      message: `Invalid value for field 'resource.metadata.items[5].value': '${jit}'`,
      config: { body: JSON.stringify({ metadata: { items: [{ value: jit }] } }) },
      response: { data: { echoed: jit } },
    });
    const err = toGcpEngineError(raw, { ...ctx, secrets: [jit] });
    const cut = toGcpEngineError(
      clientError({ code: 400, message: `bad value '${jit.slice(0, 120)}...'` }),
      ctx,
    );

    for (const e of [err, cut]) {
      expect(
        JSON.stringify({ message: e.message, cause: e.cause, resource: e.resource }),
      ).not.toContain('AAAAAAAAAA');
      expect(e.message).not.toContain(jit.slice(0, 40));
      expect(Object.keys(e.cause as object)).not.toContain('config');
      expect(Object.keys(e.cause as object)).not.toContain('response');
    }
  });
});

describe('helpers', () => {
  it('names the setting a refused resource points at', () => {
    expect(offendingField("The resource 'projects/p/global/images/x' was not found")).toBe(
      'engine.gcp.image',
    );
    expect(offendingField("The resource 'projects/p/zones/z/diskTypes/x' was not found")).toBe(
      'engine.gcp.disk_type',
    );
    expect(
      offendingField("Invalid value for field 'resource.networkInterfaces[0].subnetwork'"),
    ).toBe('engine.gcp.subnet');
    expect(offendingField('something odd')).toBeUndefined();
  });

  it('redacts exact secrets, their JSON-escaped form and long tokens, and shortens', () => {
    expect(redactGcp('a s3cr/t b', ['s3cr/t'])).toBe('a [REDACTED] b');
    expect(redactGcp('a s3cr\\/t b', ['s3cr/t'])).toBe('a [REDACTED] b');
    expect(redactGcp(`x ${'Z'.repeat(80)} y`)).toBe('x [REDACTED] y');
    expect(redactGcp('m '.repeat(500)).length).toBeLessThan(450);
  });
});

import {
  EngineConfigError,
  EngineError,
  EngineImageNotFoundError,
  EngineNameConflictError,
  EngineNotImplementedError,
  EnginePermanentError,
  EngineTimeoutError,
  EngineTransientError,
  EngineUnavailableError,
  isEngineError,
  isPermanentEngineError,
} from './errors';

describe('engine errors', () => {
  it.each([
    new EnginePermanentError('x', { code: 'REJECTED' }),
    new EngineImageNotFoundError('img:1', 'not there'),
    new EngineConfigError('docker.memory', 'bad'),
    new EngineNameConflictError('runner-1', 'not ours'),
    new EngineNotImplementedError('gcp'),
  ])('$name is permanent', (err) => {
    expect(err).toBeInstanceOf(EngineError);
    expect(err.retryable).toBe(false);
    expect(isPermanentEngineError(err)).toBe(true);
  });

  it.each([
    new EngineTransientError('x', { code: 'SERVER_ERROR' }),
    new EngineUnavailableError('down', { engine: 'docker' }),
    new EngineTimeoutError(500, { operation: 'create-container', resource: 'r' }),
  ])('$name is retryable', (err) => {
    expect(err.retryable).toBe(true);
    expect(isPermanentEngineError(err)).toBe(false);
  });

  it('treats anything that is not an engine error as retryable', () => {
    expect(isPermanentEngineError(new Error('boom'))).toBe(false);
    expect(isPermanentEngineError('boom')).toBe(false);
    expect(isPermanentEngineError(undefined)).toBe(false);
    expect(isEngineError(new Error('boom'))).toBe(false);
  });

  it('carries name, code, context and cause', () => {
    const cause = new Error('socket gone');
    const err = new EngineUnavailableError('daemon down', {
      engine: 'docker',
      operation: 'list-containers',
      resource: 'owner=d',
      cause,
    });

    expect(err).toMatchObject({
      name: 'EngineUnavailableError',
      code: 'UNAVAILABLE',
      engine: 'docker',
      operation: 'list-containers',
      resource: 'owner=d',
      cause,
    });
    expect(String(err)).toBe('EngineUnavailableError: daemon down');
  });

  it('says what to do in its messages', () => {
    expect(new EngineNotImplementedError('aws').message).toContain('not implemented yet');
    expect(new EngineImageNotFoundError('img:1', 'gone').message).toContain('img:1');
    expect(new EngineTimeoutError(250, { operation: 'start', resource: 'r1' }).message).toContain(
      '250 ms',
    );
    expect(new EngineConfigError('docker.cpus', 'must be positive').message).toBe(
      'docker.cpus: must be positive',
    );
  });
});

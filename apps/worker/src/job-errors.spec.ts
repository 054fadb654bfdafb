import {
  EngineConfigError,
  EngineImageNotFoundError,
  EngineNameConflictError,
  EnginePermanentError,
  EngineTimeoutError,
  EngineTransientError,
  EngineUnavailableError,
} from '@app/compute';
import { InvalidJobPayloadError } from '@app/queue';
import { UnexpectedRedisReplyError } from '@app/registry';
import {
  InvalidClientOptionsError,
  JobStillRunningError,
  RateLimitedError,
  RunnerExistsError,
  RunnerNotFoundError,
  ScaleSetApiError,
  ScaleSetNotFoundError,
} from '@app/scaleset';
import { DelayedError, UnrecoverableError } from 'bullmq';
import {
  InvalidJobError,
  RunnerComputeBusyError,
  RunnerComputeExitedError,
  RunnerNameTakenError,
  RunnerStillBusyError,
} from './errors';
import {
  classifyJobError,
  isLastAttempt,
  MAX_DELAYED_RUNS,
  toBullMQError,
  type MappableJob,
} from './job-errors';

function api(status: number | undefined, extra: { transportRetryable?: boolean } = {}) {
  return new ScaleSetApiError({
    method: 'POST',
    url: 'https://fake.test/x',
    path: '/x',
    status,
    reason: 'failed',
    ...extra,
  });
}

function ctx(status: number) {
  return { method: 'DELETE', url: 'https://fake.test/x', path: '/x', status, reason: 'r' };
}

describe('classifyJobError', () => {
  it.each<[string, unknown, string]>([
    ['missing image', new EngineImageNotFoundError('img', 'never pulled'), 'permanent'],
    ['bad engine config', new EngineConfigError('docker.memory', 'bad'), 'permanent'],
    ['name taken on the engine', new EngineNameConflictError('r', 'not ours'), 'permanent'],
    ['engine 4xx', new EnginePermanentError('rejected', { code: 'REJECTED' }), 'permanent'],
    ['daemon down', new EngineUnavailableError('down', {}), 'retryable'],
    ['engine timeout', new EngineTimeoutError(1000, {}), 'retryable'],
    ['engine 5xx', new EngineTransientError('5xx', { code: 'SERVER_ERROR' }), 'retryable'],
    ['GitHub 400', api(400), 'permanent'],
    ['GitHub 401', api(401), 'permanent'],
    ['GitHub 403', api(403), 'permanent'],
    ['GitHub 422', api(422), 'permanent'],
    ['GitHub 404', new ScaleSetNotFoundError(ctx(404)), 'retryable'],
    ['GitHub 409', new RunnerExistsError(ctx(409)), 'retryable'],
    ['GitHub 500', api(500), 'retryable'],
    ['GitHub 503', api(503), 'retryable'],
    ['GitHub unreachable', api(undefined), 'retryable'],
    ['GitHub TLS failure', api(undefined, { transportRetryable: false }), 'permanent'],
    [
      'GitHub rate limit',
      new RateLimitedError({ ...ctx(429), retryAfterMs: 5000 }),
      'rate-limited',
    ],
    ['bad client options', new InvalidClientOptionsError('auth.token', 'empty'), 'permanent'],
    ['bad payload', new InvalidJobError('start-runner', 'j1', 'no name'), 'permanent'],
    ['queue payload', new InvalidJobPayloadError('start-runner', 'runnerName', 'bad'), 'permanent'],
    ['name in another scale set', new RunnerNameTakenError('r', 1, 2), 'permanent'],
    ['used runner', new RunnerComputeExitedError('r', 0), 'permanent'],
    ['compute being removed', new RunnerComputeBusyError('r', 'stopping'), 'retryable'],
    ['busy runner', new RunnerStillBusyError('r', 5, 30_000), 'retry-later'],
    ['registry version skew', new UnexpectedRedisReplyError('get', 1), 'permanent'],
    ['already unrecoverable', new UnrecoverableError('x'), 'permanent'],
    ['Redis connection lost', new Error('Connection is closed.'), 'retryable'],
    ['not an error', 'boom', 'retryable'],
  ])('%s → %s', (_label, err, kind) => {
    expect(classifyJobError(err).kind).toBe(kind);
  });

  it('gives short, secret-free codes for the registry reason', () => {
    expect(classifyJobError(new EngineImageNotFoundError('i', 'x')).code).toBe('IMAGE_NOT_FOUND');
    expect(classifyJobError(api(403)).code).toBe('github-403');
    expect(classifyJobError(new RunnerNameTakenError('r', 1, 2)).code).toBe('RunnerNameTakenError');
  });
});

describe('isLastAttempt', () => {
  it('counts the runs that failed before this one against the lower of the two limits', () => {
    expect(isLastAttempt({ attemptsMade: 0, opts: { attempts: 5 } }, 5)).toBe(false);
    expect(isLastAttempt({ attemptsMade: 4, opts: { attempts: 5 } }, 5)).toBe(true);
    expect(isLastAttempt({ attemptsMade: 1, opts: { attempts: 5 } }, 2)).toBe(true);
    expect(isLastAttempt({ attemptsMade: 1, opts: { attempts: 2 } }, 10)).toBe(true);
    expect(isLastAttempt({ attemptsMade: 0, opts: {} }, 10)).toBe(true);
  });
});

class FakeJob implements MappableJob {
  delayedUntil: number | undefined;
  constructor(public attemptsStarted = 1) {}
  moveToDelayed(timestamp: number): Promise<void> {
    this.delayedUntil = timestamp;
    return Promise.resolve();
  }
}

class FakeLimiter {
  limitedForMs: number | undefined;
  rateLimit(ms: number): Promise<void> {
    this.limitedForMs = ms;
    return Promise.resolve();
  }
}

describe('toBullMQError', () => {
  let job: FakeJob;
  let limiter: FakeLimiter;

  beforeEach(() => {
    job = new FakeJob();
    limiter = new FakeLimiter();
  });

  it('fails permanent errors without retries, naming the reason', async () => {
    const out = await toBullMQError(
      new EngineImageNotFoundError('img:1', 'missing'),
      job,
      't',
      limiter,
    );
    expect(out).toBeInstanceOf(UnrecoverableError);
    expect(out.message).toMatch(/^IMAGE_NOT_FOUND: Runner image img:1 is not available/);
  });

  it('hands retryable errors back as they are, unless the attempts are used up', async () => {
    const err = new EngineUnavailableError('daemon down', {});
    await expect(toBullMQError(err, job, 't', limiter)).resolves.toBe(err);
    const final = await toBullMQError(err, job, 't', limiter, { finalAttempt: true });
    expect(final).toBeInstanceOf(UnrecoverableError);
    expect(final.message).toContain('attempts used up');
  });

  it('pauses the queue for Retry-After on a GitHub rate limit without using an attempt', async () => {
    const err = new RateLimitedError({ ...ctx(429), retryAfterMs: 42_000 });
    const out = await toBullMQError(err, job, 't', limiter, { finalAttempt: true });
    expect(limiter.limitedForMs).toBe(42_000);
    expect(out.message).toBe('bullmq:rateLimitExceeded');
  });

  it('delays a destroy whose runner is still busy, without using an attempt', async () => {
    const err = new RunnerStillBusyError('r', 5, 30_000, {
      cause: new JobStillRunningError(ctx(400)),
    });
    const out = await toBullMQError(err, job, 't', limiter, { now: () => 1_000 });
    expect(out).toBeInstanceOf(DelayedError);
    expect(job.delayedUntil).toBe(31_000);
  });

  it('stops delaying after MAX_DELAYED_RUNS and retries with attempts instead', async () => {
    job = new FakeJob(MAX_DELAYED_RUNS + 1);
    const err = new RunnerStillBusyError('r', 5, 30_000);
    await expect(toBullMQError(err, job, 't', limiter)).resolves.toBe(err);
    expect(job.delayedUntil).toBeUndefined();
  });

  it('treats a GitHub 404 the lifecycle did not handle as retryable', () => {
    expect(classifyJobError(new RunnerNotFoundError(ctx(404))).kind).toBe('retryable');
  });
});

import { randomInt, randomUUID } from 'node:crypto';

import { Queue, Worker } from 'bullmq';

import { JobProducer } from './job.producer';
import { DEFAULT_JOB_OPTIONS } from './job.options';
import { producerConnectionOptions, workerConnectionOptions } from './queue.connections';
import {
  JOB_NAMES,
  QUEUES,
  type DestroyRunnerPayload,
  type StartRunnerPayload,
} from './queue.definitions';

function redisUrl(): string {
  const url = process.env['REDIS_URL'];
  if (url === undefined || url === '') {
    throw new Error('REDIS_URL is not set: run integration tests through `npm test`');
  }
  return url;
}

describe('JobProducer (real BullMQ on real Redis)', () => {
  let prefix: string;
  let runners: Queue;
  let reconcile: Queue;
  let producer: JobProducer;
  const scaleSetId = randomInt(1, 1_000_000);

  beforeEach(() => {
    prefix = `{t-${randomUUID()}}`;
    const connection = producerConnectionOptions(redisUrl());
    runners = new Queue(QUEUES.runners, { connection, prefix });
    reconcile = new Queue(QUEUES.reconcile, { connection, prefix });
    producer = new JobProducer({ runners, reconcile });
  });

  afterEach(async () => {
    for (const queue of [runners, reconcile]) {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  const start: () => StartRunnerPayload = () => ({
    scaleSetId,
    scaleSetName: 'Linux X64',
    runnerName: 'linux-x64-abc123def4',
    epoch: 3,
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  });

  it('creates one job when the same start is enqueued twice', async () => {
    const first = await producer.enqueueStart(start());
    const second = await producer.enqueueStart(start());
    expect(first).toEqual({ jobId: 'start-linux-x64-abc123def4', created: true });
    expect(second).toEqual({ jobId: 'start-linux-x64-abc123def4', created: false });
    expect(await runners.getJobCounts('waiting', 'delayed', 'active')).toEqual({
      waiting: 1,
      delayed: 0,
      active: 0,
    });
    const job = await runners.getJob('start-linux-x64-abc123def4');
    expect(job?.name).toBe(JOB_NAMES.startRunner);
    expect(job?.data).toEqual(start());
    expect(job?.opts.attempts).toBe(DEFAULT_JOB_OPTIONS['start-runner'].attempts);
    expect(job?.opts.backoff).toEqual({ type: 'exponential', delay: 2_000, jitter: 0.5 });
    expect(job?.opts.removeOnComplete).toEqual({ count: 1_000 });
  });

  it('enqueues many starts in one bulk call, leaving existing ids alone', async () => {
    const first = await producer.enqueueStart(start());
    const other = { ...start(), runnerName: 'linux-x64-zzz999' };
    const ids = await producer.enqueueStarts([start(), other]);
    expect(ids).toEqual(['start-linux-x64-abc123def4', 'start-linux-x64-zzz999']);
    expect(first.created).toBe(true);
    expect(await runners.getJobCountByTypes('waiting', 'delayed', 'active')).toBe(2);
    const job = await runners.getJob('start-linux-x64-zzz999');
    expect(job?.data).toEqual(other);
    expect(job?.opts.attempts).toBe(DEFAULT_JOB_OPTIONS['start-runner'].attempts);
    expect(job?.opts.removeOnComplete).toEqual({ count: 1_000 });
    expect(await producer.enqueueStarts([])).toEqual([]);
  });

  it('enqueues many destroys in one bulk call, leaving existing ids alone', async () => {
    const completed: DestroyRunnerPayload = { ...start(), reason: 'job-completed' };
    const first = await producer.enqueueDestroy(completed);
    const scaleDown: DestroyRunnerPayload = {
      ...start(),
      runnerName: 'linux-x64-zzz999',
      reason: 'scale-down',
    };
    const ids = await producer.enqueueDestroys([completed, scaleDown]);
    expect(ids).toEqual(['destroy-linux-x64-abc123def4', 'destroy-linux-x64-zzz999-scale-down']);
    expect(first.created).toBe(true);
    expect(await runners.getJobCountByTypes('waiting', 'delayed', 'active')).toBe(2);
    const job = await runners.getJob('destroy-linux-x64-zzz999-scale-down');
    expect(job?.name).toBe(JOB_NAMES.destroyRunner);
    expect(job?.data).toEqual(scaleDown);
    expect(job?.opts.attempts).toBe(DEFAULT_JOB_OPTIONS['destroy-runner'].attempts);
    expect(await producer.enqueueDestroys([])).toEqual([]);
  });

  it('creates one job under 10 concurrent enqueues of the same destroy', async () => {
    const payload: DestroyRunnerPayload = { ...start(), reason: 'job-completed' };
    const results = await Promise.all(
      Array.from({ length: 10 }, () => producer.enqueueDestroy(payload)),
    );
    expect(new Set(results.map((r) => r.jobId))).toEqual(new Set(['destroy-linux-x64-abc123def4']));
    expect(results.some((r) => r.created)).toBe(true);
    expect(await runners.getJobCountByTypes('waiting', 'delayed', 'active')).toBe(1);
  });

  it('keeps deduplicating after the job completed (kept by removeOnComplete)', async () => {
    await producer.enqueueStart(start());
    const worker = new Worker(QUEUES.runners, () => Promise.resolve('done'), {
      connection: workerConnectionOptions(redisUrl()),
      prefix,
    });
    try {
      await new Promise<void>((resolve) => {
        worker.once('completed', () => {
          resolve();
        });
      });
    } finally {
      await worker.close();
    }
    expect(await runners.getJobState('start-linux-x64-abc123def4')).toBe('completed');
    expect(await producer.enqueueStart(start())).toMatchObject({ created: false });
    expect(await runners.getJobCountByTypes('waiting', 'delayed', 'active')).toBe(0);
  });

  it('stores only the known payload fields', async () => {
    const sneaky = { ...start(), jitConfig: 'eyJzZWNyZXQiOnRydWV9' } as StartRunnerPayload;
    await producer.enqueueStart(sneaky);
    const job = await runners.getJob('start-linux-x64-abc123def4');
    const data = job?.data as Record<string, unknown> | undefined;
    expect(Object.keys(data ?? {}).sort()).toEqual([
      'epoch',
      'runnerName',
      'scaleSetId',
      'scaleSetName',
      'traceparent',
    ]);
  });

  it('delays a job when asked', async () => {
    await producer.enqueueDestroy({ ...start(), reason: 'scale-down' }, { delayMs: 60_000 });
    expect(await runners.getJobState('destroy-linux-x64-abc123def4-scale-down')).toBe('delayed');
  });

  it('upserts one reconcile scheduler per scale set', async () => {
    const payload = { scaleSetId, scaleSetName: 'Linux X64' };
    await producer.scheduleReconcile(payload, 30_000);
    await producer.scheduleReconcile(payload, 60_000);
    const schedulers = await reconcile.getJobSchedulers();
    expect(schedulers).toHaveLength(1);
    expect(schedulers[0]).toMatchObject({ key: `reconcile-${scaleSetId}`, every: 60_000 });
    expect(await producer.unscheduleReconcile(scaleSetId)).toBe(true);
    expect(await reconcile.getJobSchedulers()).toHaveLength(0);
  });
});

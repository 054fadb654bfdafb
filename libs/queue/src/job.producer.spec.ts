import type { Queue } from 'bullmq';

import { InvalidJobPayloadError } from './errors';
import { JobProducer } from './job.producer';
import type { DestroyRunnerPayload, StartRunnerPayload } from './queue.definitions';

/** A queue that fails the test if touched: validation must reject before anything is enqueued. */
const untouchable = new Proxy({} as Queue, {
  get(_target, property) {
    throw new Error(`queue.${String(property)} must not be called`);
  },
});

const producer = new JobProducer({ runners: untouchable, reconcile: untouchable });

const start: StartRunnerPayload = { scaleSetId: 7, scaleSetName: 'pool', runnerName: 'pool-abc' };

describe('JobProducer payload validation', () => {
  it.each<[string, Partial<StartRunnerPayload>]>([
    ['scaleSetId', { scaleSetId: 0 }],
    ['scaleSetId', { scaleSetId: 1.5 }],
    ['scaleSetName', { scaleSetName: '' }],
    ['scaleSetName', { scaleSetName: 'a\nb' }],
    ['scaleSetName', { scaleSetName: 'x'.repeat(129) }],
    ['runnerName', { runnerName: 'Pool-ABC' }],
    ['runnerName', { runnerName: 'pool:abc' }],
    ['runnerName', { runnerName: 'eyJydW5uZXIiOiJqaXQtY29uZmlnIn0=' }],
    ['epoch', { epoch: -1 }],
    ['traceparent', { traceparent: 'not-a-traceparent' }],
  ])('rejects a bad %s before touching the queue', async (field, change) => {
    const error: unknown = await producer
      .enqueueStart({ ...start, ...change })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidJobPayloadError);
    expect(error).toMatchObject({ field, jobName: 'start-runner' });
  });

  it('checks every payload of a bulk start before touching the queue', async () => {
    const error: unknown = await producer
      .enqueueStarts([start, { ...start, runnerName: 'Bad Name' }])
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ field: 'runnerName', jobName: 'start-runner' });
  });

  it('rejects an unknown destroy reason', async () => {
    const payload = { ...start, reason: 'because' } as unknown as DestroyRunnerPayload;
    await expect(producer.enqueueDestroy(payload)).rejects.toMatchObject({ field: 'reason' });
    await expect(producer.enqueueDestroys([payload])).rejects.toMatchObject({ field: 'reason' });
  });

  it('checks every payload of a bulk destroy before touching the queue', async () => {
    const good: DestroyRunnerPayload = { ...start, reason: 'job-completed' };
    const error: unknown = await producer
      .enqueueDestroys([good, { ...good, runnerName: 'Bad Name' }])
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ field: 'runnerName', jobName: 'destroy-runner' });
  });

  it('rejects a negative delay and a non-positive reconcile interval', async () => {
    await expect(producer.enqueueStart(start, { delayMs: -5 })).rejects.toMatchObject({
      field: 'delayMs',
    });
    await expect(producer.scheduleReconcile(start, 0)).rejects.toMatchObject({ field: 'everyMs' });
  });

  it('does not echo the rejected value in the message', async () => {
    const secret = 'eyJzZWNyZXQiOiJqaXQifQ==';
    const error: unknown = await producer
      .enqueueStart({ ...start, runnerName: secret })
      .catch((e: unknown) => e);
    expect((error as Error).message).not.toContain(secret);
  });
});

import { ServiceUnavailableException } from '@nestjs/common';
import { QUEUES } from '@app/queue';
import {
  WorkerHealthController,
  type HealthWorker,
  type WorkerHealthSources,
} from './health.controller';

/** A BullMQ worker stand-in in one of its states. */
function worker(state: 'running' | 'paused' | 'stopped' | 'closed'): HealthWorker {
  return {
    closing: state === 'closed' ? Promise.resolve() : undefined,
    isRunning: () => state === 'running' || state === 'paused',
    isPaused: () => state === 'paused' || state === 'closed',
  };
}

interface Fakes {
  readonly runners?: HealthWorker | undefined;
  readonly reconcile?: HealthWorker | undefined;
  readonly ping?: () => Promise<unknown>;
}

function controller(fakes: Fakes = {}): WorkerHealthController {
  const sources: WorkerHealthSources = {
    workers: () => [
      { queue: QUEUES.runners, worker: 'runners' in fakes ? fakes.runners : worker('running') },
      {
        queue: QUEUES.reconcile,
        worker: 'reconcile' in fakes ? fakes.reconcile : worker('running'),
      },
    ],
    ping: fakes.ping ?? (() => Promise.resolve('PONG')),
    pingTimeoutMs: 50,
  };
  return new WorkerHealthController(sources);
}

/** The 503 body of a failed check. */
async function unavailable(check: Promise<unknown>): Promise<unknown> {
  try {
    await check;
  } catch (err) {
    expect(err).toBeInstanceOf(ServiceUnavailableException);
    return (err as ServiceUnavailableException).getResponse();
  }
  throw new Error('expected a 503');
}

const never = (): Promise<never> => new Promise<never>(() => undefined);

describe('WorkerHealthController', () => {
  it('is live and ready while both workers run and Redis answers', async () => {
    const c = controller();
    const body = {
      status: 'ok',
      redis: 'ok',
      workers: [
        { queue: QUEUES.runners, state: 'running' },
        { queue: QUEUES.reconcile, state: 'running' },
      ],
    };
    await expect(c.liveness()).resolves.toEqual(body);
    await expect(c.readiness()).resolves.toEqual(body);
  });

  it.each([
    ['Redis refuses the PING', { ping: () => Promise.reject(new Error('Connection is closed.')) }],
    [
      'the PING throws',
      {
        ping: () => {
          throw new Error('boom');
        },
      },
    ],
    ['the PING times out', { ping: never }],
  ] as const)('is neither live nor ready when %s', async (_what, fakes: Fakes) => {
    const c = controller(fakes);
    await expect(unavailable(c.liveness())).resolves.toMatchObject({
      status: 'unavailable',
      redis: 'unreachable',
    });
    await expect(unavailable(c.readiness())).resolves.toMatchObject({ redis: 'unreachable' });
  });

  it.each([
    ['closed', { runners: worker('closed') }, QUEUES.runners, 'closed'],
    ['stopped (its loop ended)', { reconcile: worker('stopped') }, QUEUES.reconcile, 'stopped'],
    ['not created', { runners: undefined }, QUEUES.runners, 'missing'],
  ] as const)('is not live when a worker is %s', async (_what, fakes: Fakes, queue, state) => {
    const body = await unavailable(controller(fakes).liveness());
    expect(body).toMatchObject({ status: 'unavailable', redis: 'ok' });
    expect((body as { workers: unknown[] }).workers).toContainEqual({ queue, state });
  });

  it('stays live but is not ready once the runners worker paused for shutdown', async () => {
    const c = controller({ runners: worker('paused') });
    await expect(c.liveness()).resolves.toMatchObject({ status: 'ok' });
    await expect(unavailable(c.readiness())).resolves.toMatchObject({
      status: 'unavailable',
      workers: [
        { queue: QUEUES.runners, state: 'paused' },
        { queue: QUEUES.reconcile, state: 'running' },
      ],
    });
  });

  it.each([
    ['closed', worker('closed')],
    ['stopped', worker('stopped')],
    ['not created', undefined],
  ])('is not ready when the runners worker is %s', async (_what, runners) => {
    await expect(unavailable(controller({ runners }).readiness())).resolves.toMatchObject({
      status: 'unavailable',
    });
  });

  it('stays ready while only the reconcile worker is paused', async () => {
    await expect(controller({ reconcile: worker('paused') }).readiness()).resolves.toMatchObject({
      status: 'ok',
    });
  });
});

import { reconcileSchedulerId, type ReconcilePayload } from '@app/queue';
import type { RunnerGroup, RunnerScaleSet } from '@app/scaleset';
import type { Job } from 'bullmq';
import { parseReconcileJob } from './reconcile.processor';
import { ReconcileScheduler } from './reconcile.scheduler';

class FakeSchedulers {
  readonly schedulers = new Map<string, { payload: ReconcilePayload; everyMs: number }>();
  scheduleReconcile(payload: ReconcilePayload, everyMs: number): Promise<void> {
    this.schedulers.set(reconcileSchedulerId(payload.scaleSetId), { payload, everyMs });
    return Promise.resolve();
  }
  getJobScheduler(id: string): Promise<unknown> {
    return Promise.resolve(this.schedulers.get(id));
  }
}

function setup() {
  const onGitHub = new Map<string, number>([['linux', 7]]);
  const queue = new FakeSchedulers();
  const noop = () => undefined;
  const scheduler = new ReconcileScheduler({
    scaleSets: [
      { name: 'linux', runnerGroup: 'Default' },
      { name: 'arm', runnerGroup: 'Default' },
    ],
    intervalMs: 60_000,
    github: {
      getRunnerGroupByName: (name: string) => Promise.resolve({ id: 2, name } as RunnerGroup),
      getRunnerScaleSetByName: (_group: number, name: string) => {
        const id = onGitHub.get(name);
        return Promise.resolve(id === undefined ? null : ({ id, name } as RunnerScaleSet));
      },
    },
    producer: queue,
    queue,
    logger: { debug: noop, info: noop, warn: noop, error: noop },
  });
  return { onGitHub, queue, scheduler };
}

describe('ReconcileScheduler', () => {
  it('schedules one reconcile per scale set on GitHub, and the others once they appear', async () => {
    const t = setup();

    expect(await t.scheduler.ensureAll({ force: true })).toEqual(['linux']);
    expect([...t.queue.schedulers]).toEqual([
      ['reconcile-7', { payload: { scaleSetId: 7, scaleSetName: 'linux' }, everyMs: 60_000 }],
    ]);

    t.onGitHub.set('arm', 8);
    expect(await t.scheduler.ensureAll()).toEqual(['linux', 'arm']);
    expect([...t.queue.schedulers.keys()]).toEqual(['reconcile-7', 'reconcile-8']);
  });

  it('re-creates a scheduler lost with the Redis data', async () => {
    const t = setup();
    await t.scheduler.ensureAll({ force: true });
    t.queue.schedulers.clear();

    await t.scheduler.ensureAll();

    expect(t.queue.schedulers.has('reconcile-7')).toBe(true);
  });
});

describe('parseReconcileJob', () => {
  const job = (name: string, data: unknown) => ({ id: 'j1', name, data }) as Job;
  const served = new Set(['linux']);

  it('accepts a reconcile job of a configured scale set', () => {
    expect(
      parseReconcileJob(job('reconcile', { scaleSetId: 7, scaleSetName: 'linux' }), served),
    ).toEqual({
      id: 7,
      name: 'linux',
    });
  });

  it.each([
    [
      'start-runner',
      { scaleSetId: 7, scaleSetName: 'linux', runnerName: 'linux-a' },
      /runners queue/,
    ],
    ['bogus', {}, /not a job scaleset knows/],
    ['reconcile', { scaleSetId: -1, scaleSetName: 'linux' }, /scaleSetId/],
    ['reconcile', { scaleSetId: 7, scaleSetName: 'other' }, /scaleSetName/],
  ])('refuses %s %j for good', (name, data, message) => {
    expect(() => parseReconcileJob(job(name, data), served)).toThrow(message);
  });
});

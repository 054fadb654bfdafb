import type { Job } from 'bullmq';

import { InvalidJobIdError, UnknownJobError } from './errors';
import {
  assertValidJobId,
  destroyRunnerJobId,
  reconcileSchedulerId,
  startRunnerJobId,
} from './job.ids';
import { JOB_NAMES, isJobName, toAnyJob } from './queue.definitions';

describe('job ids', () => {
  it('builds deterministic ids from runner names and scale set ids', () => {
    expect(startRunnerJobId('linux-x64-abc123def4')).toBe('start-linux-x64-abc123def4');
    expect(destroyRunnerJobId('linux-x64-abc123def4')).toBe('destroy-linux-x64-abc123def4');
    expect(destroyRunnerJobId('r1', 'job-completed')).toBe('destroy-r1');
    expect(destroyRunnerJobId('r1', 'scale-down')).toBe('destroy-r1-scale-down');
    expect(reconcileSchedulerId(42)).toBe('reconcile-42');
    expect(startRunnerJobId('pool-a')).toBe(startRunnerJobId('pool-a'));
    expect(startRunnerJobId('pool-a')).not.toBe(destroyRunnerJobId('pool-a'));
  });

  it('never builds an id with ":" or made only of digits', () => {
    expect(() => startRunnerJobId('a:b')).toThrow(InvalidJobIdError);
    expect(() => destroyRunnerJobId('x:1')).toThrow(/must not contain ":"/);
    for (const id of [startRunnerJobId('1'), destroyRunnerJobId('2'), reconcileSchedulerId(3)]) {
      expect(id).not.toMatch(/^\d+$/);
      expect(id).not.toContain(':');
    }
  });

  it.each(['', '123', '0', 'a:b', 'x'.repeat(129)])('rejects %j', (id) => {
    expect(() => {
      assertValidJobId(id);
    }).toThrow(InvalidJobIdError);
  });

  it.each(['start-a', 'a1', 'x'.repeat(128)])('accepts %j', (id) => {
    expect(() => {
      assertValidJobId(id);
    }).not.toThrow();
  });
});

describe('toAnyJob', () => {
  it('narrows our job names and refuses others', () => {
    const job = (name: string): Job => ({ name, id: 'x' }) as Job;
    expect(toAnyJob(job('start-runner')).name).toBe('start-runner');
    expect(() => toAnyJob(job('launch-missiles'))).toThrow(UnknownJobError);
    expect(Object.values(JOB_NAMES).every(isJobName)).toBe(true);
  });
});

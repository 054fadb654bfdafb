import type { Job } from 'bullmq';
import { InvalidJobError } from './errors';
import { parseRunnersJob } from './job-payloads';

const SCALE_SETS = new Set(['linux']);

function job(name: string, data: unknown): Job {
  return { name, id: 'job-1', data } as unknown as Job;
}

const START = { scaleSetId: 7, scaleSetName: 'linux', runnerName: 'linux-abcdefghij', epoch: 3 };

describe('parseRunnersJob', () => {
  it('accepts the payloads the listener writes', () => {
    expect(parseRunnersJob(job('start-runner', START), SCALE_SETS)).toEqual({
      name: 'start-runner',
      payload: START,
    });
    expect(
      parseRunnersJob(job('destroy-runner', { ...START, reason: 'scale-down' }), SCALE_SETS),
    ).toEqual({ name: 'destroy-runner', payload: { ...START, reason: 'scale-down' } });
  });

  it('drops fields it does not know, so nothing else travels further', () => {
    const parsed = parseRunnersJob(
      job('start-runner', { ...START, jitConfig: 'should-not-pass' }),
      SCALE_SETS,
    );
    expect(JSON.stringify(parsed)).not.toContain('should-not-pass');
  });

  it.each<[string, string, unknown, RegExp]>([
    ['unknown job name', 'provision', START, /name is not a job scaleset knows/],
    ['reconcile on the wrong queue', 'reconcile', START, /reconcile queue/],
    ['payload not an object', 'start-runner', 'oops', /payload is not an object/],
    ['missing scale set id', 'start-runner', { ...START, scaleSetId: undefined }, /scaleSetId/],
    ['fractional id', 'start-runner', { ...START, scaleSetId: 1.5 }, /scaleSetId/],
    ['empty scale set name', 'start-runner', { ...START, scaleSetName: '' }, /scaleSetName/],
    [
      'scale set of another deployment',
      'start-runner',
      { ...START, scaleSetName: 'windows' },
      /"windows" is not in this deployment/,
    ],
    ['bad runner name', 'start-runner', { ...START, runnerName: 'Bad Name' }, /runnerName/],
    ['unknown destroy reason', 'destroy-runner', { ...START, reason: 'whim' }, /reason must be/],
  ])('refuses %s with a clear, permanent error', (_label, name, data, message) => {
    const run = (): unknown => parseRunnersJob(job(name, data), SCALE_SETS);
    expect(run).toThrow(InvalidJobError);
    expect(run).toThrow(message);
  });
});

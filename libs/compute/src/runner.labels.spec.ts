import { EngineConfigError } from './errors';
import {
  RUNNER_LABELS,
  assertNoReservedLabels,
  buildRunnerLabels,
  matchesOwner,
  ownerLabelSelector,
  readRunnerLabels,
} from './runner.labels';

const spec = { name: 'runner-1', scaleSetId: 12, scaleSetName: 'linux' };

describe('runner labels', () => {
  it('puts owner, scale set and runner name on every resource, over user labels', () => {
    const labels = buildRunnerLabels(
      'deploy-1',
      { ...spec, labels: { pool: 'blue', team: 'spec' } },
      { team: 'engine', region: 'eu' },
    );

    expect(labels).toEqual({
      region: 'eu',
      team: 'spec',
      pool: 'blue',
      'io.scaleset.owner': 'deploy-1',
      'io.scaleset.scale-set-id': '12',
      'io.scaleset.scale-set-name': 'linux',
      'io.scaleset.runner-name': 'runner-1',
    });
  });

  it('refuses user labels under the reserved prefix, naming the field', () => {
    expect(() => {
      assertNoReservedLabels({ 'io.scaleset.owner': 'forged' }, 'docker.labels');
    }).toThrow(EngineConfigError);
    expect(() => {
      assertNoReservedLabels({ 'io.scaleset.owner': 'forged' }, 'docker.labels');
    }).toThrow('docker.labels.io.scaleset.owner');
    expect(() => {
      assertNoReservedLabels({ 'io.other': 'x' }, 'docker.labels');
    }).not.toThrow();
  });

  it('selects by owner and, when given, by scale set', () => {
    expect(ownerLabelSelector({ owner: 'd' })).toEqual({ [RUNNER_LABELS.owner]: 'd' });
    expect(ownerLabelSelector({ owner: 'd', scaleSetId: 0 })).toEqual({
      [RUNNER_LABELS.owner]: 'd',
      [RUNNER_LABELS.scaleSetId]: '0',
    });
  });

  it('matches only resources carrying the owner (and scale set) labels', () => {
    const labels = buildRunnerLabels('d', spec);

    expect(matchesOwner(labels, { owner: 'd' })).toBe(true);
    expect(matchesOwner(labels, { owner: 'd', scaleSetId: 12 })).toBe(true);
    expect(matchesOwner(labels, { owner: 'd', scaleSetId: 13 })).toBe(false);
    expect(matchesOwner(labels, { owner: 'other' })).toBe(false);
    expect(matchesOwner({}, { owner: 'd' })).toBe(false);
    expect(matchesOwner(null, { owner: 'd' })).toBe(false);
  });

  it('reads the labels back, tolerating missing or malformed values', () => {
    expect(readRunnerLabels(buildRunnerLabels('d', spec))).toEqual({
      owner: 'd',
      scaleSetId: 12,
      scaleSetName: 'linux',
      runnerName: 'runner-1',
    });
    expect(
      readRunnerLabels({ [RUNNER_LABELS.owner]: 'd', [RUNNER_LABELS.scaleSetId]: '12abc' }),
    ).toEqual({ owner: 'd', scaleSetId: null, scaleSetName: null, runnerName: null });
    expect(readRunnerLabels({ [RUNNER_LABELS.owner]: '' })).toBeNull();
    expect(readRunnerLabels({ team: 'x' })).toBeNull();
    expect(readRunnerLabels(undefined)).toBeNull();
  });
});

import { InvalidRegistryArgumentError } from './errors';
import { scaleSetKeys } from './registry.keys';
import { RUNNER_STATES } from './runner.state';

const hashTag = (key: string): string | undefined => /\{([^}]*)\}/.exec(key)?.[1];

describe('scale set keys', () => {
  it('puts every key of a scale set under one hash tag', () => {
    const keys = scaleSetKeys('scaleset', 42);
    const all = [
      keys.lease,
      keys.epoch,
      keys.cursor,
      keys.session,
      keys.runner('pool-abc'),
      keys.tombstone('pool-abc'),
      ...RUNNER_STATES.map((s) => keys.state(s)),
    ];
    expect(new Set(all.map(hashTag))).toEqual(new Set(['ss-42']));
    expect(keys.runner('pool-abc')).toBe('scaleset:{ss-42}:runner:pool-abc');
    expect(keys.state('idle')).toBe('scaleset:{ss-42}:state:idle');
    expect(all.every((k) => k.startsWith(keys.base))).toBe(true);
  });

  it('separates scale sets whose ids share a prefix', () => {
    expect(scaleSetKeys('p', 1).pattern).toBe('p:{ss-1}:*');
    expect(scaleSetKeys('p', 10).lease.startsWith('p:{ss-1}:')).toBe(false);
  });

  it.each(['', 'a{b', 'a}b', 'a b', ':a', 'a:'])('rejects prefix %j', (prefix) => {
    expect(() => scaleSetKeys(prefix, 1)).toThrow(InvalidRegistryArgumentError);
  });

  it.each([0, -1, 1.5, Number.NaN, 2 ** 60])('rejects scale set id %p', (id) => {
    expect(() => scaleSetKeys('scaleset', id)).toThrow(InvalidRegistryArgumentError);
  });
});

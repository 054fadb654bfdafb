import {
  MAX_RUNNER_NAME_LENGTH,
  RUNNER_NAME_SUFFIX_LENGTH,
  isValidRunnerName,
  randomRunnerSuffix,
  runnerName,
  runnerNamePrefix,
} from './runner.names';

// GCP instance names (RFC 1035), the strictest target: also valid for Docker, AWS tags, Azure.
const RFC1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

describe('runner names', () => {
  it.each([
    ['linux-x64', 'linux-x64'],
    ['My Scale_Set', 'my-scale-set'],
    ['  --weird!!name--  ', 'weird-name'],
    ['123-build', 'r123-build'],
    ['-9', 'r9'],
    ['Ünïcödé', 'unicode'],
    ['', 'runner'],
    ['!!!', 'runner'],
    ['日本語', 'runner'],
  ])('turns scale set name %j into prefix %j', (scaleSetName, prefix) => {
    expect(runnerNamePrefix(scaleSetName)).toBe(prefix);
  });

  it('truncates long scale set names so the whole name fits in 63 characters', () => {
    const long = `${'a'.repeat(49)}-${'b'.repeat(40)}`;
    const name = runnerName(long);
    expect(name).toHaveLength(MAX_RUNNER_NAME_LENGTH);
    expect(name.startsWith('a'.repeat(49))).toBe(true);
    expect(name).toMatch(RFC1035);
    expect(isValidRunnerName(name)).toBe(true);
  });

  it('does not leave a hyphen where the truncation cut', () => {
    const prefix = runnerNamePrefix(`${'a'.repeat(51)}-bbbb`);
    expect(prefix).toBe('a'.repeat(51));
    expect(runnerName(`${'a'.repeat(51)}-bbbb`)).not.toContain('--');
  });

  it('generates valid names for awkward inputs', () => {
    for (const input of ['A', 'x'.repeat(300), '0', 'ends-with-', 'UPPER CASE', 'a.b.c', 'ß']) {
      const name = runnerName(input);
      expect(name).toMatch(RFC1035);
      expect(name.length).toBeLessThanOrEqual(MAX_RUNNER_NAME_LENGTH);
      expect(isValidRunnerName(name)).toBe(true);
    }
  });

  it('uses a random suffix of lower-case letters and digits', () => {
    const suffix = randomRunnerSuffix();
    expect(suffix).toMatch(new RegExp(`^[a-z0-9]{${RUNNER_NAME_SUFFIX_LENGTH}}$`));
    expect(runnerName('pool', 'abc123def4')).toBe('pool-abc123def4');
  });

  it('does not repeat names across many draws', () => {
    const names = new Set(Array.from({ length: 20_000 }, () => runnerName('pool')));
    expect(names.size).toBe(20_000);
  });

  it('rejects names that are not runner names', () => {
    for (const bad of ['', '1abc', '-abc', 'abc-', 'ABC', 'a_b', 'a:b', 'a{b}', 'a'.repeat(64)]) {
      expect(isValidRunnerName(bad)).toBe(false);
    }
    expect(isValidRunnerName('a')).toBe(true);
    expect(isValidRunnerName('a'.repeat(63))).toBe(true);
  });
});

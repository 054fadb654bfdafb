import { EngineConfigError } from '../errors';
import {
  GCP_LABEL_KEY,
  GCP_LABEL_VALUE,
  GCP_RUNNER_LABELS,
  buildGcpLabels,
  gcpLabelValue,
  gcpOwnerFilter,
  matchesGcpOwner,
} from './gcp.labels';

describe('gcpLabelValue', () => {
  it('keeps values that are already valid', () => {
    expect(gcpLabelValue('linux-x64_2')).toBe('linux-x64_2');
    expect(gcpLabelValue('')).toBe('');
  });

  it('maps other characters deterministically to the GCP alphabet', () => {
    expect(gcpLabelValue('My Scale.Set/Ünïcode')).toBe('my-scale-set-unicode');
    expect(gcpLabelValue('My Scale.Set/Ünïcode')).toBe(gcpLabelValue('My Scale.Set/Ünïcode'));
  });

  it('shortens long altered values with a hash so distinct names stay distinct', () => {
    const a = gcpLabelValue(`${'A'.repeat(70)}1`);
    const b = gcpLabelValue(`${'A'.repeat(70)}2`);

    expect(a).toMatch(GCP_LABEL_VALUE);
    expect(a).toHaveLength(63);
    expect(a).not.toBe(b);
  });
});

describe('buildGcpLabels', () => {
  const spec = { name: 'linux-abc123', scaleSetId: 7, scaleSetName: 'Linux X64' };

  it('writes scaleset labels as valid GCP labels, over user labels', () => {
    const labels = buildGcpLabels('deploy-1', { ...spec, labels: { team: 'ci' } }, { env: 'prod' });

    expect(labels).toEqual({
      env: 'prod',
      team: 'ci',
      [GCP_RUNNER_LABELS.owner]: 'deploy-1',
      [GCP_RUNNER_LABELS.scaleSetId]: '7',
      [GCP_RUNNER_LABELS.scaleSetName]: 'linux-x64',
      [GCP_RUNNER_LABELS.runnerName]: 'linux-abc123',
    });
    for (const [key, value] of Object.entries(labels)) {
      expect(key).toMatch(GCP_LABEL_KEY);
      expect(value).toMatch(GCP_LABEL_VALUE);
    }
  });

  it('maps spec label values and refuses invalid or reserved spec label keys', () => {
    expect(buildGcpLabels('d', { ...spec, labels: { team: 'Core Infra' } })['team']).toBe(
      'core-infra',
    );
    expect(() => buildGcpLabels('d', { ...spec, labels: { 'Bad Key': 'x' } })).toThrow(
      EngineConfigError,
    );
    expect(() => buildGcpLabels('d', { ...spec, labels: { 'scaleset-owner': 'x' } })).toThrow(
      EngineConfigError,
    );
  });

  it('refuses more labels than GCP allows', () => {
    const extra = Object.fromEntries(Array.from({ length: 61 }, (_, i) => [`l${i}`, 'x']));

    expect(() => buildGcpLabels('d', spec, extra)).toThrow(/64 labels/);
  });
});

describe('owner selection', () => {
  it('builds a Compute API filter on the owner and scale set labels', () => {
    expect(gcpOwnerFilter({ owner: 'd1' })).toBe('(labels.scaleset-owner = "d1")');
    expect(gcpOwnerFilter({ owner: 'd1', scaleSetId: 7 })).toBe(
      '(labels.scaleset-owner = "d1") AND (labels.scaleset-scale-set-id = "7")',
    );
  });

  it('matches labels of the owner and scale set only', () => {
    const labels = { [GCP_RUNNER_LABELS.owner]: 'd1', [GCP_RUNNER_LABELS.scaleSetId]: '7' };

    expect(matchesGcpOwner(labels, { owner: 'd1' })).toBe(true);
    expect(matchesGcpOwner(labels, { owner: 'd1', scaleSetId: 7 })).toBe(true);
    expect(matchesGcpOwner(labels, { owner: 'd1', scaleSetId: 8 })).toBe(false);
    expect(matchesGcpOwner(labels, { owner: 'd2' })).toBe(false);
    expect(matchesGcpOwner(undefined, { owner: 'd1' })).toBe(false);
  });
});

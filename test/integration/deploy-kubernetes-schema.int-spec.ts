import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';

// Every manifest under deploy/kubernetes (and the optional Redis) validated against the
// Kubernetes API schemas (kubernetes-models) and the Prometheus Operator's (ServiceMonitor).
const ROOT = join(__dirname, '..', '..', 'deploy', 'kubernetes');
const VALIDATOR = join(__dirname, 'support', 'validate-k8s.mjs');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string };
  [key: string]: unknown;
}

function resources(dir: string): K8sObject[] {
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as {
    resources?: string[];
  };
  return (kustomization.resources ?? []).flatMap((file) =>
    parseAllDocuments(readFileSync(join(dir, file), 'utf8'))
      .map((doc) => doc.toJS() as K8sObject | null)
      .filter((o): o is K8sObject => o !== null),
  );
}

function validate(
  objects: readonly K8sObject[],
): { kind: string; name?: string; errors: string | null }[] {
  const res = spawnSync(process.execPath, [VALIDATOR], {
    input: JSON.stringify(objects),
    encoding: 'utf8',
  });
  if (res.status !== 0) {
    throw new Error(`validator failed: ${res.stderr}`);
  }
  return JSON.parse(res.stdout) as { kind: string; name?: string; errors: string | null }[];
}

describe('Kubernetes manifests against the API schemas', () => {
  const objects = [...resources(ROOT), ...resources(join(ROOT, 'redis'))];

  it('finds the objects of the kustomizations', () => {
    const kinds = new Set(objects.map((o) => o.kind));
    for (const kind of [
      'Deployment',
      'Service',
      'ConfigMap',
      'Secret',
      'HorizontalPodAutoscaler',
      'PodDisruptionBudget',
      'ServiceMonitor',
      'StatefulSet',
    ]) {
      expect(kinds).toContain(kind);
    }
  });

  it('validates every object', () => {
    const invalid = validate(objects).filter((r) => r.errors !== null);
    expect(invalid).toEqual([]);
  });

  it('rejects a broken Deployment (the check can fail)', () => {
    const deployment = objects.find((o) => o.kind === 'Deployment');
    expect(deployment).toBeDefined();
    const broken = { ...deployment, spec: { replicas: 'two' } } as K8sObject;
    const [result] = validate([broken]);
    expect(result?.errors).toEqual(expect.stringContaining('spec'));
  });
});

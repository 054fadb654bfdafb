import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { loadConfig, type ScalesetConfig } from '@app/config';

// The Kubernetes manifests in deploy/kubernetes, checked without a cluster: the
// kustomizations are rendered here (namespace, resources, images: all they may use), every
// document is checked structurally, the ConfigMap's config.yaml goes through the real
// loadConfig() with the example Secret's files, and probes, ports, selectors, security
// contexts and images are checked against each other and against that configuration.
// When kubectl is installed, `kubectl kustomize` must render the same objects.
//
// Full OpenAPI validation needs a schema package (kubernetes-models and
// @kubernetes-models/prometheus-operator, not yet dev dependencies); these checks are the
// structural part that matters for this deployment.

const ROOT = join(__dirname, '..', '..');
const BASE = join(ROOT, 'deploy', 'kubernetes');
const REDIS = join(BASE, 'redis');
const SCALESET_IMAGE = 'scaleset';

type Obj = Record<string, unknown>;

interface K8sObject extends Obj {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: Obj & { name: string; namespace?: string };
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown): Obj {
  return isObj(v) ? v : {};
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? (v as unknown[]) : [];
}

function objs(v: unknown): Obj[] {
  return arr(v).filter(isObj);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Follows a dotted path through plain objects. */
function at(v: unknown, path: string): unknown {
  let cur: unknown = v;
  for (const key of path.split('.')) {
    cur = isObj(cur) ? cur[key] : undefined;
  }
  return cur;
}

function labelsOf(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(obj(v))) {
    if (typeof val === 'string') {
      out[k] = val;
    }
  }
  return out;
}

/** `selector` (non-empty) is a subset of `labels`. */
function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PriorityClass',
  'StorageClass',
]);
const KUSTOMIZATION_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'images']);
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

function parseManifest(file: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (doc.errors.length > 0) {
      throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) {
      continue;
    }
    const o = obj(value);
    const name = str(at(o, 'metadata.name'));
    if (str(o['apiVersion']) === undefined || str(o['kind']) === undefined || name === undefined) {
      throw new Error(`${file}: a document lacks apiVersion, kind or metadata.name`);
    }
    out.push(o as K8sObject);
  }
  return out;
}

function podSpecs(o: K8sObject): Obj[] {
  return WORKLOAD_KINDS.has(o.kind) ? [obj(at(o, 'spec.template.spec'))] : [];
}

function containersOf(o: K8sObject): Obj[] {
  return podSpecs(o).flatMap((p) => [...objs(p['initContainers']), ...objs(p['containers'])]);
}

/**
 * What `kustomize build` does for a kustomization limited to namespace, resources (files
 * or directories with their own kustomization.yaml) and images. Anything else is refused,
 * so a new transformer cannot slip past these checks unrendered.
 */
function renderKustomization(dir: string): K8sObject[] {
  const k = obj(parseManifestLoose(join(dir, 'kustomization.yaml')));
  const unknown = Object.keys(k).filter((key) => !KUSTOMIZATION_KEYS.has(key));
  if (unknown.length > 0) {
    throw new Error(
      `${dir}/kustomization.yaml uses ${unknown.join(', ')}, which this renderer does not implement`,
    );
  }
  const objects: K8sObject[] = [];
  for (const r of arr(k['resources'])) {
    const path = join(dir, String(r));
    if (!existsSync(path)) {
      throw new Error(`${dir}/kustomization.yaml: resource ${String(r)} does not exist`);
    }
    objects.push(
      ...(statSync(path).isDirectory() ? renderKustomization(path) : parseManifest(path)),
    );
  }
  const namespace = str(k['namespace']);
  for (const o of objects) {
    if (namespace !== undefined && !CLUSTER_SCOPED.has(o.kind)) {
      o.metadata.namespace = namespace;
    }
    for (const image of objs(k['images'])) {
      for (const c of containersOf(o)) {
        const ref = str(c['image']) ?? '';
        const name = (ref.split('@')[0] ?? '').replace(/:[^:/]+$/, '');
        if (name !== '' && name === image['name']) {
          const tag = str(image['newTag']);
          const newName = str(image['newName']) ?? name;
          c['image'] = tag === undefined ? ref.replace(name, newName) : `${newName}:${tag}`;
        }
      }
    }
  }
  return objects;
}

function parseManifestLoose(file: string): unknown {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const first = docs[0];
  if (docs.length !== 1 || first === undefined || first.errors.length > 0) {
    throw new Error(`${file}: expected one valid YAML document`);
  }
  return first.toJS();
}

function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name);
}

/** The ConfigMap's config.yaml, loaded by the real loader with the Secret's files. */
function configOf(objects: readonly K8sObject[], secretMount: string): ScalesetConfig {
  const cm = find(objects, 'ConfigMap', 'scaleset-config');
  const text = str(obj(at(cm, 'data'))['config.yaml']);
  const secret = obj(at(find(objects, 'Secret', 'scaleset'), 'stringData'));
  if (text === undefined) {
    throw new Error('ConfigMap scaleset-config has no config.yaml');
  }
  return loadConfig({
    configPath: '/etc/scaleset/config.yaml',
    env: {},
    cwd: '/',
    readFile: (p) => {
      if (p === '/etc/scaleset/config.yaml') {
        return text;
      }
      const value = p.startsWith(`${secretMount}/`)
        ? str(secret[p.slice(secretMount.length + 1)])
        : undefined;
      if (value === undefined) {
        throw Object.assign(new Error(`ENOENT: no such file, open '${p}'`), { code: 'ENOENT' });
      }
      return value;
    },
  });
}

function containerPort(c: Obj, portRef: unknown): number | undefined {
  if (typeof portRef === 'number') {
    return portRef;
  }
  const p = objs(c['ports']).find((port) => port['name'] === portRef);
  return typeof p?.['containerPort'] === 'number' ? p['containerPort'] : undefined;
}

/** Every problem found in the rendered objects of the base (plus, optionally, Redis). */
function checkManifests(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (seen.has(id)) {
      problems.push(`${id} is defined twice`);
    }
    seen.add(id);
    if (!CLUSTER_SCOPED.has(o.kind) && o.metadata.namespace === undefined) {
      problems.push(`${id} has no namespace`);
    }
  }

  const workloads = objects.filter((o) => WORKLOAD_KINDS.has(o.kind));
  for (const w of workloads) {
    const name = `${w.kind}/${w.metadata.name}`;
    const selector = labelsOf(at(w, 'spec.selector.matchLabels'));
    const templateLabels = labelsOf(at(w, 'spec.template.metadata.labels'));
    if (!selects(selector, templateLabels)) {
      problems.push(`${name}: spec.selector.matchLabels does not match the template labels`);
    }
    const pod = obj(at(w, 'spec.template.spec'));
    if (at(pod, 'securityContext.runAsNonRoot') !== true) {
      problems.push(`${name}: pod securityContext.runAsNonRoot is not true`);
    }
    const uid = at(pod, 'securityContext.runAsUser');
    if (typeof uid !== 'number' || uid === 0) {
      problems.push(`${name}: pod securityContext.runAsUser must be a non-zero uid`);
    }
    if (at(pod, 'securityContext.seccompProfile.type') !== 'RuntimeDefault') {
      problems.push(`${name}: pod seccompProfile is not RuntimeDefault`);
    }
    if (pod['automountServiceAccountToken'] !== false) {
      problems.push(`${name}: automountServiceAccountToken is not false`);
    }
    const volumes = new Set(
      [...objs(pod['volumes']), ...objs(at(w, 'spec.volumeClaimTemplates'))].map(
        (v) => v['name'] ?? at(v, 'metadata.name'),
      ),
    );
    for (const c of containersOf(w)) {
      const cname = `${name} container ${String(c['name'])}`;
      const sc = obj(c['securityContext']);
      if (sc['allowPrivilegeEscalation'] !== false) {
        problems.push(`${cname}: allowPrivilegeEscalation is not false`);
      }
      if (sc['readOnlyRootFilesystem'] !== true) {
        problems.push(`${cname}: readOnlyRootFilesystem is not true`);
      }
      if (sc['privileged'] === true) {
        problems.push(`${cname}: privileged`);
      }
      const drop = arr(at(sc, 'capabilities.drop'));
      if (!drop.includes('ALL')) {
        problems.push(`${cname}: capabilities.drop does not include ALL`);
      }
      if (arr(at(sc, 'capabilities.add')).length > 0) {
        problems.push(`${cname}: adds capabilities`);
      }
      for (const kind of ['requests', 'limits']) {
        for (const res of ['cpu', 'memory']) {
          if (at(c, `resources.${kind}.${res}`) === undefined) {
            problems.push(`${cname}: no resources.${kind}.${res}`);
          }
        }
      }
      const image = str(c['image']) ?? '';
      if (!/^[^@]+:[^:/@]+$/.test(image) && !image.includes('@sha256:')) {
        problems.push(`${cname}: image ${image} has no tag or digest`);
      } else if (image.endsWith(':latest')) {
        problems.push(`${cname}: image ${image} uses the latest tag`);
      }
      for (const m of objs(c['volumeMounts'])) {
        if (!volumes.has(m['name'])) {
          problems.push(`${cname}: mounts volume ${String(m['name'])}, which the pod lacks`);
        }
      }
      for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        const port = at(c, `${probe}.httpGet.port`);
        if (port !== undefined && containerPort(c, port) === undefined) {
          problems.push(
            `${cname}: ${probe} uses port ${JSON.stringify(port)}, which the container lacks`,
          );
        }
      }
    }
  }

  // Services, PDBs and the ServiceMonitor must select something; targetPorts must exist.
  const podLabels = workloads.map((w) => ({
    w,
    labels: labelsOf(at(w, 'spec.template.metadata.labels')),
  }));
  for (const svc of objects.filter((o) => o.kind === 'Service')) {
    const selector = labelsOf(at(svc, 'spec.selector'));
    const targets = podLabels.filter((p) => selects(selector, p.labels));
    if (targets.length === 0) {
      problems.push(`Service/${svc.metadata.name} selects no workload`);
    }
    for (const port of objs(at(svc, 'spec.ports'))) {
      for (const { w } of targets) {
        if (!containersOf(w).some((c) => containerPort(c, port['targetPort']) !== undefined)) {
          problems.push(
            `Service/${svc.metadata.name}: targetPort ${String(port['targetPort'])} is not a port of ${w.metadata.name}`,
          );
        }
      }
    }
  }
  for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
    const selector = labelsOf(at(pdb, 'spec.selector.matchLabels'));
    if (!podLabels.some((p) => selects(selector, p.labels))) {
      problems.push(`PodDisruptionBudget/${pdb.metadata.name} selects no workload`);
    }
  }
  for (const hpa of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
    const ref = obj(at(hpa, 'spec.scaleTargetRef'));
    const target = find(objects, str(ref['kind']) ?? '', str(ref['name']) ?? '');
    if (target === undefined) {
      problems.push(`HorizontalPodAutoscaler/${hpa.metadata.name}: target not found`);
    } else if (at(target, 'spec.replicas') !== at(hpa, 'spec.minReplicas')) {
      problems.push(
        `HorizontalPodAutoscaler/${hpa.metadata.name}: minReplicas differs from ${target.metadata.name}'s replicas`,
      );
    }
    if (
      objs(at(target, 'spec.template.spec.containers')).some(
        (c) => at(c, 'resources.requests.cpu') === undefined,
      )
    ) {
      problems.push(
        `HorizontalPodAutoscaler/${hpa.metadata.name}: CPU utilization needs cpu requests`,
      );
    }
  }
  for (const sm of objects.filter((o) => o.kind === 'ServiceMonitor')) {
    const selector = labelsOf(at(sm, 'spec.selector.matchLabels'));
    const services = objects.filter(
      (o) => o.kind === 'Service' && selects(selector, labelsOf(o.metadata['labels'])),
    );
    if (services.length === 0) {
      problems.push(`ServiceMonitor/${sm.metadata.name} selects no Service`);
    }
    for (const ep of objs(at(sm, 'spec.endpoints'))) {
      for (const svc of services) {
        if (!objs(at(svc, 'spec.ports')).some((p) => p['name'] === ep['port'])) {
          problems.push(
            `ServiceMonitor/${sm.metadata.name}: Service/${svc.metadata.name} has no port ${String(ep['port'])}`,
          );
        }
      }
    }
  }
  return problems;
}

/** Problems between the scaleset workloads and their configuration (ConfigMap + Secret). */
function checkAgainstConfig(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  const listener = find(objects, 'Deployment', 'scaleset-listener');
  const worker = find(objects, 'Deployment', 'scaleset-worker');
  if (listener === undefined || worker === undefined) {
    return ['the scaleset-listener and scaleset-worker Deployments are required'];
  }
  const main = (d: K8sObject): Obj =>
    objs(at(d, 'spec.template.spec.containers')).find((c) => c['name'] === 'scaleset') ?? {};
  const secretMount = str(
    objs(main(listener)['volumeMounts']).find((m) => m['name'] === 'secrets')?.['mountPath'],
  );
  if (secretMount === undefined) {
    return ['the listener does not mount the Secret (volume "secrets")'];
  }
  const config = configOf(objects, secretMount);

  const images = new Set([main(listener), main(worker)].map((c) => c['image']));
  if (images.size !== 1) {
    problems.push(`listener and worker use different images: ${[...images].join(', ')}`);
  }
  if (at(listener, 'spec.replicas') !== 2) {
    problems.push('the listener Deployment does not run 2 replicas');
  }
  if (!config.prometheus.enable) {
    problems.push('the ConfigMap does not enable prometheus');
  }

  for (const [d, role] of [
    [listener, 'listener'],
    [worker, 'worker'],
  ] as const) {
    const c = main(d);
    if (JSON.stringify(c['args']) !== JSON.stringify([role])) {
      problems.push(`${role}: args are not ["${role}"]`);
    }
    if (containerPort(c, 'metrics') !== config.prometheus.port) {
      problems.push(`${role}: port "metrics" is not prometheus.port ${config.prometheus.port}`);
    }
    const env = objs(c['env']);
    const configPath = str(env.find((e) => e['name'] === 'SCALESET_CONFIG')?.['value']);
    const configMount = objs(c['volumeMounts']).find((m) => m['name'] === 'config');
    const configVolume = objs(at(d, 'spec.template.spec.volumes')).find(
      (v) => v['name'] === 'config',
    );
    if (
      configPath === undefined ||
      str(configMount?.['mountPath']) !== posix.dirname(configPath) ||
      at(configVolume, 'configMap.name') !== 'scaleset-config' ||
      posix.basename(configPath) !== 'config.yaml'
    ) {
      problems.push(
        `${role}: SCALESET_CONFIG does not point at the mounted ConfigMap's config.yaml`,
      );
    }
    const secretVolume = objs(at(d, 'spec.template.spec.volumes')).find(
      (v) => v['name'] === 'secrets',
    );
    if (at(secretVolume, 'secret.secretName') !== 'scaleset') {
      problems.push(`${role}: volume "secrets" is not the Secret scaleset`);
    }
    const grace = at(d, 'spec.template.spec.terminationGracePeriodSeconds');
    const needed = role === 'worker' ? config.worker.shutdownTimeoutMs / 1000 + 5 : 30;
    if (typeof grace !== 'number' || grace < needed) {
      problems.push(`${role}: terminationGracePeriodSeconds below ${needed} s`);
    }
  }

  const lc = main(listener);
  const health = config.listener.healthPort;
  const probes: [string, string][] = [
    ['livenessProbe', '/healthz'],
    ['readinessProbe', '/readyz'],
    ['startupProbe', '/healthz'],
  ];
  for (const [probe, path] of probes) {
    if (at(lc, `${probe}.httpGet.path`) !== path) {
      problems.push(`listener: ${probe} does not GET ${path}`);
    }
    if (containerPort(lc, at(lc, `${probe}.httpGet.port`)) !== health) {
      problems.push(`listener: ${probe} is not on listener.health_port ${health}`);
    }
  }
  const svc = find(objects, 'Service', 'scaleset-listener');
  if (
    !objs(at(svc, 'spec.ports')).some((p) => p['name'] === 'health' && p['targetPort'] === 'health')
  ) {
    problems.push('Service scaleset-listener does not expose the health port');
  }

  // The example Secret holds placeholders only: a real credential must never be committed.
  const secret = find(objects, 'Secret', 'scaleset');
  for (const [key, value] of Object.entries(obj(at(secret, 'stringData')))) {
    if (typeof value !== 'string' || !value.includes('REPLACE-ME')) {
      problems.push(`Secret scaleset: ${key} is not a REPLACE-ME placeholder`);
    }
  }
  if (at(secret, 'data') !== undefined) {
    problems.push('Secret scaleset: use stringData placeholders, not data');
  }
  return problems;
}

function kubectlAvailable(): boolean {
  return spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
}

function identities(objects: readonly K8sObject[]): string[] {
  return objects
    .map((o) => {
      const images = containersOf(o).map((c) => String(c['image']));
      return `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}${images.length > 0 ? ` ${images.join(',')}` : ''}`;
    })
    .sort();
}

describe('deploy/kubernetes', () => {
  const base = renderKustomization(BASE);
  const redis = renderKustomization(REDIS);

  it('renders every document with apiVersion, kind and metadata.name into the scaleset namespace', () => {
    const kinds = base.map((o) => o.kind).sort();
    expect(kinds).toEqual(
      [
        'ConfigMap',
        'Deployment',
        'Deployment',
        'HorizontalPodAutoscaler',
        'Namespace',
        'NetworkPolicy',
        'PodDisruptionBudget',
        'PodDisruptionBudget',
        'Secret',
        'Service',
        'Service',
        'ServiceAccount',
        'ServiceMonitor',
      ].sort(),
    );
    expect(find(base, 'ServiceMonitor', 'scaleset')?.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(new Set([...base, ...redis].map((o) => o.metadata.namespace ?? 'scaleset'))).toEqual(
      new Set(['scaleset']),
    );
    expect(find(base, 'Namespace', 'scaleset')).toBeDefined();
  });

  it('passes the structural checks (selectors, security contexts, resources, probes, images)', () => {
    expect(checkManifests([...base, ...redis])).toEqual([]);
  });

  it('agrees with its own configuration: the ConfigMap loads, ports and paths line up', () => {
    expect(checkAgainstConfig(base)).toEqual([]);
    const [image] = containersOf(find(base, 'Deployment', 'scaleset-listener') as K8sObject).map(
      (c) => c['image'],
    );
    const images = obj(parseManifestLoose(join(BASE, 'kustomization.yaml')))['images'];
    const pinned = objs(images).find((i) => i['name'] === SCALESET_IMAGE);
    expect(image).toBe(`${String(pinned?.['newName'])}:${String(pinned?.['newTag'])}`);
  });

  it('the optional Redis is AOF-backed, noeviction, and reads its password from the Secret', () => {
    const sts = find(redis, 'StatefulSet', 'scaleset-redis');
    const script = arr(at(objs(at(sts, 'spec.template.spec.containers'))[0], 'args')).join(' ');
    expect(script).toContain('--appendonly yes');
    expect(script).toContain('--maxmemory-policy noeviction');
    expect(script).toContain('/run/secrets/scaleset/redis-password');
    const config = configOf(base, '/run/secrets/scaleset');
    expect(config.redis.url).toBe(
      `redis://${String(find(redis, 'Service', 'scaleset-redis')?.metadata.name)}:6379`,
    );
    expect(config.redis.password).toContain('REPLACE-ME');
  });

  // The checks must be able to fail: break one thing at a time and expect it to be named.
  it.each<[string, (objects: K8sObject[]) => void, RegExp]>([
    [
      'a writable root filesystem',
      (o) => {
        const c = containersOf(find(o, 'Deployment', 'scaleset-worker') as K8sObject)[0] as Obj;
        obj(c['securityContext'])['readOnlyRootFilesystem'] = false;
      },
      /scaleset-worker container scaleset: readOnlyRootFilesystem/,
    ],
    [
      'a selector that misses the template',
      (o) => {
        const d = find(o, 'Deployment', 'scaleset-listener') as K8sObject;
        obj(at(d, 'spec.selector.matchLabels'))['app.kubernetes.io/component'] = 'other';
      },
      /scaleset-listener: spec.selector.matchLabels/,
    ],
    [
      'a probe on a port the container lacks',
      (o) => {
        const c = containersOf(find(o, 'Deployment', 'scaleset-listener') as K8sObject)[0] as Obj;
        obj(at(c, 'livenessProbe.httpGet'))['port'] = 'nope';
      },
      /livenessProbe uses port "nope"/,
    ],
    [
      'a root pod',
      (o) => {
        const d = find(o, 'Deployment', 'scaleset-listener') as K8sObject;
        obj(at(d, 'spec.template.spec.securityContext'))['runAsUser'] = 0;
      },
      /runAsUser must be a non-zero uid/,
    ],
  ])('reports %s', (_what, breakIt, expected) => {
    const copy = structuredClone([...base, ...redis]);
    breakIt(copy);
    expect(checkManifests(copy).join('\n')).toMatch(expected);
  });

  it.each<[string, (objects: K8sObject[]) => void, RegExp]>([
    [
      'a health port that differs from listener.health_port',
      (o) => {
        const c = containersOf(find(o, 'Deployment', 'scaleset-listener') as K8sObject)[0] as Obj;
        const port = objs(c['ports']).find((p) => p['name'] === 'health') as Obj;
        port['containerPort'] = 8081;
      },
      /livenessProbe is not on listener.health_port 8080/,
    ],
    [
      'a real-looking secret value',
      (o) => {
        obj(at(find(o, 'Secret', 'scaleset'), 'stringData'))['redis-password'] = 'hunter2';
      },
      /redis-password is not a REPLACE-ME placeholder/,
    ],
    [
      'listener and worker on different images',
      (o) => {
        const c = containersOf(find(o, 'Deployment', 'scaleset-worker') as K8sObject)[0] as Obj;
        c['image'] = 'ghcr.io/example/scaleset:0.0.9';
      },
      /different images/,
    ],
  ])('reports %s against the configuration', (_what, breakIt, expected) => {
    const copy = structuredClone(base);
    breakIt(copy);
    expect(checkAgainstConfig(copy).join('\n')).toMatch(expected);
  });

  it('refuses a kustomization feature the renderer does not implement', () => {
    const dir = mkdtempSync(join(tmpdir(), 'deploy-k8s-'));
    try {
      writeFileSync(
        join(dir, 'cm.yaml'),
        stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }),
      );
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        stringify({ resources: ['cm.yaml'], patches: [{ path: 'p.yaml' }] }),
      );
      expect(() => renderKustomization(dir)).toThrow(/uses patches/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const withKubectl = kubectlAvailable() ? it : it.skip;
  if (!kubectlAvailable()) {
    process.stderr.write(
      'deploy-kubernetes: kubectl not installed; skipping the `kubectl kustomize` comparison\n',
    );
  }
  withKubectl.each([
    ['deploy/kubernetes', BASE, () => base],
    ['deploy/kubernetes/redis', REDIS, () => redis],
  ])('`kubectl kustomize %s` renders the same objects', (_name, dir, rendered) => {
    const out = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    const theirs: K8sObject[] = parseAllDocuments(out.stdout)
      .map((d) => d.toJS() as unknown)
      .filter(isObj) as K8sObject[];
    expect(identities(theirs)).toEqual(identities(rendered()));
  });
});

import Dockerode from 'dockerode';
import {
  createComputeEngine,
  DockerEngine,
  GcpEngine,
  RUNNER_LABELS,
  type ComputeEngine,
  type ComputeEngineConfig,
  type GcpEngineOptions,
} from '@app/compute';
import {
  buildRunnerTestImage,
  FakeCompute,
  fakeComputeClientOptions,
  fakeRunnerGuest,
  fakeRunnerScript,
  type FakeComputeGuest,
  type FakeGuestContext,
} from '@app/testing';
import { containerJitConfig, ownedContainers, removeOwnedContainers } from './worker.fixture';

// The compute side of the worker and reconciler integration tests, one implementation per
// engine, so the same scenarios run on every engine: the Docker engine against a real dockerd,
// the GCP engine against the fake Compute Engine REST API. A scenario asks for a runner
// *behaviour* and the backend makes the engine's resource behave that way: a container image
// for Docker, a guest program inside the fake VM for GCP.

/**
 * What the runner's compute does once started: run the fake runner (online → one job → exit),
 * exit at once, or do nothing for ever (a runner that never comes online).
 */
export type RunnerBehaviour = 'fake-runner' | 'exit0' | 'sleep';

/** One compute resource as the test sees it, outside the engine under test. */
export interface BackendResource {
  readonly name: string;
  /** True once the runner inside has exited (container exited, VM TERMINATED). */
  readonly exited: boolean;
  /** True while it runs (container running, VM RUNNING; not while a VM still boots). */
  readonly running: boolean;
  /** The resource's engine id (container id, VM id). */
  readonly engineId: string;
}

/** The compute half of a test rig, for one engine kind. */
export interface ComputeBackend {
  readonly kind: 'docker' | 'gcp';
  /** Builds images / starts fakes; once per test file. */
  setup(): Promise<void>;
  /** Stops what setup started. */
  teardown(): Promise<void>;
  /** How the worker app builds its engines (a cloud engine gets offline credentials). */
  readonly createEngine: (config: ComputeEngineConfig) => ComputeEngine;
  /** The `engine:` section of a config file (indented lines) running this behaviour. */
  engineYaml(behaviour: RunnerBehaviour): string[];
  /** The image reference that engine section names for this behaviour. */
  imageOf(behaviour: RunnerBehaviour): string;
  /** An engine like the worker's, for tests that drive the engine by hand. */
  engine(owner: string, behaviour: RunnerBehaviour): ComputeEngine;
  /** An engine whose runner image does not exist (a permanent start failure). */
  engineYamlMissingImage(): string[];
  /** This owner's resources, running or not. */
  owned(owner: string): Promise<BackendResource[]>;
  /** The runner image the resource was created from (container image, VM boot image). */
  image(name: string): Promise<string | undefined>;
  /** scaleset's labels on the resource, read back in the engine-neutral form. */
  runnerLabels(name: string): Promise<Record<string, string> | undefined>;
  /** One resource by name, whoever owns it. */
  resource(name: string): Promise<BackendResource | undefined>;
  /** Removes a resource behind the engine's back (someone deleted it by hand). */
  removeOutOfBand(name: string): Promise<void>;
  /** The JIT config the runner's compute was given. */
  jitConfig(name: string): Promise<string | undefined>;
  /** A long-running resource with scaleset's labels but no owner label (not ours). */
  createForeign(name: string, scaleSet: { id: number; name: string }): Promise<void>;
  /** Removes what createForeign made. */
  removeForeign(name: string): Promise<void>;
  /** Removes every resource of this owner (cleanup). */
  removeOwned(owner: string): Promise<void>;
}

const IMAGES: Readonly<Record<RunnerBehaviour, { tag: string; script: () => string }>> = {
  'fake-runner': {
    tag: 'scaleset-worker-test:fake-runner',
    script: () => fakeRunnerScript().content,
  },
  exit0: { tag: 'scaleset-reconcile-test:exit0', script: () => '#!/bin/sh\nexit 0\n' },
  sleep: { tag: 'scaleset-reconcile-test:sleep', script: () => '#!/bin/sh\nexec sleep 100000\n' },
};

/** The Docker engine against the test dockerd (DOCKER_HOST), with busybox runner images. */
export class DockerBackend implements ComputeBackend {
  readonly kind = 'docker' as const;
  readonly createEngine = createComputeEngine;
  private readonly images = new Map<RunnerBehaviour, string>();

  constructor(readonly docker: Dockerode = new Dockerode()) {}

  async setup(): Promise<void> {
    for (const [behaviour, { tag, script }] of Object.entries(IMAGES) as [
      RunnerBehaviour,
      (typeof IMAGES)[RunnerBehaviour],
    ][]) {
      const image = await buildRunnerTestImage(this.docker, { tag, runScript: script() });
      this.images.set(behaviour, image.ref);
    }
  }

  async teardown(): Promise<void> {
    // Images stay for the next file; containers are removed per test.
  }

  async image(name: string): Promise<string | undefined> {
    return (await this.inspect(name))?.Config.Image;
  }

  async runnerLabels(name: string): Promise<Record<string, string> | undefined> {
    const labels = (await this.inspect(name))?.Config.Labels;
    return labels === undefined
      ? undefined
      : Object.fromEntries(Object.values(RUNNER_LABELS).map((key) => [key, labels[key] ?? '']));
  }

  private async inspect(name: string): Promise<Dockerode.ContainerInspectInfo | undefined> {
    try {
      return await this.docker.getContainer(name).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) {
        return undefined;
      }
      throw err;
    }
  }

  imageOf(behaviour: RunnerBehaviour): string {
    const image = this.images.get(behaviour);
    if (image === undefined) {
      throw new Error('DockerBackend.setup() has not run');
    }
    return image;
  }

  engineYaml(behaviour: RunnerBehaviour): string[] {
    return this.yamlFor(this.imageOf(behaviour));
  }

  engineYamlMissingImage(): string[] {
    return this.yamlFor(`scaleset-worker-missing:${Date.now().toString(36)}`);
  }

  private yamlFor(image: string): string[] {
    const dockerHost = process.env['DOCKER_HOST'];
    return [
      '  docker:',
      '    enable: true',
      `    image: '${image}'`,
      '    pull_policy: never',
      '    network: host',
      ...(dockerHost === undefined ? [] : [`    docker_host: '${dockerHost}'`]),
    ];
  }

  engine(owner: string, behaviour: RunnerBehaviour): ComputeEngine {
    const dockerHost = process.env['DOCKER_HOST'];
    return new DockerEngine({
      ownerId: owner,
      image: this.imageOf(behaviour),
      pullPolicy: 'never',
      network: 'host',
      ...(dockerHost === undefined ? {} : { dockerHost }),
    });
  }

  async owned(owner: string): Promise<BackendResource[]> {
    return (await ownedContainers(this.docker, owner)).map((c) => ({
      name: c.Labels[RUNNER_LABELS.runnerName] ?? (c.Names[0] ?? '').replace(/^\//, ''),
      exited: c.State === 'exited' || c.State === 'dead',
      running: c.State === 'running',
      engineId: c.Id,
    }));
  }

  async resource(name: string): Promise<BackendResource | undefined> {
    const info = await this.inspect(name);
    return info === undefined
      ? undefined
      : {
          name,
          exited: info.State.Status === 'exited' || info.State.Status === 'dead',
          running: info.State.Status === 'running',
          engineId: info.Id,
        };
  }

  async removeOutOfBand(name: string): Promise<void> {
    await this.docker.getContainer(name).remove({ force: true });
  }

  async jitConfig(name: string): Promise<string | undefined> {
    return containerJitConfig(this.docker, name);
  }

  async createForeign(name: string, scaleSet: { id: number; name: string }): Promise<void> {
    const container = await this.docker.createContainer({
      name,
      Image: this.imageOf('sleep'),
      Labels: {
        [RUNNER_LABELS.scaleSetId]: String(scaleSet.id),
        [RUNNER_LABELS.scaleSetName]: scaleSet.name,
        [RUNNER_LABELS.runnerName]: name,
      },
    });
    await container.start();
  }

  async removeForeign(name: string): Promise<void> {
    await this.docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
  }

  async removeOwned(owner: string): Promise<void> {
    await removeOwnedContainers(this.docker, owner);
  }
}

const GCP_ZONES = ['us-central1-a', 'us-central1-b'];
const GCP_PROJECT = 'fake-project';
const GCP_IMAGE_PREFIX = `projects/${GCP_PROJECT}/global/images/`;
// scaleset's GCP label keys, mapped back to the engine-neutral keys.
const GCP_LABEL_KEYS: Readonly<Record<string, string>> = {
  'scaleset-owner': RUNNER_LABELS.owner,
  'scaleset-scale-set-id': RUNNER_LABELS.scaleSetId,
  'scaleset-scale-set': RUNNER_LABELS.scaleSetName,
  'scaleset-runner': RUNNER_LABELS.runnerName,
};

/**
 * The GCP engine (the real `@google-cloud/compute` client) against the fake Compute REST API.
 * What runs inside a VM depends on its boot image, as with Docker: `fake-runner` runs the
 * documented image contract (read and remove the JIT config, run the runner, power off),
 * `exit0` powers off at once, `sleep` does nothing.
 */
export class GcpBackend implements ComputeBackend {
  readonly kind = 'gcp' as const;
  readonly fake: FakeCompute;

  constructor() {
    this.fake = new FakeCompute({
      project: GCP_PROJECT,
      zones: GCP_ZONES,
      images: (['fake-runner', 'exit0', 'sleep'] as const).map((b) => GCP_IMAGE_PREFIX + b),
      bootDelayMs: 30,
      guest: (vm) => this.guest(vm),
    });
  }

  readonly createEngine = (config: ComputeEngineConfig): ComputeEngine =>
    config.kind === 'gcp'
      ? new GcpEngine(config.gcp, { clientOptions: this.clientCredentials() })
      : createComputeEngine(config);

  /** The fake's client options without the endpoint, which comes from `api_endpoint`. */
  private clientCredentials(): Record<string, unknown> {
    const {
      apiEndpoint: _a,
      port: _p,
      protocol: _q,
      ...auth
    } = fakeComputeClientOptions(this.fake);
    return auth;
  }

  private readonly guests: Readonly<Record<RunnerBehaviour, FakeComputeGuest>> = {
    'fake-runner': fakeRunnerGuest({ jitMetadataKey: 'scaleset-jit-config' }),
    exit0: (vm) => {
      vm.shutdown();
      return Promise.resolve();
    },
    sleep: () => Promise.resolve(),
  };

  private guest(vm: FakeGuestContext): Promise<void> {
    const image = this.imageNow(vm.name) ?? '';
    const behaviour = image.slice(GCP_IMAGE_PREFIX.length) as RunnerBehaviour;
    const run = this.guests[behaviour] as FakeComputeGuest | undefined;
    return run === undefined ? Promise.resolve() : run(vm);
  }

  async setup(): Promise<void> {
    await this.fake.start();
  }

  async teardown(): Promise<void> {
    await this.fake.close();
  }

  engineYaml(behaviour: RunnerBehaviour): string[] {
    return this.yamlFor(this.imageOf(behaviour));
  }

  imageOf(behaviour: RunnerBehaviour): string {
    return GCP_IMAGE_PREFIX + behaviour;
  }

  engineYamlMissingImage(): string[] {
    return this.yamlFor(`${GCP_IMAGE_PREFIX}missing-${Date.now().toString(36)}`);
  }

  private yamlFor(image: string): string[] {
    return [
      '  gcp:',
      '    enable: true',
      `    project: ${GCP_PROJECT}`,
      `    zones: [${GCP_ZONES.join(', ')}]`,
      `    image: '${image}'`,
      `    api_endpoint: '${this.fake.url}'`,
      '    operation_timeout: 20s',
    ];
  }

  engine(owner: string, behaviour: RunnerBehaviour): ComputeEngine {
    const options: GcpEngineOptions = {
      ownerId: owner,
      project: GCP_PROJECT,
      zones: GCP_ZONES,
      image: GCP_IMAGE_PREFIX + behaviour,
      machineType: 'e2-medium',
      diskSizeGb: 50,
      diskType: 'pd-balanced',
      network: 'default',
      publicIp: true,
      scopes: [],
      labels: {},
      tags: [],
      provisioningModel: 'STANDARD',
      metadata: {},
      apiEndpoint: this.fake.url,
      operationTimeoutMs: 20_000,
    };
    return new GcpEngine(options, { clientOptions: this.clientCredentials() });
  }

  async owned(owner: string): Promise<BackendResource[]> {
    return Promise.resolve(
      this.fake
        .instances()
        .filter((i) => i.labels['scaleset-owner'] === owner)
        .map((i) => ({
          name: i.name,
          exited: i.status === 'TERMINATED',
          running: i.status === 'RUNNING',
          engineId: i.id,
        })),
    );
  }

  async resource(name: string): Promise<BackendResource | undefined> {
    const i = this.fake.instance(name);
    return Promise.resolve(
      i === undefined
        ? undefined
        : {
            name,
            exited: i.status === 'TERMINATED',
            running: i.status === 'RUNNING',
            engineId: i.id,
          },
    );
  }

  private imageNow(name: string): string | undefined {
    const body = this.insertBody(name);
    const disks = (body?.['disks'] ?? []) as { initializeParams?: { sourceImage?: string } }[];
    return disks[0]?.initializeParams?.sourceImage;
  }

  /** The body of the last insert of that instance name the fake accepted. */
  private insertBody(name: string): Record<string, unknown> | undefined {
    const live = this.fake.instance(name)?.insertBody;
    if (live !== undefined) {
      return live;
    }
    const inserts = this.fake
      .requests({ method: 'POST' })
      .filter((r) => /\/instances$/.test(r.path) && r.status < 300)
      .map((r) => r.body as Record<string, unknown> | null)
      .filter((b): b is Record<string, unknown> => b !== null && b['name'] === name);
    return inserts.at(-1);
  }

  async image(name: string): Promise<string | undefined> {
    return Promise.resolve(
      this.fake.instance(name) === undefined ? undefined : this.imageNow(name),
    );
  }

  async runnerLabels(name: string): Promise<Record<string, string> | undefined> {
    const labels = this.fake.instance(name)?.labels;
    return Promise.resolve(
      labels === undefined
        ? undefined
        : Object.fromEntries(Object.entries(GCP_LABEL_KEYS).map(([k, v]) => [v, labels[k] ?? ''])),
    );
  }

  async removeOutOfBand(name: string): Promise<void> {
    this.fake.deleteOutOfBand(name);
    return Promise.resolve();
  }

  async jitConfig(name: string): Promise<string | undefined> {
    const items = ((this.insertBody(name)?.['metadata'] as { items?: unknown } | undefined)
      ?.items ?? []) as { key?: string; value?: string }[];
    return Promise.resolve(items.find((i) => i.key === 'scaleset-jit-config')?.value);
  }

  async createForeign(name: string, scaleSet: { id: number; name: string }): Promise<void> {
    this.fake.addInstance(GCP_ZONES[0] ?? 'us-central1-a', {
      name,
      status: 'RUNNING',
      labels: {
        'scaleset-scale-set-id': String(scaleSet.id),
        'scaleset-scale-set': scaleSet.name.toLowerCase(),
        'scaleset-runner': name,
      },
    });
    return Promise.resolve();
  }

  async removeForeign(name: string): Promise<void> {
    if (this.fake.instance(name) !== undefined) {
      this.fake.deleteOutOfBand(name);
    }
    return Promise.resolve();
  }

  async removeOwned(owner: string): Promise<void> {
    for (const i of await this.owned(owner)) {
      this.fake.deleteOutOfBand(i.name);
    }
  }
}

/** The backends every engine-neutral worker and reconciler scenario runs on. */
export function computeBackends(): ComputeBackend[] {
  return [new DockerBackend(), new GcpBackend()];
}

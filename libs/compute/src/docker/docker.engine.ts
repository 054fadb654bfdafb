import { setTimeout as delay } from 'node:timers/promises';
import Dockerode from 'dockerode';
import {
  ComputeEngine,
  type EngineInstance,
  type EngineRef,
  type EngineState,
  type EngineTarget,
  type OwnerLabels,
  type RunnerSpec,
} from '../compute.engine';
import {
  EngineConfigError,
  EngineImageNotFoundError,
  EngineNameConflictError,
  EngineTransientError,
  isEngineError,
} from '../errors';
import {
  RUNNER_LABELS,
  assertRunnerSpec,
  buildRunnerLabels,
  matchesOwner,
  ownerLabelSelector,
  readRunnerLabels,
} from '../runner.labels';
import {
  daemonMessage,
  dockerStatus,
  sanitizedCause,
  toEngineError,
  type DockerOperation,
} from './docker-error.mapper';
import {
  JIT_CONFIG_ENV,
  describeDockerHost,
  dockerConnectionOptions,
  imagePullParams,
  resolveDockerEngineOptions,
  type DockerEngineOptions,
  type ResolvedDockerEngineOptions,
} from './docker.options';

// Docker's own rule for container names; it also keeps names from escaping the API path.
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
// Bounded so two workers fighting over one name end in an error instead of a loop. Docker
// reserves a name (409 on create) before the container can be inspected, so losers of a
// create race back off (25, 50, 100 ... ms) until the winner's container is visible.
const MAX_START_ATTEMPTS = 8;
const RACE_BACKOFF_MS = 25;

interface CallOptions {
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs?: number;
  readonly secrets?: readonly string[];
}

/** Maps Docker's container status to the engine-neutral state. */
export function dockerState(status: string): EngineState {
  switch (status) {
    case 'created':
    case 'restarting':
      return 'starting';
    case 'running':
    case 'paused':
      return 'running';
    case 'removing':
      return 'stopping';
    case 'exited':
    case 'dead':
      return 'exited';
    default:
      return 'starting';
  }
}

function exitCodeFromStatus(status: string | undefined): number | undefined {
  const match = /^Exited \((-?\d+)\)/.exec(status ?? '');
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/**
 * Runs each runner as one Docker container named after the runner (dockerode). Containers
 * are never auto-removed, so exited runners stay visible to reconciliation until `destroy`
 * force-removes them with their anonymous volumes.
 */
export class DockerEngine extends ComputeEngine {
  override readonly kind = 'docker' as const;
  private readonly options: ResolvedDockerEngineOptions;
  private readonly docker: Dockerode;
  private readonly endpoint: string;
  private readonly lifetime = new AbortController();
  private imageReady: Promise<void> | undefined;

  /**
   * Validates `options` (throws {@link EngineConfigError}) and prepares a client; no call is
   * made to the daemon until the first operation.
   */
  constructor(options: DockerEngineOptions, docker?: Dockerode) {
    super();
    this.options = resolveDockerEngineOptions(options);
    this.docker = docker ?? new Dockerode(dockerConnectionOptions(this.options.dockerHost));
    this.endpoint = describeDockerHost(this.options.dockerHost);
  }

  /** The validated options, defaults applied. */
  get config(): ResolvedDockerEngineOptions {
    return this.options;
  }

  override async start(spec: RunnerSpec, signal?: AbortSignal): Promise<EngineRef> {
    this.assertName(spec.name, 'spec.name');
    assertRunnerSpec(spec, 'docker');
    const secrets = [spec.jitConfig];

    for (let attempt = 0; attempt < MAX_START_ATTEMPTS; attempt++) {
      if (attempt > 0) {
        await this.pause(RACE_BACKOFF_MS * 2 ** (attempt - 1), spec.name, signal);
      }
      const existing = await this.inspectContainer(spec.name, { signal, secrets });
      if (existing) {
        this.assertAdoptable(existing, spec);
        const state = dockerState(existing.State.Status);
        if (existing.State.Status !== 'created') {
          return { name: spec.name, engineId: existing.Id, adopted: true, state };
        }
        // Created but never started: its JIT config is unused. Start it if it is the same
        // config (a concurrent or retried call); otherwise the caller has regenerated the
        // runner, the old config is void, and the container is replaced.
        if (
          Array.isArray(existing.Config.Env) &&
          existing.Config.Env.includes(`${JIT_CONFIG_ENV}=${spec.jitConfig}`)
        ) {
          if (await this.startContainer(existing.Id, spec.name, { signal, secrets })) {
            return { name: spec.name, engineId: existing.Id, adopted: true, state: 'running' };
          }
        } else {
          await this.removeContainer(existing.Id, { signal, secrets });
        }
        continue;
      }

      await this.ensureImage(signal);
      let id: string;
      try {
        id = await this.call(
          'create-container',
          spec.name,
          async (abortSignal) => {
            // dockerode copies every create option into the URL query unless _query and
            // _body are given; without them the JIT config would end up in daemon and
            // proxy access logs.
            const request = {
              _query: { name: spec.name },
              _body: this.containerConfig(spec),
              abortSignal,
            } as unknown as Dockerode.ContainerCreateOptions;
            return (await this.docker.createContainer(request)).id;
          },
          { signal, secrets },
        );
      } catch (err) {
        if (isEngineError(err) && err.status === 409) {
          continue;
        }
        if (err instanceof EngineImageNotFoundError) {
          // The image was removed after it was checked; check (and pull) it again once.
          this.imageReady = undefined;
          if (attempt === 0) {
            continue;
          }
        }
        throw err;
      }
      try {
        if (await this.startContainer(id, spec.name, { signal, secrets })) {
          return { name: spec.name, engineId: id, adopted: false, state: 'running' };
        }
      } catch (err) {
        // Don't leave a never-started container holding the JIT config behind.
        await this.removeContainer(id, { secrets }).catch(() => undefined);
        throw err;
      }
    }
    throw new EngineTransientError(
      `Container ${spec.name} kept appearing and disappearing while starting it; another ` +
        `process is working on the same runner. Will retry.`,
      { code: 'CONFLICT', engine: 'docker', operation: 'start', resource: spec.name },
    );
  }

  override async destroy(target: EngineTarget, signal?: AbortSignal): Promise<void> {
    this.assertName(target.name, 'target.name');
    const existing = await this.inspectContainer(target.name, { signal });
    if (!existing || !matchesOwner(existing.Config.Labels, { owner: this.options.ownerId })) {
      return;
    }
    await this.removeContainer(existing.Id, { signal });
  }

  override async list(owner: OwnerLabels, signal?: AbortSignal): Promise<EngineInstance[]> {
    if (owner.owner === '') {
      throw new EngineConfigError('owner.owner', 'must not be empty', { engine: 'docker' });
    }
    const label = Object.entries(ownerLabelSelector(owner)).map(([k, v]) => `${k}=${v}`);
    const containers = await this.call(
      'list-containers',
      `owner=${owner.owner}`,
      (abortSignal) => this.docker.listContainers({ all: true, filters: { label }, abortSignal }),
      { signal },
    );
    const instances: EngineInstance[] = [];
    for (const c of containers) {
      const labels = readRunnerLabels(c.Labels);
      if (!labels || !matchesOwner(c.Labels, owner)) {
        continue;
      }
      const name = (c.Names[0] ?? c.Id).replace(/^\//, '');
      const exitCode = c.State === 'exited' ? exitCodeFromStatus(c.Status) : undefined;
      instances.push({
        name,
        engineId: c.Id,
        state: dockerState(c.State),
        owner: labels.owner,
        scaleSetId: labels.scaleSetId,
        scaleSetName: labels.scaleSetName,
        runnerName: labels.runnerName ?? name,
        createdAt: new Date(c.Created * 1000),
        ...(exitCode === undefined ? {} : { exitCode }),
        labels: { ...c.Labels },
      });
    }
    return instances;
  }

  override async inspect(name: string, signal?: AbortSignal): Promise<EngineInstance | null> {
    this.assertName(name, 'name');
    const info = await this.inspectContainer(name, { signal });
    const labels = readRunnerLabels(info?.Config.Labels);
    if (!info || !labels || labels.owner !== this.options.ownerId) {
      return null;
    }
    const state = dockerState(info.State.Status);
    const containerName = info.Name.replace(/^\//, '');
    return {
      name: containerName,
      engineId: info.Id,
      state,
      owner: labels.owner,
      scaleSetId: labels.scaleSetId,
      scaleSetName: labels.scaleSetName,
      runnerName: labels.runnerName ?? containerName,
      createdAt: new Date(info.Created),
      ...(state === 'exited' ? { exitCode: info.State.ExitCode } : {}),
      labels: { ...info.Config.Labels },
    };
  }

  override close(): Promise<void> {
    this.lifetime.abort();
    return Promise.resolve();
  }

  private containerConfig(spec: RunnerSpec): Dockerode.ContainerCreateOptions {
    const o = this.options;
    const env: Record<string, string> = { ...o.env };
    let user = o.user;
    const binds = [...o.volumes];
    if (o.dind) {
      binds.push(`${o.dindHostSocket}:/var/run/docker.sock`);
      env['DOCKER_HOST'] = 'unix:///var/run/docker.sock';
      // As the original tool did: the socket's group differs per host (and on Docker Desktop
      // only its owner may write), so root is the one user that works everywhere.
      if (user === null) {
        user = '0';
        env['RUNNER_ALLOW_RUNASROOT'] = '1';
      }
    }
    env[JIT_CONFIG_ENV] = spec.jitConfig;
    return {
      Image: o.image,
      ...(o.command === null ? {} : { Cmd: [...o.command] }),
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: buildRunnerLabels(o.ownerId, spec, o.labels),
      ...(user === null ? {} : { User: user }),
      HostConfig: {
        AutoRemove: false,
        Privileged: o.privileged,
        ...(o.network === null ? {} : { NetworkMode: o.network }),
        ...(o.nanoCpus === null ? {} : { NanoCpus: o.nanoCpus }),
        ...(o.memoryBytes === null ? {} : { Memory: o.memoryBytes }),
        ...(binds.length === 0 ? {} : { Binds: binds }),
      },
    };
  }

  private assertName(name: string, field: string): void {
    if (!CONTAINER_NAME.test(name)) {
      throw new EngineConfigError(
        field,
        'must be 1-128 characters of letters, digits, "_", "." or "-", starting with a letter or digit',
        { engine: 'docker' },
      );
    }
  }

  private assertAdoptable(existing: Dockerode.ContainerInspectInfo, spec: RunnerSpec): void {
    const labels = readRunnerLabels(existing.Config.Labels);
    const context = { engine: 'docker' as const, operation: 'start' };
    if (!labels || labels.owner !== this.options.ownerId) {
      throw new EngineNameConflictError(
        spec.name,
        `it does not carry this deployment's ${RUNNER_LABELS.owner} label`,
        context,
      );
    }
    if (labels.runnerName !== spec.name || labels.scaleSetId !== spec.scaleSetId) {
      throw new EngineNameConflictError(
        spec.name,
        `it belongs to another runner or scale set of this deployment`,
        context,
      );
    }
  }

  /** Container details, or `null` when there is no container with that name or id. */
  private async inspectContainer(
    nameOrId: string,
    options: CallOptions,
  ): Promise<Dockerode.ContainerInspectInfo | null> {
    try {
      return await this.call(
        'inspect-container',
        nameOrId,
        (abortSignal) => this.docker.getContainer(nameOrId).inspect({ abortSignal }),
        options,
      );
    } catch (err) {
      if (isEngineError(err) && err.status === 404) {
        return null;
      }
      throw err;
    }
  }

  /** Starts a container; false when it vanished meanwhile. Already started counts as started. */
  private async startContainer(id: string, name: string, options: CallOptions): Promise<boolean> {
    try {
      await this.call(
        'start-container',
        name,
        (abortSignal) => this.docker.getContainer(id).start({ abortSignal }),
        options,
      );
      return true;
    } catch (err) {
      if (isEngineError(err) && err.status === 304) {
        return true;
      }
      if (isEngineError(err) && err.status === 404 && /no such container/i.test(err.message)) {
        return false;
      }
      throw err;
    }
  }

  /** Force-removes a container and its anonymous volumes; a missing container is fine. */
  private async removeContainer(id: string, options: CallOptions): Promise<void> {
    try {
      await this.call(
        'remove-container',
        id,
        (abortSignal) => this.docker.getContainer(id).remove({ force: true, v: true, abortSignal }),
        options,
      );
    } catch (err) {
      if (isEngineError(err) && err.status === 404) {
        return;
      }
      throw err;
    }
  }

  /**
   * Makes sure the image is there, per the pull policy, at most once per engine lifetime:
   * concurrent starts share one check/pull, and a failure is forgotten so the next start
   * tries again.
   */
  private ensureImage(signal: AbortSignal | undefined): Promise<void> {
    let ready = this.imageReady;
    if (!ready) {
      const prepared = this.prepareImage();
      ready = prepared;
      this.imageReady = prepared;
      void prepared.catch(() => {
        if (this.imageReady === prepared) {
          this.imageReady = undefined;
        }
      });
    }
    return untilAborted(ready, signal, () =>
      toEngineError(signal?.reason, {
        operation: 'pull-image',
        resource: this.options.image,
        endpoint: this.endpoint,
        timedOut: false,
        aborted: true,
        timeoutMs: this.options.pullTimeoutMs,
      }),
    );
  }

  private async prepareImage(): Promise<void> {
    const { image, pullPolicy } = this.options;
    switch (pullPolicy) {
      case 'never':
        if (!(await this.imageExists())) {
          throw new EngineImageNotFoundError(
            image,
            'it is not on the Docker host and pull_policy is never',
            {
              engine: 'docker',
            },
          );
        }
        return;
      case 'if-not-present':
        if (await this.imageExists()) {
          return;
        }
        await this.pullImage();
        return;
      case 'always':
        await this.pullImage();
        return;
    }
  }

  private async imageExists(): Promise<boolean> {
    try {
      await this.call(
        'inspect-image',
        this.options.image,
        // dockerode's image inspect takes no AbortSignal; stop waiting instead.
        (abortSignal) =>
          untilAborted(this.docker.getImage(this.options.image).inspect(), abortSignal, () =>
            Object.assign(new Error('image inspect aborted'), { name: 'AbortError' }),
          ),
        {},
      );
      return true;
    } catch (err) {
      if (isEngineError(err) && err.status === 404) {
        return false;
      }
      throw err;
    }
  }

  private async pullImage(): Promise<void> {
    const { image, pullTimeoutMs } = this.options;
    try {
      await this.call(
        'pull-image',
        image,
        async (abortSignal) => {
          let stream: NodeJS.ReadableStream;
          try {
            stream = await this.docker.createImage({ ...imagePullParams(image), abortSignal });
          } catch (err) {
            // The daemon answered, so the registry side failed (not found, denied or
            // unreachable); the daemon being unreachable is left to the mapper (transient).
            const status = dockerStatus(err);
            if (status === undefined) {
              throw err;
            }
            throw new EngineImageNotFoundError(image, `pulling it failed: ${daemonMessage(err)}`, {
              engine: 'docker',
              operation: 'pull-image',
              status,
              cause: sanitizedCause(err),
            });
          }
          await drainProgress(stream, image);
        },
        { timeoutMs: pullTimeoutMs },
      );
    } catch (err) {
      if (
        err instanceof EngineImageNotFoundError &&
        this.options.pullPolicy === 'always' &&
        (await this.imageExists())
      ) {
        throw new EngineTransientError(
          `Pulling ${image} failed and pull_policy is always, so the local copy is not used. ` +
            `Will retry; use if-not-present to run from the local copy.`,
          {
            code: 'IMAGE_PULL_FAILED',
            engine: 'docker',
            operation: 'pull-image',
            resource: image,
            cause: err,
          },
        );
      }
      throw err;
    }
  }

  private async pause(
    ms: number,
    resource: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const signals = [this.lifetime.signal, ...(signal ? [signal] : [])];
    try {
      await delay(ms, undefined, { signal: AbortSignal.any(signals) });
    } catch (err) {
      throw toEngineError(err, {
        operation: 'start-container',
        resource,
        endpoint: this.endpoint,
        timedOut: false,
        aborted: true,
        timeoutMs: ms,
      });
    }
  }

  /** Runs one Docker call with its timeout, the caller's signal and `close()`; maps errors. */
  private async call<T>(
    operation: DockerOperation,
    resource: string,
    fn: (signal: AbortSignal) => Promise<T>,
    options: CallOptions,
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.options.apiTimeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signals = [timeout, this.lifetime.signal];
    if (options.signal) {
      signals.push(options.signal);
    }
    const combined = AbortSignal.any(signals);
    try {
      return await fn(combined);
    } catch (err) {
      throw toEngineError(err, {
        operation,
        resource,
        endpoint: this.endpoint,
        timedOut: timeout.aborted,
        aborted: combined.aborted,
        timeoutMs,
        ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
      });
    }
  }
}

/** Reads a pull progress stream to its end; rejects on an error line or a cut stream. */
async function drainProgress(stream: NodeJS.ReadableStream, image: string): Promise<void> {
  let buffered = '';
  for await (const chunk of stream) {
    buffered += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      checkProgressLine(line, image);
    }
  }
  checkProgressLine(buffered.trim(), image);
}

function checkProgressLine(line: string, image: string): void {
  if (line === '') {
    return;
  }
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    return;
  }
  if (typeof event === 'object' && event !== null && 'error' in event) {
    const message = event.error;
    throw new EngineImageNotFoundError(
      image,
      `pulling it failed: ${typeof message === 'string' ? message : 'unknown registry error'}`,
      { engine: 'docker', operation: 'pull-image' },
    );
  }
}

/** Waits for a shared promise, giving up early (without cancelling it) when `signal` aborts. */
function untilAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  onAbort: () => Error,
): Promise<T> {
  if (!signal) {
    return promise;
  }
  if (signal.aborted) {
    return Promise.reject(onAbort());
  }
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => {
      reject(onAbort());
    };
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

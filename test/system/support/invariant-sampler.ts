import type Dockerode from 'dockerode';
import { RUNNER_LABELS } from '@app/compute';
import { LIVE_STATES, type RunnerRegistry, type RunnerState } from '@app/registry';
import type { FakeGitHub } from '@app/testing';

const LIVE = new Set<string>(LIVE_STATES);

/** One reading of the three views, for the I2 series. */
export interface Sample {
  readonly at: number;
  /** Registry `counts().live`, or `undefined` when Redis did not answer. */
  readonly registryLive: number | undefined;
  /** Running containers of our owner that count towards capacity (see {@link InvariantSampler}). */
  readonly liveContainers: number | undefined;
  /** Every running container of our owner, whatever its runner's state. */
  readonly runningContainers: number | undefined;
  /** Registrations the fake GitHub sees online or busy. */
  readonly onlineRunners: number;
}

/** What the sampler saw over its whole run. */
export interface SamplerSummary {
  readonly samples: number;
  /** Samples where Redis or dockerd did not answer (e.g. while Redis restarts). */
  readonly blindSamples: number;
  readonly maxRegistryLive: number;
  readonly maxLiveContainers: number;
  readonly maxRunningContainers: number;
  readonly maxOnlineRunners: number;
  /** Samples above `max_runners` (I2), with what was seen. */
  readonly violations: readonly Sample[];
  /** Runner names that had more than one container (guarantee 2). */
  readonly duplicateContainers: readonly string[];
  /** Distinct containers seen. */
  readonly containersSeen: number;
  /** When the number of runners online on GitHub first reached `target` (epoch ms). */
  readonly reachedTargetAt: number | undefined;
}

/** Where the sampler looks. */
export interface SamplerTargets {
  readonly fake: FakeGitHub;
  readonly registry: RunnerRegistry;
  readonly docker: Dockerode;
  readonly owner: string;
  readonly scaleSetId: number;
  readonly maxRunners: number;
  /** Number of runners online on GitHub whose first occurrence is timed (default max_runners). */
  readonly target?: number;
  readonly intervalMs?: number;
}

/**
 * The I2 sampler: every ~200 ms it reads the registry's live count, the engine's running
 * containers and GitHub's online registrations, and records every sample above `max_runners`.
 *
 * A running container counts towards capacity unless its runner is `failed`, `destroying` or
 * already deleted (guarantee 3: runners going away do not count; a finished runner's container
 * may still be exiting when its replacement starts). A running container without any registry
 * entry or tombstone counts (it would be a leak). Registry state is read after the container
 * list, so a runner that moved on in between is judged by its newer state.
 *
 * It also captures each new container's JIT config (the runner's environment) for the I5
 * secret scan, and the container ids per runner name (no duplicate compute).
 */
export class InvariantSampler {
  readonly series: Sample[] = [];
  /** JIT configs read from the containers' environment, by runner name. */
  readonly jitConfigs = new Map<string, string>();

  private readonly containerIds = new Map<string, Set<string>>();
  private readonly inspected = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private reachedTargetAt: number | undefined;

  constructor(private readonly t: SamplerTargets) {}

  start(): void {
    const tick = (): void => {
      if (this.stopped) {
        return;
      }
      this.running = this.sampleOnce().then(
        () => undefined,
        () => undefined,
      );
      void this.running.finally(() => {
        this.timer = setTimeout(tick, this.t.intervalMs ?? 200);
      });
    };
    tick();
  }

  async stop(): Promise<SamplerSummary> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    return this.summary();
  }

  /** Reads all three views once and returns the sample (also recorded). */
  async sampleOnce(): Promise<Sample> {
    const at = Date.now();
    const online = this.t.fake
      .runners(this.t.scaleSetId)
      .filter((r) => r.status !== 'offline').length;
    if (online >= (this.t.target ?? this.t.maxRunners) && this.reachedTargetAt === undefined) {
      this.reachedTargetAt = at;
    }
    let registryLive: number | undefined;
    let liveContainers: number | undefined;
    let runningContainers: number | undefined;
    let containers: Dockerode.ContainerInfo[] | undefined;
    try {
      containers = await this.t.docker.listContainers({
        all: true,
        filters: { label: [`${RUNNER_LABELS.owner}=${this.t.owner}`] },
      });
    } catch {
      containers = undefined;
    }
    const running = containers?.filter((c) => c.State === 'running') ?? [];
    try {
      registryLive = (await this.t.registry.counts(this.t.scaleSetId)).live;
      if (containers !== undefined) {
        runningContainers = running.length;
        liveContainers = 0;
        for (const c of running) {
          const name = c.Labels[RUNNER_LABELS.runnerName] ?? '';
          if (await this.countsTowardsCapacity(name)) {
            liveContainers++;
          }
        }
      }
    } catch {
      registryLive = undefined;
      liveContainers = undefined;
    }
    for (const c of containers ?? []) {
      const name = c.Labels[RUNNER_LABELS.runnerName] ?? c.Names[0] ?? c.Id;
      const ids = this.containerIds.get(name) ?? new Set<string>();
      ids.add(c.Id);
      this.containerIds.set(name, ids);
      if (!this.inspected.has(c.Id)) {
        await this.captureJitConfig(name, c.Id);
      }
    }
    const sample: Sample = {
      at,
      registryLive,
      liveContainers,
      runningContainers,
      onlineRunners: online,
    };
    this.series.push(sample);
    return sample;
  }

  summary(): SamplerSummary {
    const max = (pick: (s: Sample) => number | undefined): number =>
      Math.max(0, ...this.series.map((s) => pick(s) ?? 0));
    return {
      samples: this.series.length,
      blindSamples: this.series.filter(
        (s) => s.registryLive === undefined || s.liveContainers === undefined,
      ).length,
      maxRegistryLive: max((s) => s.registryLive),
      maxLiveContainers: max((s) => s.liveContainers),
      maxRunningContainers: max((s) => s.runningContainers),
      maxOnlineRunners: max((s) => s.onlineRunners),
      violations: this.series.filter(
        (s) =>
          (s.registryLive ?? 0) > this.t.maxRunners || (s.liveContainers ?? 0) > this.t.maxRunners,
      ),
      duplicateContainers: [...this.containerIds]
        .filter(([, ids]) => ids.size > 1)
        .map(([name]) => name),
      containersSeen: [...this.containerIds.values()].reduce((n, ids) => n + ids.size, 0),
      reachedTargetAt: this.reachedTargetAt,
    };
  }

  private async countsTowardsCapacity(name: string): Promise<boolean> {
    const record = await this.t.registry.get(this.t.scaleSetId, name);
    if (record !== undefined) {
      return LIVE.has(record.state satisfies RunnerState);
    }
    return !(await this.t.registry.isTombstoned(this.t.scaleSetId, name));
  }

  private async captureJitConfig(name: string, id: string): Promise<void> {
    try {
      const info = await this.t.docker.getContainer(id).inspect();
      const entry = info.Config.Env.find((e) => e.startsWith('ACTIONS_RUNNER_INPUT_JITCONFIG='));
      if (entry !== undefined) {
        this.jitConfigs.set(name, entry.slice('ACTIONS_RUNNER_INPUT_JITCONFIG='.length));
      }
      this.inspected.add(id);
    } catch {
      // Removed between list and inspect: its runner's credential is still collected from the
      // fake's request log (see SystemHarness.secrets).
    }
  }
}

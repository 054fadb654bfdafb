import { Worker, type Job } from 'bullmq';
import type { RunnerRegistry } from '@app/registry';
import { JobStillRunningError, RunnerNotFoundError, type ScaleSetClient } from '@app/scaleset';
import { runFakeRunner, type FakeGitHub } from '@app/testing';

interface RunnerJobData {
  scaleSetId: number;
  scaleSetName: string;
  runnerName: string;
  reason?: string;
}

/**
 * A stand-in for the worker app, for listener tests: it consumes the listener's jobs,
 * registers runners with the fake GitHub through the real client, and runs in-process fake
 * runners instead of containers. It follows the worker's rules (scale-down removes the
 * registration first and keeps a runner GitHub says is busy).
 */
export class TestWorker {
  readonly starts: string[] = [];
  readonly destroys: { name: string; reason: string }[] = [];
  readonly keptBusy: string[] = [];
  private worker: Worker | undefined;
  private readonly runners = new Map<string, AbortController>();

  constructor(
    private readonly options: {
      readonly redisUrl: string;
      readonly bullPrefix: string;
      readonly registry: RunnerRegistry;
      readonly client: ScaleSetClient;
      readonly fake: FakeGitHub;
      /** Runners take jobs (true) or only report online and stay idle (false). */
      readonly takeJobs: boolean;
    },
  ) {}

  start(): void {
    this.worker = new Worker(
      'runners',
      async (job: Job<RunnerJobData>) => {
        if (job.name === 'start-runner') {
          await this.startRunner(job.data);
        } else if (job.name === 'destroy-runner') {
          await this.destroyRunner(job.data);
        }
      },
      {
        connection: { url: this.options.redisUrl, maxRetriesPerRequest: null },
        prefix: this.options.bullPrefix,
        concurrency: 20,
      },
    );
  }

  async stop(): Promise<void> {
    for (const c of this.runners.values()) {
      c.abort();
    }
    await this.worker?.close();
  }

  private async startRunner(data: RunnerJobData): Promise<void> {
    const { registry, client, fake } = this.options;
    const runner = await registry.get(data.scaleSetId, data.runnerName);
    if (runner?.state !== 'reserved') {
      return;
    }
    this.starts.push(data.runnerName);
    await registry.transition(data.scaleSetId, data.runnerName, 'provisioning', {
      from: ['reserved'],
    });
    const jit = await client.generateJitRunnerConfig(data.scaleSetId, { name: data.runnerName });
    await registry.annotate(data.scaleSetId, data.runnerName, { runnerId: jit.runner.id });
    await registry.transition(data.scaleSetId, data.runnerName, 'idle', {
      from: ['provisioning'],
      engineId: `test-${data.runnerName}`,
    });
    if (this.options.takeJobs) {
      const controller = new AbortController();
      this.runners.set(data.runnerName, controller);
      void runFakeRunner(jit.encodedJITConfig, {
        signal: controller.signal,
        pollWaitMs: 500,
      }).catch(() => undefined);
    } else {
      fake.setRunnerOnline(data.runnerName);
    }
  }

  private async destroyRunner(data: RunnerJobData): Promise<void> {
    const { registry } = this.options;
    const runner = await registry.get(data.scaleSetId, data.runnerName);
    if (runner === undefined) {
      return;
    }
    const reason = data.reason ?? 'unknown';
    if (reason === 'scale-down') {
      if (runner.state !== 'idle') {
        return;
      }
      try {
        await this.removeRegistration(runner.runnerId);
      } catch (err) {
        if (err instanceof JobStillRunningError) {
          this.keptBusy.push(data.runnerName);
          return;
        }
        throw err;
      }
      await registry.transition(data.scaleSetId, data.runnerName, 'destroying', {
        from: ['idle'],
        reason,
      });
    } else if (runner.state !== 'destroying') {
      await registry.transition(data.scaleSetId, data.runnerName, 'destroying', {
        from: ['reserved', 'provisioning', 'idle', 'busy', 'failed'],
        reason,
      });
    }
    this.destroys.push({ name: data.runnerName, reason });
    this.runners.get(data.runnerName)?.abort();
    if (reason !== 'scale-down') {
      await this.removeRegistration(runner.runnerId).catch(() => undefined);
    }
    await registry.transition(data.scaleSetId, data.runnerName, 'deleted', {
      from: ['destroying'],
    });
  }

  private async removeRegistration(runnerId: number | undefined): Promise<void> {
    if (runnerId === undefined) {
      return;
    }
    try {
      await this.options.client.removeRunner(runnerId);
    } catch (err) {
      if (!(err instanceof RunnerNotFoundError)) {
        throw err;
      }
    }
  }
}

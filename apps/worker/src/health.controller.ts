import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import { QUEUES } from '@app/queue';

/** Injection token of the {@link WorkerHealthSources} the health controller reads. */
export const WORKER_HEALTH_SOURCES = 'WORKER_HEALTH_SOURCES';

/** How long `/healthz` and `/readyz` wait for the Redis `PING` by default. */
export const HEALTH_PING_TIMEOUT_MS = 1_000;

/** The part of a BullMQ `Worker` the health checks read. */
export interface HealthWorker {
  /** Set once `close()` was called. */
  readonly closing: Promise<void> | undefined;
  isRunning(): boolean;
  isPaused(): boolean;
}

/** What the worker health endpoints look at; fakes stand in for them in unit tests. */
export interface WorkerHealthSources {
  /** The app's BullMQ workers by queue name (`undefined`: not created yet). */
  workers(): readonly { readonly queue: string; readonly worker: HealthWorker | undefined }[];
  /** A Redis `PING` on the worker's connection. */
  ping(): Promise<unknown>;
  /** Bound of {@link ping}; a slower answer counts as unreachable. */
  readonly pingTimeoutMs: number;
}

/** State of one BullMQ worker: `paused` means stopped taking jobs for shutdown. */
export type WorkerState = 'running' | 'paused' | 'stopped' | 'closed' | 'missing';

interface WorkerHealthBody {
  readonly status: 'ok' | 'unavailable';
  readonly redis: 'ok' | 'unreachable';
  readonly workers: readonly { readonly queue: string; readonly state: WorkerState }[];
}

/**
 * `/healthz`: liveness, fails when a BullMQ worker is closed or its loop has ended, or Redis
 * does not answer a `PING` in time. `/readyz`: readiness, fails when Redis does not answer or
 * the `runners` worker is not taking jobs (paused for shutdown, closed). Served only when
 * `worker.health_port` is set (default 8081).
 */
@Controller()
export class WorkerHealthController {
  constructor(@Inject(WORKER_HEALTH_SOURCES) private readonly sources: WorkerHealthSources) {}

  @Get('healthz')
  async liveness(): Promise<WorkerHealthBody> {
    const body = await this.inspect();
    const alive = body.workers.every((w) => w.state === 'running' || w.state === 'paused');
    return this.answer(alive && body.redis === 'ok', body);
  }

  @Get('readyz')
  async readiness(): Promise<WorkerHealthBody> {
    const body = await this.inspect();
    const runners = body.workers.find((w) => w.queue === QUEUES.runners);
    return this.answer(body.redis === 'ok' && runners?.state === 'running', body);
  }

  private async inspect(): Promise<Omit<WorkerHealthBody, 'status'>> {
    const workers = this.sources.workers().map(({ queue, worker }) => ({
      queue,
      state: stateOf(worker),
    }));
    return { redis: (await this.redisAnswers()) ? 'ok' : 'unreachable', workers };
  }

  private async redisAnswers(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        resolve(false);
      }, this.sources.pingTimeoutMs);
    });
    try {
      return await Promise.race([
        Promise.resolve()
          .then(() => this.sources.ping())
          .then(
            () => true,
            () => false,
          ),
        timedOut,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private answer(ok: boolean, body: Omit<WorkerHealthBody, 'status'>): WorkerHealthBody {
    if (!ok) {
      throw new ServiceUnavailableException({ status: 'unavailable', ...body });
    }
    return { status: 'ok', ...body };
  }
}

function stateOf(worker: HealthWorker | undefined): WorkerState {
  if (worker === undefined) {
    return 'missing';
  }
  if (worker.closing !== undefined) {
    return 'closed';
  }
  if (worker.isPaused()) {
    return 'paused';
  }
  return worker.isRunning() ? 'running' : 'stopped';
}

import { getQueueToken } from '@nestjs/bullmq';
import type { Provider } from '@nestjs/common';
import { ComputeEngines } from '@app/compute';
import type { ScalesetConfig } from '@app/config';
import { JobProducer, QUEUES } from '@app/queue';
import { REGISTRY_REDIS, RunnerRegistry, type RedisClient } from '@app/registry';
import { ScaleSetClient } from '@app/scaleset';
import { COLLECTOR_KEYS, runnerStateCollector, Telemetry } from '@app/telemetry';
import type { Queue } from 'bullmq';
import {
  BullReconcileJobs,
  reconcileSettings,
  redisClock,
  RedisReconcileState,
} from './reconcile.adapters';
import {
  RECONCILE_INTERVAL_MS,
  RECONCILE_LOGGER,
  RECONCILE_SCALE_SETS,
  ReconcileProcessor,
  ReconcileSchedulerService,
} from './reconcile.processor';
import type { ReconcileLogger } from './reconcile.ports';
import { ReconcileScheduler } from './reconcile.scheduler';
import { Reconciler } from './reconciler';

/**
 * The reconciler's Nest providers for the worker module: the {@link Reconciler} on the
 * worker's registry, client, engines and queues, the `reconcile` queue processor, and the
 * per-scale-set job schedulers. Needs `RegistryModule`, `QueueModule`, `ScaleSetModule` and a
 * `ComputeEngines` provider in the same module (the worker module has all four).
 */
export function reconcileProviders(config: ScalesetConfig, logger: ReconcileLogger): Provider[] {
  return [
    { provide: RECONCILE_LOGGER, useValue: logger },
    { provide: RECONCILE_SCALE_SETS, useValue: new Set(config.scaleSets.map((s) => s.name)) },
    { provide: RECONCILE_INTERVAL_MS, useValue: config.reconcile.intervalMs },
    {
      provide: Reconciler,
      inject: [
        RunnerRegistry,
        ScaleSetClient,
        ComputeEngines,
        JobProducer,
        getQueueToken(QUEUES.runners),
        REGISTRY_REDIS,
      ],
      useFactory: (
        registry: RunnerRegistry,
        github: ScaleSetClient,
        engines: ComputeEngines,
        producer: JobProducer,
        runners: Queue,
        redis: RedisClient,
      ) =>
        new Reconciler({
          registry,
          github,
          engines,
          jobs: new BullReconcileJobs(producer, runners),
          state: new RedisReconcileState(redis, config.redis.prefix),
          clock: redisClock(redis),
          logger,
          settings: reconcileSettings(config),
        }),
    },
    ReconcileProcessor,
    {
      provide: RUNNER_COLLECTORS,
      inject: [RunnerRegistry, Telemetry],
      useFactory: (registry: RunnerRegistry, telemetry: Telemetry) =>
        new RunnerCollectors(config, registry, telemetry),
    },
    {
      provide: ReconcileScheduler,
      inject: [ScaleSetClient, JobProducer, getQueueToken(QUEUES.reconcile), RUNNER_COLLECTORS],
      useFactory: (
        github: ScaleSetClient,
        producer: JobProducer,
        queue: Queue,
        collectors: RunnerCollectors,
      ) =>
        new ReconcileScheduler({
          scaleSets: config.scaleSets,
          intervalMs: config.reconcile.intervalMs,
          github,
          producer: {
            // The scheduler resolves each scale set's id: the runner gauges need it.
            scheduleReconcile: async (payload, everyMs) => {
              await producer.scheduleReconcile(payload, everyMs);
              collectors.track(payload.scaleSetId, payload.scaleSetName);
            },
          },
          queue,
          logger,
        }),
    },
    ReconcileSchedulerService,
  ];
}

const RUNNER_COLLECTORS = 'WORKER_RUNNER_COLLECTORS';

/**
 * The worker's runner gauges per scale set (read from Redis at scrape time), registered once
 * the scale set's id is known, removed on shutdown.
 */
class RunnerCollectors {
  private readonly removers = new Map<number, () => void>();

  constructor(
    private readonly config: ScalesetConfig,
    private readonly registry: RunnerRegistry,
    private readonly telemetry: Telemetry,
  ) {}

  track(id: number, name: string): void {
    const scaleSet = this.config.scaleSets.find((s) => s.name === name);
    if (this.removers.has(id) || scaleSet === undefined) {
      return;
    }
    this.removers.set(
      id,
      this.telemetry.meter.addCollector(
        COLLECTOR_KEYS.runners(id),
        runnerStateCollector({ id, name, maxRunners: () => scaleSet.maxRunners }, this.registry),
      ),
    );
  }

  onApplicationShutdown(): void {
    this.removers.forEach((remove) => {
      remove();
    });
    this.removers.clear();
  }
}

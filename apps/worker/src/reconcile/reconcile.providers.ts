import { getQueueToken } from '@nestjs/bullmq';
import type { Provider } from '@nestjs/common';
import { ComputeEngines } from '@app/compute';
import type { ScalesetConfig } from '@app/config';
import { JobProducer, QUEUES } from '@app/queue';
import { REGISTRY_REDIS, RunnerRegistry, type RedisClient } from '@app/registry';
import { ScaleSetClient } from '@app/scaleset';
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
      provide: ReconcileScheduler,
      inject: [ScaleSetClient, JobProducer, getQueueToken(QUEUES.reconcile)],
      useFactory: (github: ScaleSetClient, producer: JobProducer, queue: Queue) =>
        new ReconcileScheduler({
          scaleSets: config.scaleSets,
          intervalMs: config.reconcile.intervalMs,
          github,
          producer,
          queue,
          logger,
        }),
    },
    ReconcileSchedulerService,
  ];
}

/** The reconciler (issue 7): three-way comparison of registry, GitHub and engine per scale set. */
export {
  DEFAULT_MAX_GITHUB_LOOKUPS,
  RECONCILE_RULES,
  Reconciler,
  destroyReasonOf,
  type ReconcileAction,
  type ReconcileActionKind,
  type ReconcileOptions,
  type ReconcileReport,
  type ReconcileRule,
  type ReconcileSettings,
  type ReconcileTarget,
  type ReconcilerDeps,
} from './reconciler';
export type * from './reconcile.ports';
export {
  BullReconcileJobs,
  MAX_KNOWN_RUNNER_NAMES,
  RedisReconcileState,
  reconcileKeys,
  reconcileSettings,
  redisClock,
  type RunnersQueueView,
} from './reconcile.adapters';
export {
  ReconcileScheduler,
  resolveScaleSetId,
  type ReconcileSchedulerDeps,
} from './reconcile.scheduler';
export {
  RECONCILE_INTERVAL_MS,
  RECONCILE_LOGGER,
  RECONCILE_SCALE_SETS,
  ReconcileProcessor,
  ReconcileSchedulerService,
  parseReconcileJob,
} from './reconcile.processor';
export { reconcileProviders } from './reconcile.providers';
export { formatReconcileReport, runReconcileOnce } from './reconcile.once';

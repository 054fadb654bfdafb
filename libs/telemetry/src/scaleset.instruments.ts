import { errorType } from './otel.telemetry';
import { TelemetryAttributes as A, type Attributes } from './telemetry.attributes';
import type { Collector, Telemetry } from './telemetry';

// Helpers that turn scaleset's own sources (the Redis registry, BullMQ queues, engine calls,
// GitHub requests) into the metrics of METRICS. They take structural types, so this leaf lib
// imports none of the feature libs.

/** The runner states the registry counts (`RUNNER_STATES` of @app/registry). */
export const RUNNER_STATE_NAMES = [
  'reserved',
  'provisioning',
  'idle',
  'busy',
  'failed',
  'destroying',
] as const;

/** Collector keys: one source, one key (see {@link Meter.addCollector}). */
export const COLLECTOR_KEYS = {
  runners: (scaleSetId: number): string => `runners:${scaleSetId}`,
  queue: (name: string): string => `queue:${name}`,
} as const;

/** What {@link runnerStateCollector} reads: `RunnerRegistry.counts`. */
export interface RunnerCountsSource {
  counts(scaleSetId: number): Promise<Readonly<Partial<Record<string, number>>>>;
}

/**
 * Reads one scale set's runners per state from the registry at collection time:
 * `scaleset.runners{state}`, `scaleset.runners.idle`, `scaleset.runners.busy` and
 * `scaleset.runners.max`.
 */
export function runnerStateCollector(
  scaleSet: { readonly id: number; readonly name: string; readonly maxRunners: () => number },
  registry: RunnerCountsSource,
): Collector {
  return async (observe) => {
    const counts = await registry.counts(scaleSet.id);
    const base = { [A.labelScaleSet]: scaleSet.name };
    for (const state of RUNNER_STATE_NAMES) {
      observe('runners', counts[state] ?? 0, { ...base, [A.labelState]: state });
    }
    observe('runnersIdle', counts['idle'] ?? 0, base);
    observe('runnersBusy', counts['busy'] ?? 0, base);
    observe('runnersMax', scaleSet.maxRunners(), base);
  };
}

/** What {@link queueCollector} reads: a BullMQ `Queue`. */
export interface JobCountsSource {
  readonly name: string;
  getJobCounts(...types: string[]): Promise<Readonly<Record<string, number>>>;
}

/** Reads a queue's depth (waiting + prioritized + delayed), active and failed jobs. */
export function queueCollector(queue: JobCountsSource): Collector {
  return async (observe) => {
    const c = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'failed');
    const labels = { [A.labelQueue]: queue.name };
    observe(
      'queueDepth',
      (c['waiting'] ?? 0) + (c['prioritized'] ?? 0) + (c['delayed'] ?? 0),
      labels,
    );
    observe('queueActive', c['active'] ?? 0, labels);
    observe('queueFailed', c['failed'] ?? 0, labels);
  };
}

/** Span name of an engine call, as the original tool names them: `engine.docker.StartRunner`. */
export function engineSpanName(engine: string, operation: EngineOperation): string {
  return `engine.${engine}.${ENGINE_SPAN_OPERATIONS[operation]}`;
}

/** The compute engine calls that are measured. */
export type EngineOperation = 'start' | 'destroy' | 'inspect' | 'list';

const ENGINE_SPAN_OPERATIONS: Record<EngineOperation, string> = {
  start: 'StartRunner',
  destroy: 'DestroyRunner',
  inspect: 'InspectRunner',
  list: 'ListRunners',
};

/**
 * Runs one compute engine call in its span (`engine.<kind>.<Operation>`), and records its
 * duration and, when it fails, an error by code.
 */
export async function instrumentEngineCall<T>(
  telemetry: Telemetry,
  call: {
    readonly engine: string;
    readonly operation: EngineOperation;
    readonly attributes?: Attributes;
  },
  fn: () => Promise<T>,
): Promise<T> {
  const labels = { [A.labelEngine]: call.engine, [A.labelOperation]: call.operation };
  const started = performance.now();
  try {
    return await telemetry.tracer.withSpan(
      engineSpanName(call.engine, call.operation),
      { [A.engineKind]: call.engine, ...call.attributes },
      fn,
      { kind: 'client' },
    );
  } catch (err) {
    telemetry.meter
      .counter('engineCallErrors')
      .add(1, { ...labels, [A.labelCode]: errorType(err) });
    throw err;
  } finally {
    telemetry.meter
      .histogram('engineCallDuration')
      .record((performance.now() - started) / 1000, labels);
  }
}

/** One finished GitHub API call, as the scale set client reports it. */
export interface GitHubRequestEvent {
  readonly method: string;
  /** The path with ids replaced (`/_apis/runtime/runnerscalesets/{id}`): low cardinality. */
  readonly endpoint: string;
  /** Final HTTP status; 0 when no response arrived. */
  readonly status: number;
  readonly durationMs: number;
  /** `x-ratelimit-remaining`, when GitHub sent it. */
  readonly rateLimitRemaining?: number;
  /** `x-ratelimit-resource` (`core`, …), when GitHub sent it. */
  readonly rateLimitResource?: string;
}

/** The scale set client's `onRequest` observer that records GitHub API metrics. */
export function githubRequestObserver(telemetry: Telemetry): (event: GitHubRequestEvent) => void {
  const requests = telemetry.meter.counter('githubRequests');
  const errors = telemetry.meter.counter('githubRequestErrors');
  const duration = telemetry.meter.histogram('githubRequestDuration');
  const remaining = telemetry.meter.gauge('githubRateLimitRemaining');
  return (event) => {
    const labels = {
      [A.labelMethod]: event.method,
      [A.labelEndpoint]: event.endpoint,
      [A.labelStatus]: String(event.status),
    };
    requests.add(1, labels);
    if (event.status === 0 || event.status >= 400) {
      errors.add(1, labels);
    }
    duration.record(event.durationMs / 1000, {
      [A.labelMethod]: event.method,
      [A.labelEndpoint]: event.endpoint,
    });
    if (event.rateLimitRemaining !== undefined) {
      remaining.set(event.rateLimitRemaining, {
        [A.labelResource]: event.rateLimitResource ?? 'core',
      });
    }
  };
}

/**
 * Registers a queue collector per queue; the returned object's `onApplicationShutdown` (a Nest
 * lifecycle hook when used as a provider value) removes them.
 */
export function registerQueueCollectors(
  telemetry: Telemetry,
  queues: readonly JobCountsSource[],
): { onApplicationShutdown(): void } {
  const removers = queues.map((queue) =>
    telemetry.meter.addCollector(COLLECTOR_KEYS.queue(queue.name), queueCollector(queue)),
  );
  return {
    onApplicationShutdown: () => {
      removers.forEach((remove) => {
        remove();
      });
    },
  };
}

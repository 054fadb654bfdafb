import type { ObservedKey } from './metric.definitions';
import type { Attributes } from './telemetry.attributes';
import type { Collector } from './telemetry';

/** One observed value. */
export interface Observation {
  readonly value: number;
  readonly attributes: Attributes;
}

/** All values of one collection, per observed gauge. */
export type CollectionSnapshot = ReadonlyMap<ObservedKey, readonly Observation[]>;

/**
 * The collectors of a process, keyed by source. A collection runs the latest collector of
 * every key once, in parallel; concurrent requests (Prometheus asks every gauge separately)
 * share one run, and a run is reused for `reuseMs` (default 250 ms), so a scrape reads Redis once.
 */
export class CollectorRegistry {
  private readonly byKey = new Map<string, Collector[]>();
  private running: Promise<CollectionSnapshot> | undefined;
  private last: { at: number; snapshot: CollectionSnapshot } | undefined;

  constructor(
    private readonly options: { readonly reuseMs?: number; readonly now?: () => number } = {},
  ) {}

  /** See {@link Meter.addCollector}. */
  add(key: string, collect: Collector): () => void {
    const stack = this.byKey.get(key) ?? [];
    stack.push(collect);
    this.byKey.set(key, stack);
    this.last = undefined;
    return () => {
      const current = this.byKey.get(key);
      const index = current?.lastIndexOf(collect) ?? -1;
      if (current !== undefined && index >= 0) {
        current.splice(index, 1);
        if (current.length === 0) {
          this.byKey.delete(key);
        }
      }
      this.last = undefined;
    };
  }

  /** Runs (or reuses) a collection. Never rejects: a failing collector is left out. */
  collect(): Promise<CollectionSnapshot> {
    const now = (this.options.now ?? Date.now)();
    if (this.last !== undefined && now - this.last.at < (this.options.reuseMs ?? 250)) {
      return Promise.resolve(this.last.snapshot);
    }
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(): Promise<CollectionSnapshot> {
    const snapshot = new Map<ObservedKey, Observation[]>();
    const collectors = [...this.byKey.values()].flatMap((stack) => stack.slice(-1));
    await Promise.all(
      collectors.map(async (collect) => {
        const values: [ObservedKey, Observation][] = [];
        try {
          await collect((metric, value, attributes = {}) => {
            if (Number.isFinite(value)) {
              values.push([metric, { value, attributes }]);
            }
          });
        } catch {
          // Left out of this collection: a gauge that is absent is better than a stale one.
          return;
        }
        for (const [metric, observation] of values) {
          const list = snapshot.get(metric) ?? [];
          list.push(observation);
          snapshot.set(metric, list);
        }
      }),
    );
    this.last = { at: (this.options.now ?? Date.now)(), snapshot };
    return snapshot;
  }
}

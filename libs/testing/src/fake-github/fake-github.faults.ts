import type { EndpointName, FakeFault } from './fake-github.types';

interface ActiveFault {
  spec: FakeFault;
  remaining: number;
  until: number;
}

/** Holds scripted faults and decides which one, if any, applies to a request. */
export class FaultInjector {
  private faults: ActiveFault[] = [];

  add(spec: FakeFault, now: number): void {
    if (spec.probability !== undefined && (spec.probability < 0 || spec.probability > 1)) {
      throw new RangeError(`fault probability must be within 0..1, got ${spec.probability}`);
    }
    if (spec.times !== undefined && (!Number.isInteger(spec.times) || spec.times < 1)) {
      throw new RangeError(`fault times must be a positive integer, got ${spec.times}`);
    }
    const open = spec.probability !== undefined || spec.untilMs !== undefined;
    const remaining = spec.times ?? (open ? Number.POSITIVE_INFINITY : 1);
    let until = Number.POSITIVE_INFINITY;
    if (spec.untilMs !== undefined) {
      until = spec.untilMs > 1e12 ? spec.untilMs : now + spec.untilMs;
    }
    this.faults.push({ spec, remaining, until });
  }

  clear(): void {
    this.faults = [];
  }

  /** Returns the first fault applying to this request and consumes one of its uses. */
  take(endpoint: EndpointName, now: number): FakeFault | undefined {
    this.faults = this.faults.filter((f) => f.remaining > 0 && f.until > now);
    for (const fault of this.faults) {
      if (fault.spec.endpoint !== '*' && fault.spec.endpoint !== endpoint) {
        continue;
      }
      if (fault.spec.probability !== undefined && Math.random() >= fault.spec.probability) {
        continue;
      }
      fault.remaining -= 1;
      return fault.spec;
    }
    return undefined;
  }

  /** Number of faults still armed (for the control API). */
  get size(): number {
    return this.faults.length;
  }
}

/** The parts of a W3C `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header). */
export interface TraceParent {
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lower-case hex digits, not all zero: the parent span. */
  readonly spanId: string;
  /** Trace flags; bit 0 is "sampled". */
  readonly traceFlags: number;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Parses a `traceparent` value; `undefined` for anything malformed (a job payload is data from
 * Redis, never trusted). Version `ff` and all-zero ids are invalid; future versions may append
 * fields, which are ignored as the specification asks.
 */
export function parseTraceParent(value: unknown): TraceParent | undefined {
  if (typeof value !== 'string') {
    return undefined;
  }
  const match = TRACEPARENT.exec(value.trim());
  if (match === null) {
    return undefined;
  }
  const [, version = '', traceId = '', spanId = '', flags = '', rest] = match;
  if (version === 'ff' || (version === '00' && rest !== undefined)) {
    return undefined;
  }
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) {
    return undefined;
  }
  return { traceId, spanId, traceFlags: parseInt(flags, 16) };
}

/** Formats a version-00 `traceparent`. */
export function formatTraceParent(parent: TraceParent): string {
  const flags = (parent.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${parent.traceId}-${parent.spanId}-${flags}`;
}

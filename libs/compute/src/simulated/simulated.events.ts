import { appendFile } from 'node:fs/promises';

/** Environment variable naming the file the simulated engine appends its events to. */
export const SIMULATED_EVENTS_ENV = 'SCALESET_SIMULATED_EVENTS';

/**
 * What the simulated engine records, one event per line:
 * - `start-call` / `destroy-call`: a `start` or `destroy` call began;
 * - `started`: a `start` returned (a new instance or an adopted one);
 * - `start-failed`: a `start` threw (injected failure, capacity, abort, invalid spec);
 * - `destroyed`: a `destroy` returned (also when the instance was not in this process);
 * - `runner-online`: the instance's fake runner was accepted online by the fake service;
 * - `runner-exit`: the instance's runner ended by itself (job done, refused, lifetime over).
 */
export type SimulatedEventName =
  | 'start-call'
  | 'started'
  | 'start-failed'
  | 'destroy-call'
  | 'destroyed'
  | 'runner-online'
  | 'runner-exit';

/** One line of the events file. */
export interface SimulatedEvent {
  /** Epoch milliseconds with sub-millisecond precision (`performance.timeOrigin + now()`). */
  readonly t: number;
  /** What happened. */
  readonly e: SimulatedEventName;
  /** The runner (instance) name. */
  readonly name: string;
  /** The process that recorded it. */
  readonly pid: number;
}

/** How often buffered events are written at most. */
export const SIMULATED_EVENTS_FLUSH_MS = 100;

// Each append is one write(2) on an O_APPEND file, so lines of several worker processes
// sharing one file never interleave mid-line; Node splits writes above 512 KiB, so stay below.
const MAX_APPEND_BYTES = 256 * 1024;

/**
 * Appends {@link SimulatedEvent}s as JSON lines to a file, buffered: the hot path only pushes
 * a string; a timer writes the buffer at most every {@link SIMULATED_EVENTS_FLUSH_MS} ms, and
 * {@link SimulatedEventLog.close} writes the rest. A file that cannot be written is reported
 * once through `onError` and the events are dropped: they are diagnostics, never a reason to
 * fail a runner.
 */
export class SimulatedEventLog {
  private buffer: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private failed = false;

  constructor(
    /** The file appended to; created when missing. */
    readonly path: string,
    private readonly onError: (err: unknown) => void = () => undefined,
    private readonly flushMs = SIMULATED_EVENTS_FLUSH_MS,
  ) {}

  /** Buffers one event stamped with the current high-resolution time. */
  record(e: SimulatedEventName, name: string): void {
    const event: SimulatedEvent = {
      t: performance.timeOrigin + performance.now(),
      e,
      name,
      pid: process.pid,
    };
    const line = `${JSON.stringify(event)}\n`;
    this.buffer.push(line);
    this.timer ??= setTimeout(() => {
      void this.flush();
    }, this.flushMs).unref();
  }

  /** Writes everything buffered so far; resolves once it is in the file. */
  flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const chunks = this.takeChunks();
    for (const chunk of chunks) {
      this.writing = this.writing.then(() => this.append(chunk));
    }
    return this.writing;
  }

  /** Writes the rest; later events are still accepted and written by the next flush. */
  close(): Promise<void> {
    return this.flush();
  }

  private takeChunks(): string[] {
    const chunks: string[] = [];
    let current = '';
    let currentBytes = 0;
    for (const line of this.buffer) {
      const bytes = Buffer.byteLength(line);
      if (currentBytes > 0 && currentBytes + bytes > MAX_APPEND_BYTES) {
        chunks.push(current);
        current = '';
        currentBytes = 0;
      }
      current += line;
      currentBytes += bytes;
    }
    if (currentBytes > 0) {
      chunks.push(current);
    }
    this.buffer = [];
    return chunks;
  }

  private async append(chunk: string): Promise<void> {
    try {
      await appendFile(this.path, chunk, 'utf8');
    } catch (err) {
      if (!this.failed) {
        this.failed = true;
        this.onError(err);
      }
    }
  }
}

// Small measuring helpers: percentiles, /proc readings, Redis INFO, the simulated engine's
// event files.
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import type { Redis } from 'ioredis';

/** The p-th percentile (0..100) of `values` by nearest rank; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) {
    return Number.NaN;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Rounds to `digits` decimals (figures in the report). */
export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Epoch milliseconds with sub-millisecond precision (the clock every event line uses). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** One line of a simulated engine's event file (`SCALESET_SIMULATED_EVENTS`). */
export interface EngineEvent {
  readonly t: number;
  readonly e: string;
  readonly name: string;
  readonly pid: number;
}

/** Every event line of the files that exist; a torn last line (being written) is skipped. */
export function readEngineEvents(files: readonly string[]): EngineEvent[] {
  const events: EngineEvent[] = [];
  for (const file of files) {
    if (!existsSync(file)) {
      continue;
    }
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line.trim() === '') {
        continue;
      }
      try {
        const value = JSON.parse(line) as Partial<EngineEvent>;
        if (
          typeof value.t === 'number' &&
          typeof value.e === 'string' &&
          typeof value.name === 'string'
        ) {
          events.push({ t: value.t, e: value.e, name: value.name, pid: value.pid ?? 0 });
        }
      } catch {
        // A line still being written.
      }
    }
  }
  return events.sort((a, b) => a.t - b.t);
}

/** Fields of /proc/<pid>/status in kB (VmRSS, VmHWM), or undefined when the process is gone. */
export function procMemoryKb(pid: number): { rssKb: number; hwmKb: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
      return m === null ? 0 : Number(m[1]);
    };
    return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
  } catch {
    return undefined;
  }
}

const CLOCK_TICKS = 100;

/** CPU seconds (user + system) the process has used so far, from /proc/<pid>/stat. */
export function procCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Calls per command from `INFO commandstats` (includes commands run inside Lua scripts). */
export async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  const calls = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls.set(m[1] ?? '?', Number(m[2]));
  }
  return calls;
}

/** One numeric field of `INFO <section>`. */
export async function infoField(redis: Redis, section: string, field: string): Promise<number> {
  const info = await redis.info(section);
  const m = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  return m === null ? Number.NaN : Number(m[1]);
}

/** Per-command differences `after - before`, largest first. */
export function diffCounts(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
): [string, number][] {
  const out: [string, number][] = [];
  for (const [name, n] of after) {
    const d = n - (before.get(name) ?? 0);
    if (d > 0) {
      out.push([name, d]);
    }
  }
  return out.sort((a, b) => b[1] - a[1]);
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `everyMs` until it returns a value; rejects after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(everyMs);
  }
}

/**
 * Which of `processes` owns each TCP connection to `port` on 127.0.0.1, by the client's local
 * port (what MONITOR shows as the command's source), from /proc/net/tcp and /proc/<pid>/fd.
 */
export function redisClientOwners(
  processes: readonly { readonly name: string; readonly pid: number }[],
  port: number,
): Map<number, string> {
  const ownerByInode = new Map<string, string>();
  for (const p of processes) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p.pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${p.pid}/fd/${fd}`));
        if (m?.[1] !== undefined) {
          ownerByInode.set(m[1], p.name);
        }
      } catch {
        // Closed meanwhile.
      }
    }
  }
  const owners = new Map<number, string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    const local = cols[1] ?? '';
    const remote = cols[2] ?? '';
    const inode = cols[9] ?? '';
    if (remote.endsWith(`:${hexPort}`)) {
      const owner = ownerByInode.get(inode);
      if (owner !== undefined) {
        owners.set(parseInt(local.split(':')[1] ?? '0', 16), owner);
      }
    }
  }
  return owners;
}

/** One command as MONITOR shows it: who sent it (`lua` inside scripts) and its first words. */
export interface MonitoredCommand {
  /** `host:port` of the client, or `lua`. */
  readonly source: string;
  /** The command and its first arguments, unquoted. */
  readonly argv: readonly string[];
}

/**
 * Runs MONITOR on its own plain TCP connection (no client library state to confuse) and calls
 * `onCommand` for every command Redis executes, until the returned stop function is called.
 */
export async function monitorRedis(
  port: number,
  onCommand: (command: MonitoredCommand) => void,
): Promise<() => void> {
  const socket = createConnection({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.setEncoding('utf8');
  let partial = '';
  socket.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\r\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/.exec(line);
      if (m === null) {
        continue;
      }
      const argv: string[] = [];
      for (const arg of (m[2] ?? '').matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
        argv.push(arg[1] ?? '');
        if (argv.length >= 4) {
          break;
        }
      }
      onCommand({ source: m[1] ?? '?', argv });
    }
  });
  socket.write('MONITOR\r\n');
  return () => {
    socket.destroy();
  };
}

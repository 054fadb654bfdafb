import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The built binary, run exactly as users run it. */
export const SCALESET_BIN = join(__dirname, '..', '..', '..', 'bin', 'scaleset.js');

/** A role of the `scaleset` binary that the system tier runs as its own process. */
export type ScalesetRole = 'listener' | 'worker';

/** How one run of a process ended. */
export interface ProcessExit {
  readonly pid: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when the test asked for it (a signal sent through {@link ScalesetProcess.kill}). */
  readonly expected: boolean;
  readonly at: number;
}

/**
 * One `node bin/scaleset.js <role> --config <file>` process, restartable. Its stdout and stderr
 * are kept in memory (for assertions and the secret scan) and appended to `<logDir>/<name>.log`
 * (for debugging a failed run). Lines of every run are kept; each run starts with a marker line.
 */
export class ScalesetProcess {
  /** Every output line of every run of this process. */
  readonly lines: string[] = [];
  /** Every exit seen, expected or not. */
  readonly exits: ProcessExit[] = [];

  private child: ChildProcess | undefined;
  private exited: Promise<ProcessExit> | undefined;
  private expecting = false;
  private readonly logFile: string;

  constructor(
    readonly name: string,
    readonly role: ScalesetRole,
    private readonly configPath: string,
    logDir: string,
  ) {
    this.logFile = join(logDir, `${name}.log`);
    writeFileSync(this.logFile, '');
  }

  /** Pid of the current run; throws when not running. */
  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined || !this.running) {
      throw new Error(`${this.name} is not running`);
    }
    return pid;
  }

  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  /** Exits the test did not cause (a crash, or the process giving up by itself). */
  get unexpectedExits(): ProcessExit[] {
    return this.exits.filter((e) => !e.expected);
  }

  /** The whole output of every run, one string. */
  get output(): string {
    return this.lines.join('\n');
  }

  /** Starts a new run of the process (it must not be running). */
  start(): void {
    if (this.running) {
      throw new Error(`${this.name} is already running`);
    }
    const child = spawn(process.execPath, [SCALESET_BIN, this.role, '--config', this.configPath], {
      // A clean environment: the config file is the only input, as in a container.
      env: { PATH: process.env['PATH'] ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.expecting = false;
    this.append(`----- ${this.name} (${this.role}) started, pid ${child.pid ?? '?'} -----`);
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream.on('data', (chunk: Buffer) => {
        const text = partial + chunk.toString('utf8');
        const parts = text.split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) {
          this.append(line);
        }
      });
      stream.on('end', () => {
        if (partial !== '') {
          this.append(partial);
        }
      });
    }
    this.exited = new Promise<ProcessExit>((resolve) => {
      child.once('exit', (code, signal) => {
        const exit: ProcessExit = {
          pid: child.pid ?? -1,
          code,
          signal,
          expected: this.expecting,
          at: Date.now(),
        };
        this.exits.push(exit);
        this.append(
          `----- ${this.name} exited (${signal ?? `code ${String(code)}`}, ${exit.expected ? 'expected' : 'UNEXPECTED'}) -----`,
        );
        resolve(exit);
      });
    });
  }

  /**
   * Sends `signal` to the current run by pid and waits for it to exit. A SIGTERM that is not
   * honoured within `graceMs` is followed by SIGKILL (and the test will see a non-zero exit).
   */
  async kill(signal: 'SIGTERM' | 'SIGKILL', graceMs = 45_000): Promise<ProcessExit> {
    const child = this.child;
    const exited = this.exited;
    if (child === undefined || exited === undefined || !this.running) {
      throw new Error(`${this.name} is not running`);
    }
    this.expecting = true;
    child.kill(signal);
    const timer = setTimeout(() => {
      this.append(`----- ${this.name} did not exit ${graceMs} ms after ${signal}: SIGKILL -----`);
      child.kill('SIGKILL');
    }, graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the current run with `signal` (if running) and starts a new one. */
  async restart(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<ProcessExit | undefined> {
    const exit = this.running ? await this.kill(signal) : undefined;
    this.start();
    return exit;
  }

  /** Output lines of the current run (since its last start marker). */
  currentRunLines(): string[] {
    const marker = this.lines.findLastIndex((l) => l.startsWith(`----- ${this.name} (`));
    return marker < 0 ? [] : this.lines.slice(marker + 1);
  }

  /** Whether the current run has printed a line containing `text`. */
  hasLogged(text: string): boolean {
    return this.currentRunLines().some((l) => l.includes(text));
  }

  private append(line: string): void {
    this.lines.push(line);
    appendFileSync(this.logFile, `${line}\n`);
  }
}

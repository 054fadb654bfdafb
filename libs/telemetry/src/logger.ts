import pino, { type Logger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';

/** The structured logger used everywhere in scaleset. */
export type { Logger };

/** The log settings the logger factory needs (a slice of the validated config). */
export interface LoggingOptions {
  /** Minimum level written: `debug`, `info`, `warn` or `error`. */
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  /** `json` writes one JSON object per line; `text` writes human-readable lines. */
  readonly format: 'json' | 'text';
}

/**
 * Field paths that are always replaced with `[REDACTED]`, whatever logs them.
 * Secrets should never reach a log call in the first place; this is the second line of defence.
 */
export const REDACTED_LOG_PATHS: readonly string[] = [
  'token',
  'password',
  'privateKey',
  'private_key',
  'jitConfig',
  'encodedJITConfig',
  'authorization',
  '*.token',
  '*.password',
  '*.privateKey',
  '*.private_key',
  '*.jitConfig',
  '*.encodedJITConfig',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
];

/**
 * Creates the process logger. Logs go to stderr so that commands printing results
 * (`scaleset config validate`, `scaleset reconcile --once`) keep stdout clean.
 */
export function createLogger(
  options: LoggingOptions,
  bindings: Record<string, unknown> = {},
): Logger {
  const base: LoggerOptions = {
    level: options.level,
    base: { ...bindings },
    redact: { paths: [...REDACTED_LOG_PATHS], censor: '[REDACTED]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  // Synchronous writes: the last lines before an exit (a fatal error, a signal) must not
  // be lost in a buffer, and log volume is small.
  if (options.format === 'text') {
    return pino(
      base,
      pretty({
        destination: 2,
        sync: true,
        colorize: false,
        translateTime: 'SYS:standard',
        singleLine: true,
      }),
    );
  }
  return pino(base, pino.destination({ fd: 2, sync: true }));
}

import pino, { type Logger, type LoggerOptions } from 'pino';

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
  if (options.format === 'text') {
    return pino({
      ...base,
      transport: {
        target: 'pino-pretty',
        options: {
          destination: 2,
          colorize: false,
          translateTime: 'SYS:standard',
          singleLine: true,
        },
      },
    });
  }
  return pino(base, pino.destination({ fd: 2, sync: false }));
}

/**
 * Telemetry: the process logger (pino, secrets redacted) and its adapter for Nest.
 * Metrics and traces join here behind small interfaces (style.md 17).
 */
export { createLogger, REDACTED_LOG_PATHS, type Logger, type LoggingOptions } from './logger';
export { NestLogger } from './nest-logger';

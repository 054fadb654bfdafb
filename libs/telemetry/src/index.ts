/**
 * Telemetry: logging, metrics and tracing behind small interfaces (style.md 17).
 * Filled in by later issues; for now it exports the logger factory.
 */
export * from './logger';

/**
 * The runtime's pino logger factory. One JSON line per event, ISO timestamps,
 * level names instead of numbers, credentials redacted. Components take child
 * loggers (`logger.child({ component })`) and add `tenant`, `session`, `tool`,
 * `durationMs` and `bytes` fields to the lines they write.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { batchedStdout } from './log-stream.ts';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LoggerSettings {
  /** Defaults to `info`. */
  level?: LogLevel;
  /** `namespace/name` of the McpServer; becomes the `tenant` field of every line. */
  tenant?: string;
  /** Replica id; becomes the `replica` field of every line. */
  replica?: string;
  /** Where lines go; defaults to stdout (fd 1), batched (log-stream.ts). Tests pass a stream to read lines back. */
  destination?: DestinationStream;
}

/** Paths whose values never reach a log line (tokens, keys, cookies). */
export const REDACTED_PATHS: readonly string[] = [
  'authorization',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'token',
  'accessToken',
  'apiKey',
  'secret',
  '*.authorization',
  '*.token',
  '*.apiKey',
  '*.secret',
];

/** Creates the root logger of a runtime process. */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: {
      service: 'berth-runtime',
      ...(settings.tenant !== undefined && { tenant: settings.tenant }),
      ...(settings.replica !== undefined && { replica: settings.replica }),
    },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
  };
  return pino(options, settings.destination ?? batchedStdout());
}

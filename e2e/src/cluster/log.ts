/**
 * Structured logs of the cluster tooling, to stderr so that stdout stays for
 * a CLI's own output. Level from `BERTH_E2E_LOG_LEVEL` (default `info`).
 */
import { pino, type Logger } from 'pino';

export const log: Logger = pino(
  { name: 'berth-e2e', level: process.env.BERTH_E2E_LOG_LEVEL ?? 'info', base: undefined },
  pino.destination({ fd: 2, sync: true }),
);

/**
 * Connection health of the Redis clients behind the stores: ready sockets and
 * no recent command failure. A hung server keeps sockets "ready" while every
 * command times out, so failures count too, until a probe succeeds again.
 */
import type { Logger } from 'pino';
import { StoreUnavailableError } from '../types.ts';
import type { RedisClient } from './connection.ts';

export interface RedisHealth {
  healthy(): boolean;
  /** Runs a Redis call; connection-level failures become StoreUnavailableError. */
  guard<T>(what: string, op: () => Promise<T>): Promise<T>;
  stop(): void;
}

/** Tracks the health of `clients`, probing with PING every `probeMs`. */
export function trackHealth(command: RedisClient, subscriberUp: () => boolean, logger: Logger, probeMs = 1000): RedisHealth {
  let failing = false;
  let stopped = false;
  let lastLogged = 0;

  const markFailure = (what: string, err: unknown) => {
    if (!failing || Date.now() - lastLogged > 10_000) {
      lastLogged = Date.now();
      logger.warn({ err, op: what }, 'Redis call failed; answering 503 until it recovers');
    }
    failing = true;
  };

  const probe = setInterval(() => {
    if (stopped || command.status !== 'ready') return;
    command.ping().then(
      () => {
        if (failing) logger.info('Redis recovered');
        failing = false;
      },
      (err: unknown) => markFailure('ping', err),
    );
  }, probeMs);
  probe.unref();

  return {
    healthy: () => !stopped && !failing && command.status === 'ready' && subscriberUp(),
    async guard<T>(what: string, op: () => Promise<T>): Promise<T> {
      if (command.status !== 'ready') {
        throw new StoreUnavailableError(`redis unavailable (${what}): connection ${command.status}`, { retryAfterSeconds: 1 });
      }
      try {
        return await op();
      } catch (err) {
        if (err instanceof StoreUnavailableError) throw err;
        markFailure(what, err);
        throw new StoreUnavailableError(`redis unavailable (${what}): ${(err as Error).message}`, { cause: err, retryAfterSeconds: 1 });
      }
    },
    stop() {
      stopped = true;
      clearInterval(probe);
    },
  };
}

/**
 * EventBus on Redis pub/sub: one channel per McpServer (`<p>bus`). A publish
 * reaches this replica's listeners directly and every other replica through
 * Redis; messages carry the publishing instance's id so a replica ignores its
 * own echo and each listener sees each event exactly once.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ServerChangeEvent } from '../../backend/types.ts';
import type { EventBus } from '../types.ts';
import type { RedisClient } from './connection.ts';
import type { RedisHealth } from './health.ts';
import type { Keys } from './keys.ts';
import type { PubSubHub } from './pubsub.ts';

interface Envelope {
  o: string;
  e: ServerChangeEvent;
}

const KINDS = new Set(['tools_list_changed', 'prompts_list_changed', 'resources_list_changed', 'resource_updated']);

/** Validates an event received from Redis (other tenants can't publish here, but a bad peer version could). */
export function parseEnvelope(text: string): Envelope | undefined {
  try {
    const v = JSON.parse(text) as Partial<Envelope>;
    if (typeof v.o !== 'string' || !v.e || typeof v.e !== 'object' || !KINDS.has((v.e as { kind?: string }).kind ?? '')) return undefined;
    if (v.e.kind === 'resource_updated' && typeof (v.e as { uri?: unknown }).uri !== 'string') return undefined;
    return v as Envelope;
  } catch {
    return undefined;
  }
}

export interface RedisEventBusOptions {
  client: RedisClient;
  hub: PubSubHub;
  keys: Keys;
  health: RedisHealth;
  logger: Logger;
  publishCommand: 'publish' | 'spublish';
}

/** Creates the Redis-backed EventBus. */
export function createRedisEventBus(opts: RedisEventBusOptions): EventBus {
  const { client, hub, keys, health, logger } = opts;
  const origin = randomBytes(9).toString('base64url');
  const listeners = new Set<(event: ServerChangeEvent) => void>();
  const emit = (event: ServerChangeEvent) => {
    for (const l of listeners) {
      try {
        l(event);
      } catch (err) {
        logger.error({ err }, 'Event bus listener threw');
      }
    }
  };
  const subscription = hub.subscribe(keys.busChannel, (text) => {
    const env = parseEnvelope(text);
    if (!env) {
      logger.warn('Ignored a malformed event bus message');
      return;
    }
    if (env.o !== origin) emit(env.e);
  });
  let closed = false;
  return {
    publish(event) {
      queueMicrotask(() => emit(event));
      const payload = JSON.stringify({ o: origin, e: event } satisfies Envelope);
      const send = opts.publishCommand === 'spublish' ? client.spublish(keys.busChannel, payload) : client.publish(keys.busChannel, payload);
      send.catch((err: unknown) => logger.warn({ err, event: event.kind }, 'Publishing a change event to other replicas failed'));
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    healthy: () => !closed && health.healthy(),
    async close() {
      closed = true;
      subscription.unsubscribe();
      listeners.clear();
    },
  };
}

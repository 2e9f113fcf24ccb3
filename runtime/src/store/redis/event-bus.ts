/**
 * EventBus on Redis pub/sub: one channel per McpServer (`<p>bus`). A publish
 * reaches this replica's listeners directly and every other replica through
 * Redis; messages carry the publishing instance's id so a replica ignores its
 * own echo and each listener sees each event exactly once.
 */
import type { Logger } from 'pino';
import type { ServerChangeEvent } from '../../backend/types.ts';
import type { EventBus } from '../types.ts';
import type { RedisClient } from './connection.ts';
import type { RedisHealth } from './health.ts';
import type { Keys } from './keys.ts';
import type { PubSubHub } from './pubsub.ts';
import { createReplicaChannel } from './replica-channel.ts';

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
}

/** Creates the Redis-backed EventBus. */
export function createRedisEventBus(opts: RedisEventBusOptions): EventBus {
  const { health } = opts;
  const channel = createReplicaChannel<ServerChangeEvent>({
    client: opts.client,
    hub: opts.hub,
    channel: opts.keys.busChannel,
    logger: opts.logger,
    noun: 'change event',
    encode: (o, e) => JSON.stringify({ o, e } satisfies Envelope),
    decode: (text) => {
      const env = parseEnvelope(text);
      return env && { origin: env.o, value: env.e };
    },
    local: true,
    describe: (event) => ({ event: event.kind }),
  });
  let closed = false;
  return {
    publish: (event) => channel.publish(event),
    subscribe: (listener) => channel.on(listener),
    healthy: () => !closed && health.healthy(),
    async close() {
      closed = true;
      channel.close();
    },
  };
}

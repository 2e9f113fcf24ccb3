/**
 * A Redis pub/sub channel shared by an McpServer's replicas. Each process
 * tags what it publishes with a random instance id and ignores its own echo;
 * what arrives is validated before any listener sees it, and a listener that
 * throws does not keep the others from their message.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { RedisClient } from './connection.ts';
import type { PubSubHub } from './pubsub.ts';

export interface ReplicaChannel<T> {
  /** Sends `value` to every other replica (and, with `local`, to this one's listeners on a microtask). */
  publish(value: T): void;
  /** Receives the values published (by other replicas, and with `local` by this one); returns the unsubscribe function. */
  on(listener: (value: T) => void): () => void;
  close(): void;
}

export interface ReplicaChannelOptions<T> {
  client: RedisClient;
  hub: PubSubHub;
  channel: string;
  logger: Logger;
  /** What a message is, for log lines ('change event', 'session signal'). */
  noun: string;
  /** The wire text of `value` published by instance `origin`. */
  encode(origin: string, value: T): string;
  /** The origin and value of a received text; undefined when malformed. */
  decode(text: string): { origin: string; value: T } | undefined;
  /** Also deliver this process's own publications to its listeners (on a microtask, as a publish must not re-enter its caller). */
  local?: boolean;
  /** Log fields naming a value. */
  describe?(value: T): Record<string, unknown>;
}

/** Subscribes to `channel` on the hub and returns the channel. */
export function createReplicaChannel<T>(opts: ReplicaChannelOptions<T>): ReplicaChannel<T> {
  const { client, hub, channel, logger, noun } = opts;
  const origin = randomBytes(9).toString('base64url');
  const listeners = new Set<(value: T) => void>();
  const deliver = (value: T): void => {
    for (const l of listeners) {
      try {
        l(value);
      } catch (err) {
        logger.error({ err, ...opts.describe?.(value) }, `A ${noun} listener threw`);
      }
    }
  };
  const subscription = hub.subscribe(channel, (text) => {
    const received = opts.decode(text);
    if (!received) {
      logger.warn(`Ignored a malformed ${noun}`);
      return;
    }
    if (received.origin !== origin) deliver(received.value);
  });
  return {
    publish(value) {
      if (opts.local) queueMicrotask(() => deliver(value));
      client.publish(channel, opts.encode(origin, value)).catch((err: unknown) => {
        logger.warn({ err, ...opts.describe?.(value) }, `Publishing a ${noun} to other replicas failed`);
      });
    },
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      listeners.clear();
      subscription.unsubscribe();
    },
  };
}

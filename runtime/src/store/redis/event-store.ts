/**
 * EventStore on Redis Streams: one stream per session (`<p>e:<sid>`) holding
 * the events of all its SSE streams, capped with `MAXLEN ~ maxEvents` and
 * expiring `retentionSeconds` after the last append. Each append is one script
 * that also publishes the event on the session's tail channel, so a replica
 * tailing the stream gets it live over the shared subscriber connection and
 * fills any gap from the Redis Stream itself.
 */
import type { Logger } from 'pino';
import { isResponse, type JsonRpcMessage } from '../../protocol/jsonrpc.ts';
import type { EventStore, StoredEvent } from '../types.ts';
import type { RedisClient } from './connection.ts';
import { compareEntryIds, formatEventIdFromTags, parseEventId, sessionTag, streamTag } from './event-id.ts';
import type { RedisHealth } from './health.ts';
import type { Keys } from './keys.ts';
import type { PubSubHub } from './pubsub.ts';
import { eventAppend, eventAppendNew, eventRange, runScript } from './scripts.ts';

export interface RedisEventStoreOptions {
  client: RedisClient;
  hub: PubSubHub;
  keys: Keys;
  health: RedisHealth;
  logger: Logger;
  maxEvents: number;
  retentionSeconds: number;
  /** Session idle timeout: events never outlive their session. */
  idleTimeoutSeconds: number;
  /** PUBLISH, or SPUBLISH on a Cluster (the channel shares the tenant's slot). */
  publishCommand: 'publish' | 'spublish';
}

/**
 * With resumability off (0 events or 0 s) events are still written briefly:
 * live tails on other replicas (standalone GET streams) need them.
 */
const MIN_LIVE_EVENTS = 100;
const MIN_LIVE_RETENTION_MS = 30_000;

function decodeMessage(text: string): JsonRpcMessage | null {
  return text === '' ? null : (JSON.parse(text) as JsonRpcMessage);
}

/** Creates the Redis-backed EventStore. */
export function createRedisEventStore(opts: RedisEventStoreOptions): EventStore & { activeTails(): number } {
  const { client, hub, keys, health, logger } = opts;
  const maxLen = Math.max(opts.maxEvents, MIN_LIVE_EVENTS);
  const retentionMs = Math.max(Math.min(opts.retentionSeconds, opts.idleTimeoutSeconds) * 1000, MIN_LIVE_RETENTION_MS);
  const tails = new Set<Tail>();

  interface Tail {
    sessionId: string;
    streamId: string;
    stTag: string;
    last: string | undefined;
    catchingUp: boolean;
    buffered: Array<{ entryId: string; text: string }>;
    closed: boolean;
    deliver(entryId: string, text: string): void;
  }

  const range = (sessionId: string, entryId: string, streamId: string, mustExist: boolean) =>
    health.guard('events.range', () => runScript<string[] | null>(client, eventRange, [keys.events(sessionId)], [entryId, streamId, mustExist ? '1' : '0']));

  /** Replays from the Redis Stream after `tail.last`, then flushes live messages buffered meanwhile. */
  const catchUp = async (tail: Tail): Promise<void> => {
    tail.catchingUp = true;
    try {
      if (tail.last !== undefined) {
        const flat = await range(tail.sessionId, tail.last, tail.streamId, false);
        for (let i = 0; flat && i + 1 < flat.length && !tail.closed; i += 2) tail.deliver(flat[i]!, flat[i + 1]!);
      }
    } catch (err) {
      logger.warn({ err, session: tail.sessionId }, 'Catching up a live event tail failed; live delivery continues');
    } finally {
      tail.catchingUp = false;
      const pending = tail.buffered.splice(0);
      for (const m of pending) if (!tail.closed) tail.deliver(m.entryId, m.text);
    }
  };

  hub.onResubscribed(() => {
    for (const t of tails) void catchUp(t);
  });

  return {
    async append(sessionId, streamId, message, serialized) {
      const text = message === null ? '' : (serialized ?? JSON.stringify(message));
      const stTag = streamTag(streamId);
      const final = message !== null && isResponse(message) ? '1' : '0';
      const entryId = await health.guard('events.append', () =>
        runScript<string>(client, eventAppend, [keys.events(sessionId), keys.inflight(sessionId)], [
          streamId,
          text,
          maxLen,
          retentionMs,
          keys.tailChannel(sessionId),
          final,
          stTag,
          opts.publishCommand,
        ]),
      );
      return formatEventIdFromTags(sessionTag(sessionId), stTag, entryId);
    },

    async appendNew(sessionId, streamId, messages, serialized) {
      const texts = messages.map((m, i) => (m === null ? '' : (serialized?.[i] ?? JSON.stringify(m))));
      const entryIds = await health.guard('events.append', () =>
        runScript<string[]>(client, eventAppendNew, [keys.events(sessionId)], [streamId, maxLen, retentionMs, ...texts]),
      );
      const sTag = sessionTag(sessionId);
      const stTag = streamTag(streamId);
      return entryIds.map((entryId) => formatEventIdFromTags(sTag, stTag, entryId));
    },

    async after(sessionId, lastEventId) {
      const parsed = parseEventId(lastEventId);
      if (!parsed || parsed.sessionTag !== sessionTag(sessionId)) return undefined;
      const flat = await range(sessionId, parsed.entryId, parsed.streamId, true);
      if (!flat) return undefined;
      const sTag = sessionTag(sessionId);
      const stTag = streamTag(parsed.streamId);
      const events: StoredEvent[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        events.push({ eventId: formatEventIdFromTags(sTag, stTag, flat[i]!), message: decodeMessage(flat[i + 1]!) });
      }
      return { streamId: parsed.streamId, events };
    },

    tail(sessionId, streamId, afterEventId, onEvent) {
      const parsed = parseEventId(afterEventId);
      const sTag = sessionTag(sessionId);
      const valid = parsed !== undefined && parsed.sessionTag === sTag && parsed.streamId === streamId;
      const stTag = streamTag(streamId);
      const tail: Tail = {
        sessionId,
        streamId,
        stTag,
        last: valid ? parsed.entryId : undefined,
        catchingUp: true,
        buffered: [],
        closed: false,
        deliver(entryId, text) {
          if (this.closed) return;
          if (this.last !== undefined && compareEntryIds(entryId, this.last) <= 0) return;
          this.last = entryId;
          let message: JsonRpcMessage | null;
          try {
            message = decodeMessage(text);
          } catch (err) {
            logger.error({ err, session: sessionId }, 'Dropped an undecodable stored event');
            return;
          }
          onEvent({ eventId: formatEventIdFromTags(sTag, stTag, entryId), message });
        },
      };
      tails.add(tail);
      const subscription = hub.subscribe(keys.tailChannel(sessionId), (payload) => {
        // payload: `<entryId> <streamTag> <message>`
        const a = payload.indexOf(' ');
        const b = payload.indexOf(' ', a + 1);
        if (a < 0 || b < 0 || payload.slice(a + 1, b) !== stTag) return;
        const entryId = payload.slice(0, a);
        const text = payload.slice(b + 1);
        if (tail.catchingUp) tail.buffered.push({ entryId, text });
        else tail.deliver(entryId, text);
      });
      // Not subscribed (Redis down)? The hub re-subscribes on reconnect and triggers another catch-up.
      const start = () => void catchUp(tail);
      subscription.ready.then(start, start);
      return () => {
        tail.closed = true;
        tails.delete(tail);
        subscription.unsubscribe();
      };
    },

    async deleteSession(sessionId) {
      await health.guard('events.delete', () => client.del(keys.events(sessionId), keys.inflight(sessionId)));
    },
    healthy: () => health.healthy(),
    close: async () => {
      for (const t of tails) t.closed = true;
      tails.clear();
    },
    activeTails: () => tails.size,
  };
}

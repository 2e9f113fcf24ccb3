/**
 * One subscriber connection per store instance, multiplexing every channel
 * (the event bus and all live tails). Handlers are reference-counted per
 * channel. After a reconnect — or, on a Cluster, a move to another node — the
 * hub subscribes every channel again and tells listeners, so tails can catch
 * up from the Redis Stream on whatever they may have missed meanwhile.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

export type MessageHandler = (message: string) => void;

export interface Subscription {
  /** Settles once Redis has confirmed the subscription (or it failed and will be retried on reconnect). */
  ready: Promise<void>;
  unsubscribe(): void;
}

export interface PubSubHub {
  subscribe(channel: string, handler: MessageHandler): Subscription;
  /** Called after a reconnect once every channel is subscribed again. */
  onResubscribed(listener: () => void): () => void;
  channelCount(): number;
  /** Subscriber connection ready. */
  connected(): boolean;
  /** Resolves true once connected, false after `timeoutMs`. */
  waitConnected(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Creates the hub; `connect` yields a fresh subscriber connection whenever the previous one has ended for good. */
export function createPubSubHub(connect: () => Redis, logger: Logger): PubSubHub {
  const handlers = new Map<string, Set<MessageHandler>>();
  const confirmed = new Map<string, Promise<void>>();
  const resubscribedListeners = new Set<() => void>();
  let closed = false;
  let sub: Redis;
  let connectedOnce = false;
  let lostSinceReady = false;

  const dispatch = (channel: string, message: string) => {
    const set = handlers.get(channel);
    if (!set) return;
    for (const h of set) {
      try {
        h(message);
      } catch (err) {
        logger.error({ err, channel }, 'Pub/sub handler threw');
      }
    }
  };

  const attach = (conn: Redis) => {
    conn.on('error', () => {}); // connection errors surface through health checks
    conn.on('message', (channel: string, message: string) => {
      if (conn === sub) dispatch(channel, message);
    });
    conn.on('close', () => {
      if (connectedOnce) lostSinceReady = true;
    });
    conn.on('ready', () => {
      const wasLost = lostSinceReady;
      connectedOnce = true;
      lostSinceReady = false;
      if (closed || conn !== sub) return;
      // SUBSCRIBE only on a ready connection: queued before the ready check, it breaks the handshake.
      const channels = [...handlers.keys()];
      const again = channels.length ? conn.subscribe(...channels).then(() => undefined) : Promise.resolve();
      again.then(
        () => {
          for (const ch of channels) settleWaiters(ch, undefined);
          if (wasLost) for (const l of resubscribedListeners) l();
        },
        (err: unknown) => {
          for (const ch of channels) settleWaiters(ch, err);
          logger.warn({ err }, 'Subscribing after a Redis (re)connect failed');
        },
      );
    });
    conn.on('end', () => {
      if (closed || conn !== sub) return;
      lostSinceReady = connectedOnce;
      const t = setTimeout(() => {
        if (closed) return;
        sub = connect();
        attach(sub);
      }, 100);
      t.unref();
    });
  };

  sub = connect();
  attach(sub);

  const waiters = new Map<string, Array<(err: unknown) => void>>();
  const settleWaiters = (channel: string, err: unknown) => {
    const list = waiters.get(channel);
    waiters.delete(channel);
    for (const w of list ?? []) w(err);
  };

  const confirm = (channel: string): Promise<void> => {
    const subscribed =
      sub.status === 'ready'
        ? sub.subscribe(channel)
        : new Promise<void>((resolve, reject) => {
            const list = waiters.get(channel) ?? [];
            list.push((err) => (err === undefined ? resolve() : reject(err as Error)));
            waiters.set(channel, list);
          });
    const p = subscribed.then(
      () => undefined,
      (err: unknown) => {
        confirmed.delete(channel);
        logger.debug({ err, channel }, 'Redis SUBSCRIBE failed; it is retried on reconnect');
        throw err;
      },
    );
    p.catch(() => {});
    confirmed.set(channel, p);
    return p;
  };

  return {
    subscribe(channel, handler) {
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
      }
      set.add(handler);
      const ready = confirmed.get(channel) ?? confirm(channel);
      let done = false;
      return {
        ready,
        unsubscribe() {
          if (done) return;
          done = true;
          const s = handlers.get(channel);
          if (!s) return;
          s.delete(handler);
          if (s.size === 0) {
            handlers.delete(channel);
            confirmed.delete(channel);
            settleWaiters(channel, new Error('unsubscribed'));
            if (!closed && sub.status === 'ready') sub.unsubscribe(channel).catch(() => {});
          }
        },
      };
    },
    onResubscribed(listener) {
      resubscribedListeners.add(listener);
      return () => resubscribedListeners.delete(listener);
    },
    channelCount: () => handlers.size,
    connected: () => sub.status === 'ready',
    async waitConnected(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (sub.status !== 'ready' && !closed) {
        if (Date.now() > deadline) return false;
        await new Promise((r) => setTimeout(r, 20));
      }
      return sub.status === 'ready';
    },
    async close() {
      closed = true;
      handlers.clear();
      confirmed.clear();
      await sub.quit().catch(() => {});
      sub.disconnect();
    },
  };
}

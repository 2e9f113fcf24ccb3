/**
 * Signals to a legacy session's exchanges, which may run on any replica when
 * the backend keeps nothing per session: a client's answer to a server→client
 * request and a `notifications/cancelled`, which the replica that receives
 * one applies when the exchange runs there and otherwise publishes on the
 * McpServer's signal channel, where the replica running the exchange picks
 * it up; and the end of a session (a DELETE), which stops whatever the
 * session still runs on every replica. All are rare, so a broadcast costs
 * less than recording where every exchange runs.
 */
import type { Logger } from 'pino';
import type { JsonRpcResponse, RequestId } from '../protocol/jsonrpc.ts';
import type { RedisClient } from '../store/redis/connection.ts';
import type { PubSubHub } from '../store/redis/pubsub.ts';
import { createReplicaChannel, type ReplicaChannel } from '../store/redis/replica-channel.ts';

export type SessionSignal =
  | { kind: 'response'; session: string; message: JsonRpcResponse }
  | { kind: 'cancel'; session: string; requestId: RequestId; reason?: string }
  | { kind: 'end'; session: string };

/** Sends signals to every other replica and receives theirs. */
export type SessionSignals = ReplicaChannel<SessionSignal>;

interface Envelope {
  /** The publishing replica instance, so it ignores its own echo. */
  o: string;
  s: SessionSignal;
}

const isId = (v: unknown): v is RequestId => typeof v === 'string' || typeof v === 'number';

/** Validates a signal received from Redis (a peer of another version could send anything). */
export function parseSignal(text: string): { origin: string; signal: SessionSignal } | undefined {
  let v: Partial<Envelope>;
  try {
    v = JSON.parse(text) as Partial<Envelope>;
  } catch {
    return undefined;
  }
  const s = v.s as Partial<SessionSignal> | undefined;
  if (typeof v.o !== 'string' || !s || typeof s !== 'object' || typeof s.session !== 'string') return undefined;
  if (s.kind === 'end') return { origin: v.o, signal: { kind: 'end', session: s.session } };
  if (s.kind === 'cancel' && isId(s.requestId) && (s.reason === undefined || typeof s.reason === 'string')) return { origin: v.o, signal: s as SessionSignal };
  if (s.kind === 'response') {
    const m = s.message as Partial<JsonRpcResponse> | undefined;
    if (m && typeof m === 'object' && isId(m.id) && ('result' in m || 'error' in m)) return { origin: v.o, signal: s as SessionSignal };
  }
  return undefined;
}

/** Creates the signal channel on Redis pub/sub. */
export function createSessionSignals(opts: { client: RedisClient; hub: PubSubHub; channel: string; logger: Logger }): SessionSignals {
  return createReplicaChannel<SessionSignal>({
    ...opts,
    noun: 'session signal',
    encode: (o, s) => JSON.stringify({ o, s } satisfies Envelope),
    decode: (text) => {
      const parsed = parseSignal(text);
      return parsed && { origin: parsed.origin, value: parsed.signal };
    },
    describe: (signal) => ({ session: signal.session, signal: signal.kind }),
  });
}

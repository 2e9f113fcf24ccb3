/**
 * A 2025-era MCP server Berth has initialized itself (a stdio child or an
 * upstream HTTP session) and forwards client requests to. Peers route the
 * messages that belong to a forwarded request back through its hooks.
 */
import type { JsonRpcErrorObject, JsonRpcNotification } from '../../protocol/jsonrpc.ts';
import type { InitializeResultLike } from './discover.ts';

export type PeerReply = { result: Record<string, unknown> } | { error: JsonRpcErrorObject };

/** How a peer hands back what belongs to one forwarded request. */
export interface PeerExchangeHooks {
  /**
   * Who the request is for: messages the peer cannot tie to a request are
   * given to an in-flight request only when every in-flight request has the
   * same audience (one legacy session, or one modern exchange).
   */
  readonly audience: string;
  /** A notification related to the request (progress tokens already restored). */
  notification(n: JsonRpcNotification): void;
  /** A server→client request made while serving the request. */
  request(method: string, params: Record<string, unknown> | undefined): Promise<PeerReply>;
}

export type PeerFailureKind = 'exited' | 'unavailable' | 'timeout' | 'cancelled' | 'protocol';

/** The peer itself failed (not an MCP-level error): the message is meant for the client. */
export class PeerFailure extends Error {
  override readonly name = 'PeerFailure';
  readonly kind: PeerFailureKind;
  constructor(kind: PeerFailureKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

export interface LegacyPeer {
  /** The peer's own handshake result. */
  readonly init: InitializeResultLike;
  /** Forwards one request; resolves with the peer's reply, rejects with PeerFailure. */
  call(method: string, params: Record<string, unknown> | undefined, hooks: PeerExchangeHooks, signal?: AbortSignal): Promise<PeerReply>;
  /** Forwards a client notification. */
  notify(method: string, params: Record<string, unknown> | undefined): void;
}

/** What `Backend.health()` reports for one peer source. */
export interface PeerHealth {
  ready: boolean;
  reason?: string;
}

/**
 * The seam between the HTTP/session layers and whatever serves MCP: an
 * in-process module, stdio children or a remote upstream. Backends work at
 * the JSON-RPC message level, one exchange per client request, so the same
 * policy pipeline, limits and probes apply to every kind.
 */
import type { JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../protocol/jsonrpc.ts';

export type Era = 'modern' | 'legacy';

/** Who is calling: derived from auth, never from a session id. */
export interface Principal {
  /** Stable id: `oauth:<iss>#<sub>`, `apikey:<name>` or `anonymous`. */
  id: string;
  kind: 'oauth' | 'apiKey' | 'anonymous';
  scopes: readonly string[];
  clientId?: string;
  expiresAt?: number;
}

/** The `initialize` params a legacy client sent; replayed into fresh backend instances. */
export interface InitializeParams {
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  clientInfo: { name: string; version: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ClientContext {
  era: Era;
  /** The negotiated (legacy) or claimed (modern) protocol revision. */
  protocolVersion: string;
  /**
   * Legacy only: the session this exchange belongs to, with its stored
   * `logging/setLevel` level (any replica may serve the exchange).
   */
  session?: { id: string; initialize: InitializeParams; logLevel?: string };
  principal: Principal;
  /** `namespace/name` of the McpServer, for logs and metrics. */
  tenant: string;
  /** Aborted when the client cancels, the tool call times out or drain ends. */
  signal: AbortSignal;
}

/** Receives the server→client messages that belong to one exchange. */
export interface ExchangeSink {
  /** Progress, logging and other notifications related to the request. */
  notification(message: JsonRpcNotification): void;
  /**
   * A server→client request (sampling, elicitation, roots/list). Resolves
   * with the client's response; rejects when the era or client can't carry it.
   */
  request(message: JsonRpcRequest): Promise<JsonRpcResponse>;
}

/** A change event from the backend, fanned out to listeners (modern) and GET streams (legacy). */
export type ServerChangeEvent =
  | { kind: 'tools_list_changed' }
  | { kind: 'prompts_list_changed' }
  | { kind: 'resources_list_changed' }
  | { kind: 'resource_updated'; uri: string };

export interface BackendHealth {
  ready: boolean;
  /** Why not ready (for `/ready` and logs). */
  reason?: string;
}

export interface Backend {
  readonly kind: 'module' | 'stdio' | 'remote';
  /**
   * Whether a legacy session's requests must all run in one process, because
   * it keeps state per session there (a stdio child per session). Without it
   * (pooled instances, shared peers) any replica serves a session's requests.
   * Absent: true.
   */
  readonly sessionAffinity?: boolean;
  /** Starts warm pools / checks reachability. Rejects only on fatal misconfiguration. */
  start(): Promise<void>;
  health(): BackendHealth;
  /**
   * Serves one client request (including legacy `initialize` and modern
   * `server/discover`) and resolves with the final response carrying the
   * client's original id. Never rejects: failures become JSON-RPC errors or
   * `isError` tool results.
   */
  handle(ctx: ClientContext, request: JsonRpcRequest, sink: ExchangeSink): Promise<JsonRpcResponse>;
  /** A client notification not tied to a pending exchange (e.g. roots/list_changed). */
  notify(ctx: ClientContext, notification: JsonRpcNotification): Promise<void>;
  /** A legacy session ended (DELETE, expiry): release per-session resources. */
  closeSession(sessionId: string): Promise<void>;
  /** Subscribes to change events; returns an unsubscribe function. */
  onChange(listener: (event: ServerChangeEvent) => void): () => void;
  /** Stops accepting work, lets in-flight exchanges finish until `deadline` (epoch ms), then releases everything. */
  close(deadline: number): Promise<void>;
}

/**
 * The few places the module backend adapts to how the SDK's server classes
 * behave, kept in one file so an SDK upgrade has one place to check (the
 * module-backend tests exercise each of them).
 */
import { McpServer, Server, type Transport } from '@modelcontextprotocol/server';
import type { JsonRpcNotification, RequestId } from '../../protocol/jsonrpc.ts';
import { SmallMap, SmallSet } from '../../small-collections.ts';

const CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
const CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';

type LowLevel = Server;

/**
 * The low-level `Server` behind a factory product. Duck-typed, so a module
 * that bundles its own copy of the SDK (an npm package with its own
 * dependency) is still served: `serveStdio` only recognises its own
 * `McpServer` class, while a low-level server of any copy works.
 */
export function lowLevelServer(product: unknown): LowLevel {
  if (product instanceof McpServer) return product.server;
  if (product instanceof Server) return product;
  const p = product as { server?: unknown; connect?: unknown; setRequestHandler?: unknown } | null;
  if (p && typeof p === 'object') {
    const inner = p.server as { connect?: unknown; setRequestHandler?: unknown } | undefined;
    if (inner && typeof inner.connect === 'function' && typeof inner.setRequestHandler === 'function') return inner as unknown as LowLevel;
    if (typeof p.connect === 'function' && typeof p.setRequestHandler === 'function') return p as unknown as LowLevel;
  }
  throw new TypeError(`the factory returned ${describe(product)}, not an McpServer or Server`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return `an object (${(value as object).constructor?.name ?? 'Object'})`;
}

const CHANGE_METHODS = new Set([
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
  'notifications/resources/updated',
]);

/** Whether a server→client notification is a change event (fanned out, not tied to an exchange). */
export function isChangeNotification(message: { method?: unknown }): message is JsonRpcNotification {
  return typeof message.method === 'string' && CHANGE_METHODS.has(message.method) && !('id' in message);
}

/**
 * Diverts the instance's change notifications to `onChange` at the
 * instance's own transport. On a modern connection the SDK's stdio entry
 * only forwards change notifications some open `subscriptions/listen` on
 * that connection asked for; Berth serves listen streams itself (across
 * replicas), so it must see every change the instance announces.
 */
export function divertChangeNotifications(server: LowLevel, onChange: (n: JsonRpcNotification) => void): void {
  const connect = server.connect.bind(server);
  server.connect = async (transport: Transport): Promise<void> => {
    const send = transport.send.bind(transport);
    transport.send = (message, options) => {
      if (isChangeNotification(message as { method?: unknown })) {
        onChange(message as JsonRpcNotification);
        return Promise.resolve();
      }
      return send(message, options);
    };
    const prior = transport.onmessage;
    await connect(transport);
    if (prior === undefined) skipRepeatedRequestChecks(server, transport);
  };
}

/** The keys a JSON-RPC request may have (the SDK's request schema is strict). */
export const REQUEST_KEYS: ReadonlySet<string> = new Set(['jsonrpc', 'id', 'method', 'params']);
const RELATED_TASK_KEY = 'io.modelcontextprotocol/related-task';
/** A JSON object (not null, not an array). */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A request the SDK's `JSONRPCRequestSchema` certainly accepts (strict
 * object: `jsonrpc` 2.0, string or integer id, string method, optional
 * object params whose `_meta.progressToken` is a string or integer).
 * Anything less plain answers false and takes the SDK's own checks.
 */
export function isPlainRequest(message: unknown): boolean {
  if (!isObject(message) || message.jsonrpc !== '2.0' || typeof message.method !== 'string') return false;
  const id = message.id;
  if (typeof id !== 'string' && !Number.isSafeInteger(id)) return false;
  for (const key in message) if (!REQUEST_KEYS.has(key)) return false;
  const params = message.params;
  if (params === undefined) return true;
  if (!isObject(params)) return false;
  const meta = params._meta;
  if (meta === undefined) return true;
  if (!isObject(meta) || RELATED_TASK_KEY in meta) return false;
  const token = meta.progressToken;
  return token === undefined || typeof token === 'string' || Number.isSafeInteger(token);
}

interface ConnectionChannel {
  _closed?: unknown;
  _pendingRequests?: unknown;
  deliver?: unknown;
  onmessage?: unknown;
}

/**
 * Each request Berth hands an instance is schema-checked four times on the
 * way in: the stdio entry's connection channel asks "is it a request?" (to
 * track it), then the server's message handler asks "a result? an error? a
 * request?" (two failing parses, which are the dear ones). Berth built the
 * message itself, so for a plain request the channel does its bookkeeping
 * and hands it straight to the server's request handler — the path those
 * checks would have chosen. The per-method params/result validation stays.
 * Installed only when the SDK internals look exactly as expected; anything
 * else keeps the SDK's own path.
 */
function skipRepeatedRequestChecks(server: LowLevel, transport: Transport): void {
  const channel = transport as unknown as ConnectionChannel;
  const handler = server as unknown as { _onrequest?: unknown };
  const classify = channel.onmessage;
  const pending = channel._pendingRequests;
  const deliver = channel.deliver;
  if (typeof classify !== 'function' || typeof handler._onrequest !== 'function' || typeof deliver !== 'function') return;
  if (!(pending instanceof Set) || typeof channel._closed !== 'boolean') return;
  // One exchange at a time per instance: array-backed bookkeeping instead of a
  // Set and a Map emptied and refilled per request (see small-collections.ts).
  const small = new SmallSet<RequestId>();
  for (const id of pending as Set<RequestId>) small.add(id);
  channel._pendingRequests = small;
  const controllers = (server as unknown as { _requestHandlerAbortControllers?: unknown })._requestHandlerAbortControllers;
  if (controllers instanceof Map && controllers.size === 0) (server as unknown as { _requestHandlerAbortControllers: unknown })._requestHandlerAbortControllers = new SmallMap();
  channel.deliver = (message: unknown, extra?: unknown): void => {
    if (channel._closed !== false || channel.onmessage !== classify || !isPlainRequest(message)) {
      (deliver as (m: unknown, e?: unknown) => void).call(channel, message, extra);
      return;
    }
    small.add((message as { id: RequestId }).id);
    (handler._onrequest as (m: unknown, e?: unknown) => void).call(server, message, extra);
  };
}

/**
 * Backfills the deprecated `getClientCapabilities()` / `getClientVersion()`
 * accessors from a modern request's `_meta` envelope, as the SDK's own HTTP
 * entry does per request, so module code behaves the same under Berth.
 * Safe only because an instance serves one exchange at a time.
 */
export function seedModernClientIdentity(server: LowLevel, meta: Record<string, unknown> | undefined): void {
  const target = server as unknown as { _clientCapabilities?: unknown; _clientVersion?: unknown };
  target._clientCapabilities = meta?.[CLIENT_CAPABILITIES];
  target._clientVersion = meta?.[CLIENT_INFO];
}

/** The server's declared capabilities (public accessor). */
export function capabilitiesOf(server: LowLevel): Record<string, unknown> {
  return (server.getCapabilities() ?? {}) as Record<string, unknown>;
}

/**
 * 2025-era clients of a 2026-07-28-only upstream. Berth answers what the
 * modern revision removed (initialize, ping, logging/setLevel,
 * resources/subscribe) itself, adds the per-request envelope built from the
 * session's initialize params, turns `input_required` rounds into real
 * server→client requests to the client, and strips the modern-only result
 * fields.
 */
import type { Logger } from 'pino';
import { ErrorCode, errorResponse, type JsonRpcRequest, type JsonRpcResponse } from '../../protocol/jsonrpc.ts';
import type { ClientContext, ExchangeSink } from '../types.ts';
import { missingCapability } from '../bridge/capabilities.ts';
import { initializeFromDiscover } from '../bridge/discover.ts';
import { buildEnvelope, withMeta } from '../bridge/envelope.ts';
import { failureResponse } from '../bridge/failure.ts';
import { isLogLevel } from '../bridge/log-level.ts';
import { decodeModernResult, isInputRequired } from '../bridge/modern-result.ts';
import type { ModernUpstream } from './modern-upstream.ts';

const MAX_ROUNDS = 8;
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export class LegacyOverModern {
  readonly #modern: ModernUpstream;
  readonly #log: Logger;
  readonly #levels = new Map<string, string>();
  readonly #resources = new Map<string, Set<string>>();
  #seq = 0;

  constructor(modern: ModernUpstream, logger: Logger) {
    this.#modern = modern;
    this.#log = logger;
  }

  /** Serves one 2025-era request; never rejects. */
  async handle(ctx: ClientContext, req: JsonRpcRequest, sink: ExchangeSink): Promise<JsonRpcResponse> {
    try {
      return await this.#handle(ctx, req, sink);
    } catch (err) {
      return failureResponse(ctx, req, err, this.#log);
    }
  }

  /** Forgets a session's level and subscriptions. */
  closeSession(sessionId: string): void {
    this.#levels.delete(sessionId);
    let changed = false;
    for (const [uri, keys] of this.#resources) {
      if (keys.delete(sessionId)) changed = true;
      if (!keys.size) this.#resources.delete(uri);
    }
    if (changed) this.#modern.setResources(this.#resources.keys());
  }

  async #handle(ctx: ClientContext, req: JsonRpcRequest, sink: ExchangeSink): Promise<JsonRpcResponse> {
    const session = ctx.session;
    const key = session?.id ?? `principal:${ctx.principal.id}`;
    switch (req.method) {
      case 'initialize': {
        await this.#modern.probe();
        const init = initializeFromDiscover(this.#modern.discover ?? {}, req.params?.protocolVersion, { name: 'upstream', version: '0' });
        return { jsonrpc: '2.0', id: req.id, result: { ...init } };
      }
      case 'ping':
        return { jsonrpc: '2.0', id: req.id, result: {} };
      case 'logging/setLevel': {
        const level = req.params?.level;
        if (!isLogLevel(level)) return errorResponse(req.id, ErrorCode.InvalidParams, 'level must be one of debug, info, notice, warning, error, critical, alert, emergency');
        this.#levels.set(key, level);
        return { jsonrpc: '2.0', id: req.id, result: {} };
      }
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const uri = req.params?.uri;
        if (typeof uri !== 'string' || !uri) return errorResponse(req.id, ErrorCode.InvalidParams, 'uri is required');
        const keys = this.#resources.get(uri) ?? new Set<string>();
        if (req.method === 'resources/subscribe') keys.add(key);
        else keys.delete(key);
        if (keys.size) this.#resources.set(uri, keys);
        else this.#resources.delete(uri);
        this.#modern.setResources(this.#resources.keys());
        return { jsonrpc: '2.0', id: req.id, result: {} };
      }
    }
    const caps = session?.initialize.capabilities ?? {};
    const envelope = buildEnvelope({
      clientInfo: session?.initialize.clientInfo ?? { name: 'unknown', version: '0' },
      clientCapabilities: caps,
      ...(this.#levels.has(key) ? { logLevel: this.#levels.get(key)! } : {}),
    });
    const base = withMeta(req.params, envelope);
    let params: Record<string, unknown> = base;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const reply = await this.#modern.forward({ jsonrpc: '2.0', id: req.id, method: req.method, params }, (n) => sink.notification(n), ctx.signal);
      if ('error' in reply) return { jsonrpc: '2.0', id: req.id, error: reply.error };
      const result = reply.result;
      if (!isInputRequired(result)) return { jsonrpc: '2.0', id: req.id, result: decodeModernResult(result) };
      const inputs = isObj(result.inputRequests) ? result.inputRequests : {};
      const inputResponses: Record<string, unknown> = {};
      for (const [k, entry] of Object.entries(inputs)) {
        if (!isObj(entry) || typeof entry.method !== 'string') continue;
        const p = isObj(entry.params) ? entry.params : undefined;
        const missing = missingCapability(entry.method, p, caps);
        if (missing) return errorResponse(req.id, ErrorCode.InvalidRequest, `the server needs ${entry.method}, but the client did not declare the ${missing} capability`);
        let answer: JsonRpcResponse;
        try {
          const id = `berth-input-${++this.#seq}`;
          answer = await sink.request(p === undefined ? { jsonrpc: '2.0', id, method: entry.method } : { jsonrpc: '2.0', id, method: entry.method, params: p });
        } catch (err) {
          return errorResponse(req.id, ErrorCode.InternalError, `the server's ${entry.method} request could not be relayed to the client: ${(err as Error).message}`);
        }
        if ('error' in answer) return errorResponse(req.id, answer.error.code, `the client refused the server's ${entry.method} request: ${answer.error.message}`);
        inputResponses[k] = answer.result;
      }
      params = { ...base, inputResponses };
      if (typeof result.requestState === 'string') params.requestState = result.requestState;
    }
    return errorResponse(req.id, ErrorCode.InternalError, `the server asked for client input more than ${MAX_ROUNDS} times`);
  }
}

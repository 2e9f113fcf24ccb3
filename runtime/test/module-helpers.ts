/** Shared fixtures for the module-backend tests: contexts, sinks, envelopes. */
import { pino } from 'pino';
import type { ClientContext, ExchangeSink, InitializeParams, Principal } from '../src/backend/types.ts';
import type { JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../src/protocol/jsonrpc.ts';

export const silent = pino({ level: 'silent' });

export const anonymous: Principal = { id: 'anonymous', kind: 'anonymous', scopes: [] };

export function legacyCtx(sessionId: string | undefined, initialize?: InitializeParams, signal = new AbortController().signal): ClientContext {
  const ctx: ClientContext = { era: 'legacy', protocolVersion: initialize?.protocolVersion ?? '2025-11-25', principal: anonymous, tenant: 'test/module', signal };
  if (sessionId && initialize) ctx.session = { id: sessionId, initialize };
  return ctx;
}

export function modernCtx(signal = new AbortController().signal): ClientContext {
  return { era: 'modern', protocolVersion: '2026-07-28', principal: anonymous, tenant: 'test/module', signal };
}

export function init(capabilities: Record<string, unknown> = {}, name = 'test-client'): InitializeParams {
  return { protocolVersion: '2025-11-25', capabilities, clientInfo: { name, version: '1.0.0' } };
}

export function envelope(capabilities: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': capabilities,
    'io.modelcontextprotocol/clientInfo': { name: 'modern-client', version: '1.0.0' },
  };
}

export function req(id: string | number, method: string, params?: Record<string, unknown>): JsonRpcRequest {
  return params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params };
}

export function call(id: string | number, name: string, args: Record<string, unknown> = {}, meta?: Record<string, unknown>): JsonRpcRequest {
  const params: Record<string, unknown> = { name, arguments: args };
  if (meta) params._meta = meta;
  return req(id, 'tools/call', params);
}

/** A sink recording what the backend routed to one exchange. */
export interface RecordingSink extends ExchangeSink {
  notifications: JsonRpcNotification[];
  requests: JsonRpcRequest[];
}

export function recordingSink(answer?: (request: JsonRpcRequest) => Record<string, unknown> | Error): RecordingSink {
  const notifications: JsonRpcNotification[] = [];
  const requests: JsonRpcRequest[] = [];
  return {
    notifications,
    requests,
    notification: (m) => void notifications.push(m),
    request: async (m): Promise<JsonRpcResponse> => {
      requests.push(m);
      const out = answer?.(m);
      if (out === undefined || out instanceof Error) throw out ?? new Error('this client cannot answer server requests');
      return { jsonrpc: '2.0', id: m.id, result: out };
    },
  };
}

/** Text of the first content block of a tools/call response. */
export function textOf(response: JsonRpcResponse): string {
  if (!('result' in response)) throw new Error(`expected a result, got error ${JSON.stringify(response.error)}`);
  const content = response.result.content as Array<{ type: string; text?: string }> | undefined;
  return content?.[0]?.text ?? '';
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

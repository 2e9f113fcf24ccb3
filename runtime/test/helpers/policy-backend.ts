/**
 * A scripted in-process Backend for policy tests: a mutable tool list (served
 * in backend-sized pages), canned results per tool, resources and prompts,
 * and a log of every request the policy forwarded.
 */
import type { Backend, ClientContext, Principal, ServerChangeEvent } from '../../src/backend/types.ts';
import { ErrorCode, errorResponse, type JsonRpcRequest, type JsonRpcResponse } from '../../src/protocol/jsonrpc.ts';
import { parseRuntimeConfig, type RuntimeConfig, type RuntimeConfigInput } from '../../src/config/runtime-config.ts';
import type { ToolDef } from '../../src/policy/audit/types.ts';

type Obj = Record<string, unknown>;

export interface ScriptedBackend extends Backend {
  tools: ToolDef[];
  /** Result (or result builder) per tool name; default echoes the arguments as text. */
  results: Record<string, Obj | ((args: Obj) => Obj)>;
  resources: Record<string, Obj>;
  prompts: Record<string, Obj>;
  requests: JsonRpcRequest[];
  /** Page size of the backend's own tools/list pagination (default: no pagination). */
  pageSize?: number;
  /** Replaces the tools and emits tools_list_changed (silently with `quiet`). */
  setTools(tools: ToolDef[], quiet?: boolean): void;
  count(method: string, name?: string): number;
}

/** Creates the backend. */
export function scriptedBackend(tools: ToolDef[]): ScriptedBackend {
  const listeners = new Set<(e: ServerChangeEvent) => void>();
  const b: ScriptedBackend = {
    kind: 'module',
    tools,
    results: {},
    resources: {},
    prompts: {},
    requests: [],
    async start() {},
    health: () => ({ ready: true }),
    setTools(next, quiet = false) {
      b.tools = next;
      if (!quiet) for (const l of listeners) l({ kind: 'tools_list_changed' });
    },
    count: (method, name) => b.requests.filter((r) => r.method === method && (name === undefined || r.params?.['name'] === name)).length,
    async handle(ctx: ClientContext, req: JsonRpcRequest): Promise<JsonRpcResponse> {
      if (b.requests.length < 10_000) b.requests.push(req);
      const ok = (result: Obj): JsonRpcResponse => ({ jsonrpc: '2.0', id: req.id, result: ctx.era === 'modern' ? { resultType: 'complete', ...result } : result });
      const p = req.params ?? {};
      switch (req.method) {
        case 'tools/list': {
          if (!b.pageSize) return ok({ tools: b.tools, ttlMs: 0 });
          const offset = p['cursor'] === undefined ? 0 : Number(p['cursor']);
          const page = b.tools.slice(offset, offset + b.pageSize);
          const next = offset + b.pageSize < b.tools.length ? { nextCursor: String(offset + b.pageSize) } : {};
          return ok({ tools: page, ...next });
        }
        case 'tools/call': {
          const name = String(p['name']);
          const args = (p['arguments'] ?? {}) as Obj;
          const r = b.results[name];
          if (typeof r === 'function') return ok(r(args));
          return ok(r ?? { content: [{ type: 'text', text: JSON.stringify(args) }] });
        }
        case 'resources/read': {
          const r = b.resources[String(p['uri'])];
          return r ? ok(r) : errorResponse(req.id, -32002, 'Resource not found');
        }
        case 'prompts/get': {
          const r = b.prompts[String(p['name'])];
          return r ? ok(r) : errorResponse(req.id, ErrorCode.InvalidParams, 'Unknown prompt');
        }
        default:
          return errorResponse(req.id, ErrorCode.MethodNotFound, `Method not found: ${req.method}`);
      }
    },
    async notify() {},
    async closeSession() {},
    onChange(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    async close() {},
  };
  return b;
}

export const ANON: Principal = { id: 'anonymous', kind: 'anonymous', scopes: [] };

/** A client context for one exchange. */
export function ctxFor(principal: Principal = ANON, era: 'modern' | 'legacy' = 'modern'): ClientContext {
  return { era, protocolVersion: era === 'modern' ? '2026-07-28' : '2025-11-25', principal, tenant: 'team-a/files', signal: new AbortController().signal };
}

let seq = 0;
/** A JSON-RPC request. */
export const rpc = (method: string, params?: Obj): JsonRpcRequest => ({ jsonrpc: '2.0', id: ++seq, method, ...(params ? { params } : {}) });

export const SINK = { notification() {}, request: async (m: JsonRpcRequest): Promise<JsonRpcResponse> => errorResponse(m.id, ErrorCode.MethodNotFound, 'no client') };

/** A runtime config with the given spec sections (source and auth defaulted). */
export function policyConfig(spec: Obj = {}): RuntimeConfig {
  return parseRuntimeConfig({
    apiVersion: 'berth.dev/v1alpha1',
    kind: 'RuntimeConfig',
    tenant: { namespace: 'team-a', name: 'files' },
    spec: { source: { module: { path: '/srv/server.js' } }, auth: { none: {} }, ...spec },
  } as RuntimeConfigInput);
}

/** The result object of a response, failing when it is an error. */
export function resultOf(res: JsonRpcResponse): Obj {
  if ('error' in res) throw new Error(`expected a result, got error ${res.error.code}: ${res.error.message}`);
  return res.result;
}

/** The error of a response, failing when it is a result. */
export function errorOf(res: JsonRpcResponse): { code: number; message: string } {
  if (!('error' in res)) throw new Error(`expected an error, got ${JSON.stringify(res.result)}`);
  return res.error;
}

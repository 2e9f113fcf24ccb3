/**
 * A small in-process Backend for HTTP-layer tests: deterministic tools
 * (echo, progress, slow, hang, elicit, fail) in both eras, change events on
 * demand, and a record of what the HTTP layer asked of it.
 */
import type { Backend, BackendHealth, ClientContext, ExchangeSink, ServerChangeEvent } from '../../src/backend/types.ts';
import { ErrorCode, errorResponse, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse } from '../../src/protocol/jsonrpc.ts';

export interface EchoBackend extends Backend {
  health(): BackendHealth;
  ready: boolean;
  /** Emits a change event as the backend would. */
  emit(event: ServerChangeEvent): void;
  readonly handled: Array<{ method: string; era: string; session?: string; principal: string }>;
  readonly notified: JsonRpcNotification[];
  readonly closedSessions: string[];
  /** Signals of exchanges that were aborted, with their reason. */
  readonly aborted: Array<{ method: string; reason: string }>;
  closedWith: number | undefined;
  /** Resolves the `gate` tool calls waiting on `name`. */
  open(name: string): void;
}

const SERVER_INFO = { name: 'echo-backend', version: '1.0.0' };
const CAPABILITIES = { tools: { listChanged: true }, resources: { subscribe: true, listChanged: true }, prompts: { listChanged: true }, logging: {} };
const TOOLS = ['echo', 'progress', 'slow', 'hang', 'gate', 'elicit', 'fail', 'big'].map((name) => ({
  name,
  description: `The ${name} tool.`,
  inputSchema: { type: 'object' },
}));

const text = (t: string) => ({ content: [{ type: 'text', text: t }] });
const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** Creates the test backend. */
export function createEchoBackend(): EchoBackend {
  const listeners = new Set<(event: ServerChangeEvent) => void>();
  const gates = new Map<string, Array<() => void>>();
  const backend: EchoBackend = {
    kind: 'module',
    ready: true,
    handled: [],
    notified: [],
    closedSessions: [],
    aborted: [],
    closedWith: undefined,
    async start() {},
    health() {
      return backend.ready ? { ready: true } : { ready: false, reason: 'test says no' };
    },
    emit(event) {
      for (const l of listeners) l(event);
    },
    open(name) {
      for (const release of gates.get(name) ?? []) release();
      gates.delete(name);
    },
    async handle(ctx: ClientContext, request: JsonRpcRequest, sink: ExchangeSink): Promise<JsonRpcResponse> {
      backend.handled.push({ method: request.method, era: ctx.era, ...(ctx.session && { session: ctx.session.id }), principal: ctx.principal.id });
      ctx.signal.addEventListener('abort', () => backend.aborted.push({ method: request.method, reason: String((ctx.signal.reason as Error)?.message ?? ctx.signal.reason) }), { once: true });
      const modern = ctx.era === 'modern';
      const ok = (result: Record<string, unknown>): JsonRpcResponse => ({ jsonrpc: '2.0', id: request.id, result: modern ? { resultType: 'complete', ...result } : result });
      const params = request.params ?? {};
      switch (request.method) {
        case 'initialize': {
          const requested = String(params.protocolVersion);
          const version = ['2025-11-25', '2025-06-18', '2025-03-26'].includes(requested) ? requested : '2025-11-25';
          return ok({ protocolVersion: version, capabilities: CAPABILITIES, serverInfo: SERVER_INFO });
        }
        case 'server/discover':
          return ok({ supportedVersions: ['2026-07-28'], capabilities: CAPABILITIES, _meta: { 'io.modelcontextprotocol/serverInfo': SERVER_INFO } });
        case 'ping':
        case 'resources/subscribe':
        case 'resources/unsubscribe':
        case 'logging/setLevel':
          return ok({});
        case 'tools/list':
          return ok({ tools: TOOLS, ...(modern && { ttlMs: 0, cacheScope: 'private' }) });
        case 'tools/call':
          return ok(await callTool(ctx, request, sink));
        default:
          return errorResponse(request.id, ErrorCode.MethodNotFound, `Method not found: ${request.method}`);
      }
    },
    async notify(_ctx, notification) {
      backend.notified.push(notification);
    },
    async closeSession(sessionId) {
      backend.closedSessions.push(sessionId);
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close(deadline) {
      backend.closedWith = deadline;
    },
  };

  async function callTool(ctx: ClientContext, request: JsonRpcRequest, sink: ExchangeSink): Promise<Record<string, unknown>> {
    const params = request.params ?? {};
    const args = (params.arguments ?? {}) as Record<string, unknown>;
    const token = (params._meta as { progressToken?: unknown } | undefined)?.progressToken;
    switch (params.name) {
      case 'echo':
        return text(String(args.text ?? ''));
      case 'big':
        return text('x'.repeat(Number(args.bytes ?? 1000)));
      case 'progress': {
        const steps = Number(args.steps ?? 3);
        for (let i = 1; i <= steps; i++) {
          if (token !== undefined) sink.notification({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token as string, progress: i, total: steps } });
          sink.notification({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: `step ${i}` } });
          await sleep(Number(args.delayMs ?? 5), ctx.signal);
        }
        return text(`done ${steps}`);
      }
      case 'slow':
        await sleep(Number(args.ms ?? 100), ctx.signal);
        return text(ctx.signal.aborted ? 'aborted' : 'slow done');
      case 'hang':
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        return text('hang aborted');
      case 'gate': {
        const name = String(args.name ?? 'default');
        await new Promise<void>((resolve) => {
          const list = gates.get(name) ?? [];
          list.push(resolve);
          gates.set(name, list);
        });
        return text(`gate ${name} opened`);
      }
      case 'elicit': {
        let response: JsonRpcResponse;
        try {
          response = await sink.request({
          jsonrpc: '2.0',
          id: 7,
          method: 'elicitation/create',
          params: { message: 'Your name?', requestedSchema: { type: 'object', properties: { name: { type: 'string' } } } },
          });
        } catch (error) {
          return { ...text(`elicitation unavailable: ${(error as Error).message}`), isError: true };
        }
        if ('error' in response) return { ...text(`elicitation failed: ${response.error.message}`), isError: true };
        return text(`hello ${JSON.stringify(response.result)}`);
      }
      case 'fail':
        return { ...text('it failed'), isError: true };
      default:
        return { ...text(`unknown tool ${String(params.name)}`), isError: true };
    }
  }

  return backend;
}

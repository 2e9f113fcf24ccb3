/**
 * The policy decorator: one wrapper, applied identically to every backend
 * kind, that enforces spec.tools (allow/deny, overrides, audit, pinning,
 * annotation policy, destructive gating), per-tool scopes and rate limits,
 * and spec.output (schema check, minify, sanitize, redact, budget,
 * spotlight) at the JSON-RPC message level.
 */
import type { Logger } from 'pino';
import type { Registry } from '../observability/prometheus.ts';
import type { Backend, ClientContext, ExchangeSink, Principal } from '../backend/types.ts';
import type { RuntimeConfig } from '../config/runtime-config.ts';
import { ErrorCode, errorResponse, type JsonRpcError, type JsonRpcRequest, type JsonRpcResponse } from '../protocol/jsonrpc.ts';
import type { Authenticator, RequestLimiter } from '../security/types.ts';
import type { ToolDef } from './audit/types.ts';
import { policyMetrics } from './metrics.ts';
import { outputChecksReady } from './output/output-schema.ts';
import { processPromptResult, processResourceResult, processToolResult, type OutputOptions, type OutputReport } from './output/pipeline.ts';
import { decodeCursor, encodeCursor, namesDigest, pageOf } from './pagination.ts';
import { PinStore } from './pins.ts';
import { buildReport, type AuditReport } from './report.ts';
import { evaluateTools, isServed, type ToolStatus } from './tool-policy.ts';

export type { AuditReport } from './report.ts';

export interface PolicyDeps {
  authenticator?: Authenticator;
  limiter?: RequestLimiter;
  logger: Logger;
  registry?: Registry;
  /** A call older than this after the last listing triggers a background re-list (default 60 s). */
  listingMaxAgeMs?: number;
}

export type PolicyBackend = Backend & {
  /** The latest audit (findings, digests, listing size). */
  auditReport(): AuditReport;
  /** Lists the backend now (as an internal caller) and returns the fresh report. */
  refreshAudit(): Promise<AuditReport>;
};

const SYSTEM_PRINCIPAL: Principal = Object.freeze({ id: 'system:policy', kind: 'anonymous', scopes: Object.freeze([]) as readonly string[] });
const DROP_SINK: ExchangeSink = {
  notification: () => {},
  request: async (m) => errorResponse(m.id, ErrorCode.MethodNotFound, 'no client attached to an internal listing'),
};
const MAX_PAGES = 100;

interface Evaluation {
  statuses: ToolStatus[];
  byName: Map<string, ToolStatus>;
  served: ToolDef[];
  at: Date;
  stale: boolean;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const ok = (id: JsonRpcRequest['id'], result: Obj): JsonRpcResponse => ({ jsonrpc: '2.0', id, result });

/** Wraps `backend` with the McpServer's tool and output policy. */
export function withPolicy(backend: Backend, config: RuntimeConfig, deps: PolicyDeps): PolicyBackend {
  const spec = config.spec;
  const tenant = `${config.tenant.namespace}/${config.tenant.name}`;
  const log = deps.logger.child({ component: 'policy' });
  const metrics = policyMetrics(deps.registry);
  const pins = new PinStore();
  const toolScopes = spec.auth.oauth?.toolScopes ?? {};
  const maxAge = deps.listingMaxAgeMs ?? 60_000;
  const output: OutputOptions = { maxBytes: spec.output.maxBytes, sanitize: spec.output.sanitize, spotlight: spec.output.spotlight, redactSecrets: spec.output.redactSecrets };
  const policySummary = { onFinding: spec.tools.audit.onFinding, pin: spec.tools.audit.pin, maxDescriptionWords: spec.tools.audit.maxDescriptionWords };
  const seenFindings = new Set<string>();
  let current: Evaluation | undefined;
  let refreshing: Promise<Evaluation | JsonRpcError> | undefined;

  // A change announced by the backend makes the next call re-list before deciding.
  const stopWatching = backend.onChange((event) => {
    if (event.kind === 'tools_list_changed' && current) current.stale = true;
  });

  const mayUse = (p: Principal, tool: string): boolean => (deps.authenticator ? deps.authenticator.mayUseTool(p, tool) : true);

  /** Fetches every page of the backend's listing. */
  async function fetchTools(ctx: ClientContext, req: JsonRpcRequest, sink: ExchangeSink): Promise<{ tools: ToolDef[]; extra: Obj } | JsonRpcError> {
    const tools: ToolDef[] = [];
    let extra: Obj = {};
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const params: Obj = { ...(req.params ?? {}) };
      delete params['cursor'];
      if (cursor) params['cursor'] = cursor;
      const res = await backend.handle(ctx, { jsonrpc: '2.0', id: req.id, method: 'tools/list', params }, sink);
      if ('error' in res) return res as JsonRpcError;
      const list = res.result['tools'];
      if (!Array.isArray(list)) return errorResponse(req.id, ErrorCode.InternalError, 'backend tools/list returned no tools array');
      for (const t of list) if (isObj(t) && typeof t['name'] === 'string') tools.push(t as ToolDef);
      if (page === 0) {
        const { tools: _t, nextCursor: _n, ...rest } = res.result;
        extra = rest;
      }
      cursor = typeof res.result['nextCursor'] === 'string' && res.result['nextCursor'] ? (res.result['nextCursor'] as string) : undefined;
      if (!cursor) break;
    }
    return { tools, extra };
  }

  function evaluate(tools: ToolDef[]): Evaluation {
    const statuses = evaluateTools(tools, { tools: spec.tools, toolScopes, sanitize: spec.output.sanitize }, pins);
    for (const s of statuses) {
      for (const f of s.findings) {
        const key = `${f.rule}\u0000${f.tool}\u0000${f.field}\u0000${f.message}`;
        if (seenFindings.has(key)) continue;
        seenFindings.add(key);
        if (seenFindings.size > 10_000) seenFindings.clear();
        metrics.finding(f.rule, f.tool);
        log.warn({ tool: f.tool, rule: f.rule, field: f.field, severity: f.severity, excerpt: f.excerpt, state: s.state }, `Tool audit finding: ${f.message}`);
      }
    }
    const byName = new Map<string, ToolStatus>();
    for (const s of statuses) if (!byName.has(s.name)) byName.set(s.name, s);
    const served = statuses.filter((s) => isServed(s.state)).map((s) => s.tool);
    current = { statuses, byName, served, at: new Date(), stale: false };
    return current;
  }

  /** Re-lists the backend (shared by concurrent callers) and evaluates it. */
  function refresh(ctx: ClientContext, req: JsonRpcRequest, sink: ExchangeSink): Promise<Evaluation | JsonRpcError> {
    if (!refreshing) {
      refreshing = fetchTools(ctx, { ...req, method: 'tools/list', params: isObj(req.params?.['_meta']) ? { _meta: req.params['_meta'] } : {} }, sink)
        .then((r) => ('tools' in r ? evaluate(r.tools) : r))
        .finally(() => {
          refreshing = undefined;
        });
    }
    return refreshing;
  }

  function systemContext(): ClientContext {
    return { era: 'modern', protocolVersion: '2026-07-28', principal: SYSTEM_PRINCIPAL, tenant, signal: AbortSignal.timeout(30_000) };
  }

  async function handleList(ctx: ClientContext, req: JsonRpcRequest, sink: ExchangeSink): Promise<JsonRpcResponse> {
    const fetched = await fetchTools(ctx, req, sink);
    if (!('tools' in fetched)) return fetched;
    const ev = evaluate(fetched.tools);
    const visible = ev.served.filter((t) => mayUse(ctx.principal, t.name));
    const digest = namesDigest(visible.map((t) => t.name));
    let offset = 0;
    if (req.params?.['cursor'] !== undefined) {
      const c = decodeCursor(req.params['cursor'], digest, visible.length);
      if ('error' in c) return errorResponse(req.id, ErrorCode.InvalidParams, c.error);
      offset = c.offset;
    }
    const { page, next } = pageOf(visible, offset, output.maxBytes);
    const result: Obj = { ...fetched.extra, tools: page };
    if (next !== undefined) result['nextCursor'] = encodeCursor(next, digest);
    return ok(req.id, result);
  }

  function refuse(req: JsonRpcRequest, reason: string, code: number, message: string): JsonRpcResponse {
    metrics.refusal(reason);
    log.info({ tool: req.params?.['name'], reason }, 'Refused tool call');
    return errorResponse(req.id, code, message);
  }

  function noteOutput(report: OutputReport, tool: string): void {
    if (report.redacted.length) metrics.output('redacted');
    if (report.flagged.length) metrics.output('flagged');
    if (report.truncatedBytes) metrics.output('truncated');
    if (report.schemaError) metrics.output('schema_error');
    if (report.redacted.length || report.flagged.length || report.truncatedBytes || report.schemaError) {
      log.info({ tool, redacted: report.redacted, flagged: report.flagged, truncatedBytes: report.truncatedBytes, schemaError: report.schemaError }, 'Rewrote tool output');
    }
  }

  async function handleCall(ctx: ClientContext, req: JsonRpcRequest, sink: ExchangeSink): Promise<JsonRpcResponse> {
    const name = req.params?.['name'];
    if (typeof name !== 'string' || !name) return errorResponse(req.id, ErrorCode.InvalidParams, 'tools/call needs params.name');
    let ev = current;
    const age = ev ? Date.now() - ev.at.getTime() : Infinity;
    // Announced changes and unknown names (the tool may be new; at most every 2 s) re-list before deciding.
    if (!ev || ev.stale || (!ev.byName.has(name) && age > 2_000)) {
      const r = await refresh(ctx, req, sink);
      if (!('statuses' in r)) return errorResponse(req.id, ErrorCode.InternalError, `cannot check tool "${name}" against policy: ${r.error.message}`);
      ev = r;
    } else if (age > maxAge && !refreshing) {
      // An old listing is re-checked in the background (silent rug pulls), without delaying this call.
      void refresh(systemContext(), { jsonrpc: '2.0', id: 'berth-policy-recheck', method: 'tools/list' }, DROP_SINK).catch(() => {});
    }
    const status = ev.byName.get(name);
    if (!status || status.state === 'denied') return refuse(req, 'unknown', ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    if (status.state === 'blocked') {
      const rules = [...new Set(status.findings.filter((f) => f.severity === 'high').map((f) => f.rule))].join(', ');
      return refuse(req, 'audit', ErrorCode.Forbidden, `tool "${name}" is blocked by the tool audit (${rules})`);
    }
    if (status.state === 'gated') {
      return refuse(req, 'destructive', ErrorCode.Forbidden, `tool "${name}" is destructive and needs an explicit allow or toolScopes entry (spec.tools.requireExplicitDestructive)`);
    }
    if (!mayUse(ctx.principal, name)) return refuse(req, 'scope', ErrorCode.Forbidden, `insufficient scope for tool "${name}"`);
    if (deps.limiter) {
      const d = await deps.limiter.checkTool(ctx.principal, name);
      if (!d.ok) {
        metrics.refusal('rate_limit');
        metrics.rateLimited(d.scope);
        return ok(req.id, {
          content: [{ type: 'text', text: `Rate limit for tool "${name}" exceeded; retry after ${d.retryAfterSeconds} s.` }],
          isError: true,
          _meta: { 'dev.berth/retryAfterSeconds': d.retryAfterSeconds },
          ...(ctx.era === 'modern' ? { resultType: 'complete' } : {}),
        });
      }
    }
    const res = await backend.handle(ctx, req, sink);
    if (!('result' in res)) return res;
    if (status.tool?.outputSchema !== undefined) await outputChecksReady();
    const { result, report } = processToolResult(res.result, status.tool, output);
    noteOutput(report, name);
    return { ...res, result };
  }

  return {
    get kind() {
      return backend.kind;
    },
    get sessionAffinity() {
      return backend.sessionAffinity;
    },
    async start(): Promise<void> {
      await backend.start();
      // Audit and pin at start-up, so the report and metrics exist before the first client lists.
      const r = await refresh(systemContext(), { jsonrpc: '2.0', id: 'berth-policy-start', method: 'tools/list' }, DROP_SINK).catch((err: unknown) => err as Error);
      if (r instanceof Error || !('statuses' in r)) log.warn({ err: r instanceof Error ? r.message : r.error.message }, 'Initial tool audit failed; retried on the first listing');
    },
    health: () => backend.health(),
    async handle(ctx: ClientContext, req: JsonRpcRequest, sink: ExchangeSink): Promise<JsonRpcResponse> {
      switch (req.method) {
        case 'tools/list':
          return handleList(ctx, req, sink);
        case 'tools/call':
          return handleCall(ctx, req, sink);
        case 'resources/read': {
          const res = await backend.handle(ctx, req, sink);
          if (!('result' in res)) return res;
          const { result, report } = processResourceResult(res.result, output);
          noteOutput(report, `resource:${String(req.params?.['uri'] ?? '')}`);
          return { ...res, result };
        }
        case 'prompts/get': {
          const res = await backend.handle(ctx, req, sink);
          if (!('result' in res)) return res;
          const { result, report } = processPromptResult(res.result, output);
          noteOutput(report, `prompt:${String(req.params?.['name'] ?? '')}`);
          return { ...res, result };
        }
        default:
          return backend.handle(ctx, req, sink);
      }
    },
    notify: (ctx, n) => backend.notify(ctx, n),
    closeSession: (id) => backend.closeSession(id),
    onChange: (listener) => backend.onChange(listener),
    async close(deadline) {
      stopWatching();
      await backend.close(deadline);
    },
    auditReport: () => buildReport(current?.statuses, current?.at, policySummary, current?.served ?? []),
    async refreshAudit(): Promise<AuditReport> {
      const r = await refresh(systemContext(), { jsonrpc: '2.0', id: 'berth-policy-audit', method: 'tools/list' }, DROP_SINK);
      if (!('statuses' in r)) throw new Error(`tools/list failed: ${r.error.message}`);
      return buildReport(r.statuses, r.at, policySummary, r.served);
    },
  };
}

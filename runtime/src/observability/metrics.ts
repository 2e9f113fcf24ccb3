/**
 * Prometheus metrics (on the small registry in prometheus.ts). Two registries:
 *
 * - one per app (`createAppMetrics`): the HTTP layer's metrics, so tests can
 *   build several apps in one process without name clashes;
 * - one per process (`sharedMetrics`): metrics any component increments
 *   without a handle on the app (policy, auth, limiter, backends), plus the
 *   Node.js process metrics.
 *
 * `/metrics` renders both. Every name starts with `berth_`.
 *
 * App metrics:
 * - `berth_tool_call_duration_seconds{tool,outcome}` histogram
 * - `berth_tool_result_bytes{tool}` histogram of serialized tool results
 * - `berth_errors_total{category}` counter (see `ErrorCategory`)
 * - `berth_requests_total{era,kind}` counter of MCP requests by era and JSON-RPC kind
 * - `berth_sessions_active` gauge: legacy sessions this replica serves
 * - `berth_inflight_requests` gauge: exchanges awaiting a backend answer
 * - `berth_sse_streams_open{kind}` gauge: `post`, `get`, `listen`
 * - `berth_draining` gauge: 1 while draining or stopped
 *
 * Shared metrics (import `sharedMetrics`):
 * - `berth_audit_findings_total{tool,finding}` tool description audit findings
 * - `berth_rate_limited_total{scope}` requests or tool calls refused by a limit
 * - `berth_auth_failures_total{reason}` refused authentications
 * - `berth_backend_events_total{backend,event}` backend lifecycle events (spawn, exit, restart, upstream_error)
 * - `berth_output_sanitized_total{action}` output policy actions (strip, redact, truncate)
 * - `berth_process_*`, `berth_nodejs_*`: prom-client's default process metrics,
 *   all but the GC histogram (see process-metrics.ts)
 * Components needing more call `sharedMetrics.counter/gauge/histogram(name, ...)`,
 * which return the existing metric when the name is already registered.
 */
import { Counter, Gauge, Histogram, Registry } from './prometheus.ts';
import { collectProcessMetrics } from './process-metrics.ts';

/** What went wrong, for `berth_errors_total`. */
export type ErrorCategory =
  | 'bad_request' // malformed HTTP / JSON / JSON-RPC, wrong headers
  | 'forbidden_origin' // Host / Origin refused
  | 'auth' // 401 / 403 from the authenticator
  | 'rate_limited' // 429
  | 'session' // unknown / foreign / expired session
  | 'unavailable' // draining, session limit
  | 'protocol' // JSON-RPC error responses from the backend
  | 'tool_error' // tool results with isError: true
  | 'timeout' // tool call or request timeouts
  | 'cancelled' // client-cancelled exchanges
  | 'internal'; // bugs and unexpected failures

export const METRIC_PREFIX = 'berth_';

/** Labels beyond this many distinct tools collapse into `_other` (cardinality guard). */
const MAX_TOOL_LABELS = 256;

export interface AppMetricSources {
  sessions(): number;
  inflight(): number;
  streams(): { post: number; get: number; listen: number };
  draining(): boolean;
  /** Session reads served from the Redis client-tracking cache right now. */
  trackedSessionCache(): boolean;
}

export interface AppMetrics {
  readonly registry: Registry;
  readonly toolCallDuration: Histogram<'tool' | 'outcome'>;
  readonly toolResultBytes: Histogram<'tool'>;
  readonly errors: Counter<'category'>;
  readonly requests: Counter<'era' | 'kind'>;
  /** Maps a client-supplied tool name to a bounded label value. */
  toolLabel(name: string): string;
  /** Connects the gauges to live values (read at scrape time). */
  bind(sources: AppMetricSources): void;
  /** Prometheus text of this app's and the shared registry. */
  render(): Promise<string>;
  readonly contentType: string;
}

/** Creates the metrics of one app on a fresh registry. */
export function createAppMetrics(): AppMetrics {
  const registry = new Registry();
  const registers = [registry];
  let sources: AppMetricSources | undefined;
  const known = new Set<string>();

  const toolCallDuration = new Histogram({
    name: 'berth_tool_call_duration_seconds',
    help: 'Latency of tools/call exchanges, by tool and outcome (ok, tool_error, error, timeout, cancelled).',
    labelNames: ['tool', 'outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const toolResultBytes = new Histogram({
    name: 'berth_tool_result_bytes',
    help: 'Size of serialized tools/call results returned to clients.',
    labelNames: ['tool'] as const,
    buckets: [128, 512, 2048, 8192, 32768, 65536, 262144, 1048576, 4194304],
    registers,
  });
  const errors = new Counter({
    name: 'berth_errors_total',
    help: 'Errors by category.',
    labelNames: ['category'] as const,
    registers,
  });
  const requests = new Counter({
    name: 'berth_requests_total',
    help: 'MCP requests by protocol era and JSON-RPC kind.',
    labelNames: ['era', 'kind'] as const,
    registers,
  });
  new Gauge({
    name: 'berth_sessions_active',
    help: 'Legacy (2025-era) sessions served by this replica.',
    registers,
    collect() {
      this.set(sources?.sessions() ?? 0);
    },
  });
  new Gauge({
    name: 'berth_inflight_requests',
    help: 'Exchanges waiting for a backend answer.',
    registers,
    collect() {
      this.set(sources?.inflight() ?? 0);
    },
  });
  new Gauge({
    name: 'berth_sse_streams_open',
    help: 'Open SSE streams by kind (post, get, listen).',
    labelNames: ['kind'] as const,
    registers,
    collect() {
      const s = sources?.streams() ?? { post: 0, get: 0, listen: 0 };
      this.set({ kind: 'post' }, s.post);
      this.set({ kind: 'get' }, s.get);
      this.set({ kind: 'listen' }, s.listen);
    },
  });
  new Gauge({
    name: 'berth_draining',
    help: '1 while the replica drains or has stopped, else 0.',
    registers,
    collect() {
      this.set(sources?.draining() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'berth_session_cache_tracked',
    help: '1 while legacy session records are read from memory under Redis client tracking, else 0 (in-memory store, Cluster, tracking refused or reconnecting).',
    registers,
    collect() {
      this.set(sources?.trackedSessionCache() ? 1 : 0);
    },
  });
  for (const category of ['bad_request', 'auth', 'rate_limited', 'timeout', 'internal'] as const) errors.inc({ category }, 0);

  return {
    registry,
    toolCallDuration,
    toolResultBytes,
    errors,
    requests,
    contentType: registry.contentType,
    toolLabel(name: string): string {
      if (known.has(name)) return name;
      if (known.size >= MAX_TOOL_LABELS || name.length > 128) return '_other';
      known.add(name);
      return name;
    },
    bind(s: AppMetricSources): void {
      sources = s;
    },
    async render(): Promise<string> {
      const [own, shared] = await Promise.all([registry.metrics(), sharedMetrics.registry.metrics()]);
      return `${own}\n${shared}`;
    },
  };
}

const sharedRegistry = new Registry();
collectProcessMetrics(sharedRegistry, METRIC_PREFIX);

function assertName(name: string): void {
  if (!name.startsWith(METRIC_PREFIX)) throw new Error(`metric ${name} must start with ${METRIC_PREFIX}`);
}

/** Process-wide metrics that any component may increment. */
export const sharedMetrics = {
  registry: sharedRegistry,
  auditFindings: new Counter({
    name: 'berth_audit_findings_total',
    help: 'Tool description audit findings by tool and finding kind.',
    labelNames: ['tool', 'finding'] as const,
    registers: [sharedRegistry],
  }),
  rateLimited: new Counter({
    name: 'berth_rate_limited_total',
    help: 'Requests or tool calls refused by a rate limit, by scope.',
    labelNames: ['scope'] as const,
    registers: [sharedRegistry],
  }),
  authFailures: new Counter({
    name: 'berth_auth_failures_total',
    help: 'Refused authentications by reason.',
    labelNames: ['reason'] as const,
    registers: [sharedRegistry],
  }),
  backendEvents: new Counter({
    name: 'berth_backend_events_total',
    help: 'Backend lifecycle events (spawn, exit, restart, upstream_error) by backend kind.',
    labelNames: ['backend', 'event'] as const,
    registers: [sharedRegistry],
  }),
  outputSanitized: new Counter({
    name: 'berth_output_sanitized_total',
    help: 'Output policy actions by kind (strip, redact, truncate, flag).',
    labelNames: ['action'] as const,
    registers: [sharedRegistry],
  }),
  /** Returns the counter named `name`, creating it on first use. */
  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    assertName(name);
    const existing = sharedRegistry.getSingleMetric(name);
    if (existing) return existing as Counter<L>;
    return new Counter<L>({ name, help, labelNames, registers: [sharedRegistry] });
  },
  /** Returns the gauge named `name`, creating it on first use. */
  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    assertName(name);
    const existing = sharedRegistry.getSingleMetric(name);
    if (existing) return existing as Gauge<L>;
    return new Gauge<L>({ name, help, labelNames, registers: [sharedRegistry] });
  },
  /** Returns the histogram named `name`, creating it on first use. */
  histogram<L extends string>(name: string, help: string, labelNames: readonly L[] = [], buckets?: number[]): Histogram<L> {
    assertName(name);
    const existing = sharedRegistry.getSingleMetric(name);
    if (existing) return existing as Histogram<L>;
    return new Histogram<L>({ name, help, labelNames, registers: [sharedRegistry], ...(buckets && { buckets }) });
  },
};

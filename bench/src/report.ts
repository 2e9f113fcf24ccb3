// Renders benchmark results as a markdown table and an SVG bar chart, with
// ratios to the bare SDK (modern and legacy) and to the fastify ceiling, and
// a table of the aims of TARGETS.md: held or not, with the measured values.
import type { LoadResult } from './load-worker.ts';
import type { OpenLoopResult } from './loadgen.ts';
import type { MachineFacts } from './machine.ts';

export interface RungResult {
  id: string;
  label: string;
  era: string;
  throughput: Record<number, LoadResult>;
  /** Latency at a constant rate (half of the closed-loop peak), from berth-loadgen. */
  openLoop?: OpenLoop;
  rssBytes?: number;
  extra: Record<string, number | string>;
  error?: string;
}

/** GC pause figures of one kind over the open-loop window. */
export interface GcPauses {
  count: number;
  totalMs: number;
  maxMs: number;
  over1ms: number;
  over5ms: number;
}

/** The server's event loop over the open-loop window (server-preload.mjs). */
export interface ServerLoop {
  seconds: number;
  /** How long the event loop was blocked (a 1 ms timer's lateness), ms. */
  loopDelayMs: { p50: number; p99: number; p999: number; max: number; samples: number };
  /** GC pauses by kind (src/gc-trace.ts): minor (scavenges), major (full collections' final pauses), incremental (marking steps). */
  gc: Record<string, GcPauses>;
}

/** An open-loop run as reported: the generator's result plus how it was run. */
export type OpenLoop = OpenLoopResult & {
  rate: number;
  /** 'peak': half of the closed-loop peak; 'cpu': half of 10^6 / CPU µs per call; 'earlier': an earlier report's rate (--rates-from). */
  rateBasis?: 'peak' | 'cpu' | 'earlier';
  /** Server and generator on SCHED_FIFO for this run. */
  realtime?: boolean;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  /** Server CPU µs per call over the open-loop run (every server-side process). */
  serverCpuMicrosPerCall?: number;
  /** Server CPU over the run's wall time: the share of the server core the rate took (1 = all of it). */
  serverCoreShare?: number;
  server?: ServerLoop;
};

/** How the open-loop latency was measured, in one sentence. */
export function openLoopMethod(o: OpenLoop | undefined): string {
  if (!o) return 'not measured';
  const basis = { cpu: "half the server core's capacity (10^6 / CPU µs per call)", earlier: "the rung's rate in an earlier report (half of its peak there)", peak: "half the rung's peak closed-loop calls/s" }[o.rateBasis ?? 'peak'];
  const n = o.windows?.length ?? 1;
  const measured = n > 1 ? `${n} windows of ${o.durationSeconds} s measured back to back, the percentiles being those of the window with the median p99 (every window's p99 is in the open-loop table)` : `${o.durationSeconds} s measured`;
  return `${o.generator ?? 'berth-loadgen'}: a constant rate of ${basis}, ${o.warmupSeconds} s warm-up then ${measured}, at most ${o.connections} connections, the generator pinned to its own core${o.realtime ? ', server and generator on real-time priority (SCHED_FIFO)' : ''}; latency counted from each request's scheduled send time, so queueing behind a stall is counted (coordinated omission corrected); a call counts only as a 2xx containing the expected text`;
}

/** Generator lag above this (ms, p99) means the generator, not the server, set the tail: the figure is not trusted. */
export const LAG_LIMIT_MS = 1;

export interface Report {
  generatedAt: string;
  quick: boolean;
  durationSeconds: number;
  /** Closed-loop rounds per rung (the best run per concurrency kept); absent in reports from before rounds. */
  rounds?: number;
  /** Seconds of unmeasured load at 64 connections before each server's closed loops. */
  closedWarmupSeconds?: number;
  machine: MachineFacts;
  results: RungResult[];
}

const peak = (r: RungResult): number => Math.max(0, ...Object.values(r.throughput).map((t) => t.requestsPerSecond));
/** Lowest server CPU per call across the closed-loop runs (µs). */
export const cpuPerCall = (r: RungResult): number => Math.min(...Object.values(r.throughput).map((t) => t.serverCpuMicrosPerCall ?? Infinity));

const find = (results: RungResult[], id: string): RungResult | undefined => results.find((r) => r.id === id && !r.error);

/** Server-CPU-per-call ratio (reference over rung): how many times cheaper a call is. */
export function cpuRatio(results: RungResult[], id: string, ref: string): number | undefined {
  const a = find(results, id);
  const b = find(results, ref);
  if (!a || !b) return undefined;
  const x = cpuPerCall(a);
  const y = cpuPerCall(b);
  return Number.isFinite(x) && Number.isFinite(y) && x > 0 ? y / x : undefined;
}
const fmt = (n: number | undefined, d = 0): string => (n === undefined || Number.isNaN(n) || !Number.isFinite(n) ? '–' : n.toFixed(d));

/** Peak throughput ratio of a rung to a reference rung. */
export function ratio(results: RungResult[], id: string, ref: string): number | undefined {
  const a = find(results, id);
  const b = find(results, ref);
  if (!a || !b || peak(b) === 0) return undefined;
  return peak(a) / peak(b);
}

/** The reference rung of a rung's ×SDK columns. */
const refOf = (r: RungResult): string => (r.era === 'legacy' ? 'sdk-sessionful' : 'sdk-modern');

interface Aim {
  aim: string;
  measured: string;
  held: boolean | undefined;
}

/**
 * Why the stdio rung is outside the p99 aim, with its figures: its calls wait
 * on the published server it hosts (its own pauses and scheduling), which
 * the runtime's blocked-loop figure separates from the runtime's share.
 */
function stdioTail(r: RungResult | undefined): string {
  const o = r?.openLoop;
  if (!o) return '';
  const blocked = o.server?.loopDelayMs?.p99;
  return ` Not counted: berth-stdio, ${fmt(o.p99, 2)} ms, whose calls wait on the stdio server it hosts${blocked === undefined ? '' : ` (the runtime's own loop was blocked ${fmt(blocked, 2)} ms at p99)`}.`;
}

/**
 * The open loop's CPU per call over that of the closed-loop run with the most
 * calls/s (the run the open-loop rate is half of): the server core's busy
 * share in the open loop is about half this ratio.
 */
export function openOverPeakCpu(r: RungResult): number | undefined {
  const runs = Object.values(r.throughput);
  if (!runs.length || r.openLoop?.serverCpuMicrosPerCall === undefined) return undefined;
  const top = runs.reduce((a, b) => (b.requestsPerSecond > a.requestsPerSecond ? b : a));
  return top.serverCpuMicrosPerCall ? r.openLoop.serverCpuMicrosPerCall / top.serverCpuMicrosPerCall : undefined;
}

/** Closed-loop CPU µs per call at each of `concurrencies` (the table's columns, fewest first): "273 / 103 / 90". */
function closedCpu(r: RungResult, concurrencies: number[]): string {
  return concurrencies.map((c) => fmt(r.throughput[c]?.serverCpuMicrosPerCall)).join(' / ');
}

/** Every measured window's p99, in order: `2.10 / 4.80 / 3.05`. */
function perWindow(o: OpenLoop): string {
  return (o.windows ?? [o]).map((w) => fmt(w.p99, 2)).join(' / ');
}

/** Evaluates the aims of TARGETS.md on a report (undefined = not measured in this run). */
export function aims(report: Report): Aim[] {
  const rs = report.results;
  const out: Aim[] = [];
  const both = (id: string, ref: string, min: number, aim: string): void => {
    const cpu = cpuRatio(rs, id, ref);
    const thr = ratio(rs, id, ref);
    if (cpu === undefined && thr === undefined) return out.push({ aim, measured: 'not measured', held: undefined }), undefined;
    out.push({ aim, measured: `${fmt(cpu, 2)}× by server CPU per call, ${fmt(thr, 2)}× by peak calls/s`, held: (cpu ?? 0) >= min });
  };
  both('berth-modern', 'sdk-modern', 3, 'modern tools/call in-memory ≥ 3× the bare SDK createMcpHandler');
  const f = cpuRatio(rs, 'berth-modern', 'fastify');
  const ft = ratio(rs, 'berth-modern', 'fastify');
  out.push({
    aim: 'modern tools/call in-memory ≥ 15% of the fastify echo',
    measured: f === undefined ? 'not measured' : `${fmt(f * 100, 0)}% by server CPU per call, ${fmt((ft ?? NaN) * 100, 0)}% by peak calls/s`,
    held: f === undefined ? undefined : f >= 0.15,
  });
  both('berth-secure-modern', 'sdk-modern', 2, 'modern tools/call with Redis, OAuth and rate limits ≥ 2× the bare SDK');
  both('berth-redis-legacy', 'sdk-sessionful', 0.8, 'legacy session tools/call with Redis ≥ 0.8× the SDK sessionful transport');
  const berth = rs.filter((r) => r.id.startsWith('berth-') && !r.error && r.openLoop && r.id !== 'berth-stdio');
  if (berth.length) {
    const worst = berth.reduce((a, b) => ((a.openLoop?.p99 ?? 0) >= (b.openLoop?.p99 ?? 0) ? a : b));
    const lagged = berth.filter((r) => (r.openLoop?.lagP99 ?? 0) > LAG_LIMIT_MS);
    const failed = berth.filter((r) => (r.openLoop?.errors ?? 0) > 0);
    const one = (r: RungResult): string => {
      const o = r.openLoop!;
      const busy = o.serverCoreShare === undefined ? '' : `, server core ${fmt(o.serverCoreShare * 100)}% busy`;
      const all = (o.windows?.length ?? 1) > 1 ? ` (windows ${perWindow(o)})` : '';
      return `${r.id} ${fmt(o.p99, 2)} ms${all} at ${fmt(o.rate)}/s${busy}${o.errors ? `, ${o.errors} errors` : ''}`;
    };
    out.push({
      aim: 'p99 at half of peak ≤ 5 ms (every Berth HTTP rung)',
      measured:
        `${berth.map(one).join('; ')}. Measured with ${openLoopMethod(worst.openLoop)}.` +
        (lagged.length ? ` Not trusted for ${lagged.map((r) => `${r.id} (generator lag p99 ${fmt(r.openLoop?.lagP99, 2)} ms)`).join(', ')}: the load core was not free.` : '') +
        stdioTail(rs.find((r) => r.id === 'berth-stdio' && !r.error && r.openLoop)),
      held: lagged.length ? undefined : failed.length === 0 && (worst.openLoop?.p99 ?? Infinity) <= 5,
    });
  }
  const trips = rs.filter((r) => r.era === 'modern' && typeof r.extra.redisRoundTripsPerCall === 'number');
  if (trips.length) {
    out.push({
      aim: '≤ 2 Redis round trips per modern tools/call',
      measured: trips.map((r) => `${r.id} ${fmt(r.extra.redisRoundTripsPerCall as number, 2)}`).join(', '),
      held: trips.every((r) => (r.extra.redisRoundTripsPerCall as number) <= 2.05),
    });
  }
  const idle = rs.filter((r) => typeof r.extra.liveBytesPerIdleSession === 'number');
  if (idle.length) {
    const worst = (r: RungResult): number => Math.max(r.extra.liveBytesPerIdleSession as number, (r.extra.redisBytesPerIdleSession as number | undefined) ?? 0);
    out.push({
      aim: '≤ 50 KB per idle legacy session',
      measured: idle
        .map((r) => `${r.id}: ${fmt((r.extra.liveBytesPerIdleSession as number) / 1024, 1)} KB heap${typeof r.extra.redisBytesPerIdleSession === 'number' ? `, ${fmt((r.extra.redisBytesPerIdleSession as number) / 1024, 1)} KB Redis` : ''}`)
        .join('; '),
      held: idle.every((r) => worst(r) <= 50 * 1024),
    });
  }
  const stdio = find(rs, 'berth-stdio');
  const bridge = ratio(rs, 'berth-stdio', 'supergateway-stdio');
  if (stdio && bridge !== undefined) {
    const peakMB = stdio.extra.runtimeRssPeakMB as number | undefined;
    const idleMB = stdio.extra.runtimeRssIdleMB as number | undefined;
    out.push({
      aim: "stdio backend ≥ 2× supergateway's calls/s with the runtime's RSS ≤ 100 MB under that load",
      measured: `${fmt(bridge, 2)}× by peak calls/s (${fmt(cpuRatio(rs, 'berth-stdio', 'supergateway-stdio'), 2)}× by server CPU per call); runtime process RSS ${fmt(idleMB)} MB idle, ${fmt(peakMB)} MB peak`,
      held: bridge >= 2 && typeof peakMB === 'number' && peakMB <= 100,
    });
  }
  const growth = find(rs, 'berth-modern');
  if (growth && typeof growth.extra.liveHeapGrowthKB === 'number') {
    out.push({
      aim: `no growth after ${growth.extra.growthRequests} requests`,
      measured: `RSS ${growth.extra.rssAfterWarmupMB} → ${growth.extra.rssAfterRequestsMB} MB, live heap ${fmt(growth.extra.liveHeapGrowthKB as number)} KB`,
      held: (growth.extra.liveHeapGrowthKB as number) <= 1024 && (growth.extra.rssGrowthMB as number) <= 10,
    });
  }
  return out;
}

/** The markdown report. */
export function renderMarkdown(report: Report): string {
  const m = report.machine;
  const cs = [...new Set(report.results.flatMap((r) => Object.keys(r.throughput).map(Number)))].sort((a, b) => a - b);
  const lines = [
    '# Berth benchmark results',
    '',
    `${report.generatedAt} · ${m.cpuModel} · ${m.cores} cores · ${m.memoryGiB} GiB · Node ${m.node} · ${m.os}${m.loadAverage ? ` · load average at start ${m.loadAverage}` : ''}${m.cpuIdle ? ` · ${m.cpuIdle}` : ''}`,
    `System under test (runtimes, Redis, HAProxy) pinned to core 0, load generator to core 1${m.loadCoreIdle ? `, ${m.loadCoreIdle}` : ''}; Berth at log level warn (no per-call info line; the peers write none either); ${report.durationSeconds} s per run${report.quick ? ' (quick mode: smoke run, not for numbers)' : ''}.`,
    '',
    `| rung | ${cs.map((c) => `calls/s @${c}`).join(' | ')} | open-loop rate | p50 ms | p95 ms | p99 ms | p99.9 ms | gen. lag p99 ms | RSS MB | CPU µs/call | ×SDK | ×SDK (CPU) | ×fastify |`,
    `|---|${cs.map(() => '---:').join('|')}|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
  ];
  for (const r of report.results) {
    if (r.error) {
      lines.push(`| ${r.label} | failed: ${r.error.split('\n')[0]!.replace(/\|/g, '/')} |`);
      continue;
    }
    const o = r.openLoop;
    lines.push(
      `| ${r.label} | ${cs.map((c) => fmt(r.throughput[c]?.requestsPerSecond)).join(' | ')} | ${fmt(o?.rate)}${o?.errors ? ` (${o.errors} errors)` : ''} | ${fmt(o?.p50, 2)} | ${fmt(o?.p95, 2)} | ${fmt(o?.p99, 2)} | ${fmt(o?.p999, 2)} | ${fmt(o?.lagP99, 2)} | ${fmt(r.rssBytes && r.rssBytes / 2 ** 20, 0)} | ${fmt(cpuPerCall(r), 0)} | ${fmt(ratio(report.results, r.id, refOf(r)), 2)} | ${fmt(cpuRatio(report.results, r.id, refOf(r)), 2)} | ${fmt(ratio(report.results, r.id, 'fastify'), 2)} |`,
    );
  }
  lines.push(
    '',
    '×SDK: peak calls/s over the bare SDK v2 `createMcpHandler` (modern rungs) or the SDK sessionful transport (legacy rungs). ×SDK (CPU): the same reference\'s server CPU per call over this rung\'s (how many times cheaper a call is; robust to other load on the machine). ×fastify: over the fastify echo ceiling. CPU µs/call counts every server-side process of the rung (runtimes, Redis, HAProxy, stdio children), lowest across the closed-loop runs.',
    '',
    `Calls/s: closed loop (each connection sends when its last answer arrived), Node/undici generator${report.closedWarmupSeconds ? `, after ${report.closedWarmupSeconds} s at 64 connections not measured (the JIT's warm-up)` : ''}${(report.rounds ?? 1) > 1 ? `; ${report.rounds} rounds per rung minutes apart (each round but the last a pass over the whole ladder first), the run with the most calls/s kept per concurrency, as the host's speed drifts` : ''}. Open-loop rate and p50–p99.9: ${openLoopMethod(report.results.find((r) => r.openLoop)?.openLoop)}. Gen. lag: how late the generator itself sent against its schedule; above ${LAG_LIMIT_MS} ms the tail is the machine's, not the server's.`,
  );
  const split = report.results.filter((r) => !r.error && Object.values(r.throughput).some((t) => t.cpuMicrosPerCallByRole));
  if (split.length) {
    lines.push('', '| rung | CPU µs/call by process (at the lowest total) |', '|---|---|');
    for (const r of split) {
      const best = Object.values(r.throughput).reduce((a, b) => ((a.serverCpuMicrosPerCall ?? Infinity) <= (b.serverCpuMicrosPerCall ?? Infinity) ? a : b));
      lines.push(`| ${r.label} | ${Object.entries(best.cpuMicrosPerCallByRole ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')} |`);
    }
  }
  const extras = report.results.filter((r) => Object.keys(r.extra).length);
  if (extras.length) {
    lines.push('', '| rung | measurement | value |', '|---|---|---:|');
    for (const r of extras) for (const [k, v] of Object.entries(r.extra)) lines.push(`| ${r.label} | ${k} | ${v} |`);
  }
  const watched = report.results.filter((r) => !r.error && r.openLoop?.server);
  if (watched.length) {
    const gc = (o: OpenLoop, kind: string): string => {
      const g = o.server?.gc[kind];
      return g ? `${g.count} / ${fmt(g.maxMs, 1)} / ${g.over5ms}` : '0';
    };
    lines.push(
      '',
      '### Where the open-loop tail comes from',
      '',
      'Server core busy: the server-side processes\' CPU over the open-loop run\'s wall time. At half of the closed-loop peak it is more than half, because calls arriving one at a time cost what they cost at a few connections, not what they cost batched at the peak: the CPU µs per call in the open loop is beside the closed loop\'s at each concurrency, and "÷ peak" is the open loop\'s over the peak run\'s (the busy share is about half of it). Then the server process (the first replica for the replica rungs) over the same window: how long its event loop was blocked (a 1 ms timer\'s lateness) and its GC pauses (count / longest ms / over 5 ms); beside the p99 from the scheduled send (the median window\'s, then every window\'s in order), the p99 from the actual send and the generator\'s own lag.',
      '',
      `| rung | rate | server core busy | CPU µs/call | closed loop ${cs.map((c) => `@${c}`).join(' / ')} | ÷ peak | p99 ms | p99 by window ms | p99 from send ms | gen. lag p99 ms | loop blocked p99 / p99.9 / max ms | minor GC | major GC |`,
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const r of watched) {
      const o = r.openLoop!;
      const d = o.server!.loopDelayMs;
      const major = ['major', 'incremental'].filter((k) => o.server!.gc[k]).map((k) => `${k === 'major' ? '' : 'incr. '}${gc(o, k)}`).join(', ') || '0';
      lines.push(`| ${r.label} | ${fmt(o.rate)} | ${fmt((o.serverCoreShare ?? NaN) * 100)}% | ${fmt(o.serverCpuMicrosPerCall)} | ${closedCpu(r, cs)} | ${fmt(openOverPeakCpu(r), 2)} | ${fmt(o.p99, 2)} | ${perWindow(o)} | ${fmt(o.serviceP99, 2)} | ${fmt(o.lagP99, 2)} | ${fmt(d.p99, 2)} / ${fmt(d.p999, 2)} / ${fmt(d.max, 2)} | ${gc(o, 'minor')} | ${major} |`);
    }
  }
  const list = aims(report);
  if (list.length) {
    lines.push('', '## Aims (TARGETS.md)', '', '| aim | measured | held |', '|---|---|---|');
    for (const a of list) lines.push(`| ${a.aim} | ${a.measured} | ${a.held === undefined ? '–' : a.held ? 'yes' : 'no'} |`);
  }
  lines.push('');
  return lines.join('\n');
}

/** A horizontal bar chart of peak calls/s per rung. */
export function renderSvg(report: Report): string {
  const rows = report.results.filter((r) => !r.error);
  const max = Math.max(1, ...rows.map(peak));
  const h = 40 + rows.length * 28;
  const bars = rows
    .map((r, i) => {
      const y = 30 + i * 28;
      const w = Math.round((peak(r) / max) * 420);
      const color = r.id.startsWith('berth') ? '#1f6feb' : '#8b949e';
      return `<text x="8" y="${y + 15}" font-size="12">${r.label.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text><rect x="560" y="${y}" width="${w}" height="20" fill="${color}"/><text x="${566 + w}" y="${y + 15}" font-size="12">${Math.round(peak(r))}/s · ${fmt(cpuPerCall(r), 0)} µs CPU</text>`;
    })
    .join('\n');
  const m = report.machine;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="1120" height="${h}" font-family="sans-serif">\n<text x="8" y="18" font-size="13" font-weight="bold">Peak tool calls/s and server CPU per call — ${m.cpuModel}, ${m.cores} cores, Node ${m.node}</text>\n${bars}\n</svg>\n`;
}

// Renders benchmark results as a markdown table and an SVG bar chart, with
// ratios to the bare SDK (modern and legacy) and to the fastify ceiling.
import type { LoadResult } from './load-worker.ts';
import type { MachineFacts } from './machine.ts';

export interface RungResult {
  id: string;
  label: string;
  era: string;
  throughput: Record<number, LoadResult>;
  openLoop?: LoadResult & { rate: number };
  rssBytes?: number;
  extra: Record<string, number | string>;
  error?: string;
}

export interface Report {
  generatedAt: string;
  quick: boolean;
  durationSeconds: number;
  machine: MachineFacts;
  results: RungResult[];
}

const peak = (r: RungResult): number => Math.max(0, ...Object.values(r.throughput).map((t) => t.requestsPerSecond));
/** Lowest server CPU per call across the closed-loop runs (µs). */
export const cpuPerCall = (r: RungResult): number => Math.min(...Object.values(r.throughput).map((t) => t.serverCpuMicrosPerCall ?? Infinity));

/** Server-CPU-per-call ratio (reference over rung): how many times cheaper a call is. */
export function cpuRatio(results: RungResult[], id: string, ref: string): number | undefined {
  const a = results.find((r) => r.id === id);
  const b = results.find((r) => r.id === ref);
  if (!a || !b || a.error || b.error) return undefined;
  const x = cpuPerCall(a);
  const y = cpuPerCall(b);
  return Number.isFinite(x) && Number.isFinite(y) && x > 0 ? y / x : undefined;
}
const fmt = (n: number | undefined, d = 0): string => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(d));

/** Peak throughput ratio of a rung to a reference rung. */
export function ratio(results: RungResult[], id: string, ref: string): number | undefined {
  const a = results.find((r) => r.id === id);
  const b = results.find((r) => r.id === ref);
  if (!a || !b || a.error || b.error || peak(b) === 0) return undefined;
  return peak(a) / peak(b);
}

/** The markdown report. */
export function renderMarkdown(report: Report): string {
  const m = report.machine;
  const cs = [...new Set(report.results.flatMap((r) => Object.keys(r.throughput).map(Number)))].sort((a, b) => a - b);
  const lines = [
    '# Berth benchmark results',
    '',
    `${report.generatedAt} · ${m.cpuModel} · ${m.cores} cores · ${m.memoryGiB} GiB · Node ${m.node} · ${m.os}`,
    `Server pinned to core 0, load generator to core 1; ${report.durationSeconds} s per run${report.quick ? ' (quick mode: smoke run, not for numbers)' : ''}.`,
    '',
    `| rung | ${cs.map((c) => `calls/s @${c}`).join(' | ')} | open-loop rate | p50 ms | p95 ms | p99 ms | RSS MB | CPU µs/call | ×SDK | ×SDK (CPU) | ×fastify |`,
    `|---|${cs.map(() => '---:').join('|')}|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
  ];
  for (const r of report.results) {
    if (r.error) {
      lines.push(`| ${r.label} | failed: ${r.error.split('\n')[0]!.replace(/\|/g, '/')} |`);
      continue;
    }
    const ref = r.era === 'legacy' ? 'sdk-sessionful' : 'sdk-modern';
    const o = r.openLoop;
    lines.push(
      `| ${r.label} | ${cs.map((c) => fmt(r.throughput[c]?.requestsPerSecond)).join(' | ')} | ${fmt(o?.rate)} | ${fmt(o?.p50, 2)} | ${fmt(o?.p95, 2)} | ${fmt(o?.p99, 2)} | ${fmt(r.rssBytes && r.rssBytes / 2 ** 20, 0)} | ${fmt(cpuPerCall(r), 0)} | ${fmt(ratio(report.results, r.id, ref), 2)} | ${fmt(cpuRatio(report.results, r.id, ref), 2)} | ${fmt(ratio(report.results, r.id, 'fastify'), 2)} |`,
    );
  }
  const extras = report.results.filter((r) => Object.keys(r.extra).length);
  if (extras.length) {
    lines.push('', '| rung | measurement | value |', '|---|---|---:|');
    for (const r of extras) for (const [k, v] of Object.entries(r.extra)) lines.push(`| ${r.label} | ${k} | ${v} |`);
  }
  lines.push('', '×SDK: peak calls/s over the bare SDK v2 `createMcpHandler` (modern rungs) or the SDK sessionful transport (legacy rungs). ×SDK (CPU): the same reference\'s server CPU per call over this rung\'s (how many times cheaper a call is; robust to other load on the machine). ×fastify: over the fastify echo ceiling.', '');
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
      return `<text x="8" y="${y + 15}" font-size="12">${r.label.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text><rect x="380" y="${y}" width="${w}" height="20" fill="${color}"/><text x="${386 + w}" y="${y + 15}" font-size="12">${Math.round(peak(r))}/s</text>`;
    })
    .join('\n');
  const m = report.machine;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="900" height="${h}" font-family="sans-serif">\n<text x="8" y="18" font-size="13" font-weight="bold">Peak tool calls/s — ${m.cpuModel}, ${m.cores} cores, Node ${m.node}</text>\n${bars}\n</svg>\n`;
}

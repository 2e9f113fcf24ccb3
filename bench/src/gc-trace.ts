// GC pauses from V8's `--trace-gc` lines. server-preload.mjs turns the trace
// on over the open-loop window and the harness reads the server's stdout:
// V8 prints each line from C++ as the collection ends, so watching costs the
// server no JS objects and no growing buffer (v8.GCProfiler kept every
// collection's heap statistics as JSON in native memory until its stop,
// 6-9 MB of the stdio runtime's peak RSS over the three windows; a 'gc'
// PerformanceObserver built JS entries that outlived scavenges).
import type { GcPauses } from './report.ts';

// `[pid:0x…]  1234 ms: Scavenge 9.8 (12.3) -> 9.1 (12.3) MB, pooled: 0 MB, 0.45 / 0.00 ms  (average mu …`
const PAUSE = /ms: (Scavenge|Minor Mark-Sweep|Mark-Compact)\b.*? MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ [\d.]+ ms/;
// On a full collection's line: the incremental marking steps before its final pause.
const STEPS = /\+ ([\d.]+) ms in (\d+) steps? since start of marking, biggest step ([\d.]+) ms/;

const empty = (): GcPauses => ({ count: 0, totalMs: 0, maxMs: 0, over1ms: 0, over5ms: 0 });
const round = (n: number): number => Math.round(n * 100) / 100;

/**
 * GC pause figures by kind from `--trace-gc` output: `minor` (scavenges),
 * `major` (full collections' final pauses) and `incremental` (marking steps:
 * count and total over all cycles, the biggest step; over1ms/over5ms count
 * the cycles whose biggest step was longer, as the trace gives no other).
 */
export function gcPausesFromTrace(text: string): Record<string, GcPauses> {
  const out: Record<string, GcPauses> = {};
  for (const line of text.split('\n')) {
    const m = PAUSE.exec(line);
    if (!m) continue;
    const kind = m[1] === 'Mark-Compact' ? 'major' : 'minor';
    add((out[kind] ??= empty()), 1, Number(m[2]), Number(m[2]));
    const s = kind === 'major' ? STEPS.exec(line) : null;
    if (s && Number(s[2]) > 0) add((out.incremental ??= empty()), Number(s[2]), Number(s[1]), Number(s[3]));
  }
  for (const g of Object.values(out)) (g.totalMs = round(g.totalMs)), (g.maxMs = round(g.maxMs));
  return out;
}

function add(g: GcPauses, count: number, totalMs: number, longestMs: number): void {
  g.count += count;
  g.totalMs += totalMs;
  g.maxMs = Math.max(g.maxMs, longestMs);
  if (longestMs > 1) g.over1ms += 1;
  if (longestMs > 5) g.over5ms += 1;
}

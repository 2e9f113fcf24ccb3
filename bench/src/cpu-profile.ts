// Summarizes a V8 .cpuprofile (node --cpu-prof): self and inclusive time per
// function, per file and per package, busy time only (idle and GC apart).
// `node bench/src/cpu-profile.ts FILE.cpuprofile [--top N] [--calls N] [--tree [--min PCT]]`
// prints the tables (or a top-down call tree); with --calls, times are also
// shown per call (µs).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Row {
  key: string;
  selfMs: number;
  totalMs: number;
}

export interface ProfileSummary {
  /** Wall time the profile covers (ms). */
  wallMs: number;
  /** Sampled time on JavaScript, native code and GC (ms): everything but idle. */
  busyMs: number;
  gcMs: number;
  functions: Row[];
  files: Row[];
  packages: Row[];
}

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/** Short name of a script URL: the package for node_modules, the repo-relative path otherwise. */
export function fileOf(url: string): string {
  if (!url) return '(native)';
  if (url.startsWith('node:')) return url;
  const path = url.startsWith('file://') ? url.slice(7) : url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + 14);
  const repo = path.indexOf('/work/main/');
  return repo >= 0 ? path.slice(repo + 11) : path;
}

/** The package a file belongs to (`fastify`, `@modelcontextprotocol/server`, `runtime/src/http`, `node:internal`). */
export function packageOf(url: string): string {
  const file = fileOf(url);
  if (file === '(native)') return '(native)';
  if (file.startsWith('node:')) return file.startsWith('node:internal') ? 'node:internal' : 'node:' + file.slice(5).split('/')[0];
  const path = url.startsWith('file://') ? url.slice(7) : url;
  if (path.includes('/node_modules/')) {
    const parts = file.split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const parts = file.split('/');
  return parts.slice(0, Math.min(parts.length - 1, 3)).join('/') || file;
}

/** Reads and summarizes a profile file. */
export function summarizeProfile(file: string): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Time of each sample is the delta to the next one.
  const selfUs = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const dt = timeDeltas[i + 1] ?? 0;
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + dt);
  }
  const fnKey = (n: ProfileNode): string => {
    const f = n.callFrame;
    if (SPECIAL.has(f.functionName) && !f.url) return f.functionName;
    return `${f.functionName || '(anonymous)'} ${fileOf(f.url)}:${f.lineNumber + 1}`;
  };
  const fns = new Map<string, Row>();
  const files = new Map<string, Row>();
  const pkgs = new Map<string, Row>();
  const add = (m: Map<string, Row>, key: string, self: number, total: number): void => {
    const r = m.get(key) ?? { key, selfMs: 0, totalMs: 0 };
    r.selfMs += self;
    r.totalMs += total;
    m.set(key, r);
  };
  let busy = 0;
  let gc = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const name = node.callFrame.functionName;
    if (name === '(idle)') continue;
    const ms = us / 1000;
    busy += ms;
    if (name === '(garbage collector)') gc += ms;
    // Walk up the stack once; count each function/file/package once per sample (recursion-safe).
    const seenF = new Set<string>();
    const seenFile = new Set<string>();
    const seenP = new Set<string>();
    let cur: number | undefined = id;
    let first = true;
    while (cur !== undefined) {
      const n = byId.get(cur)!;
      if (n.callFrame.functionName !== '(root)') {
        const k = fnKey(n);
        const fk = SPECIAL.has(n.callFrame.functionName) && !n.callFrame.url ? n.callFrame.functionName : fileOf(n.callFrame.url);
        const pk = SPECIAL.has(n.callFrame.functionName) && !n.callFrame.url ? n.callFrame.functionName : packageOf(n.callFrame.url);
        if (!seenF.has(k)) (seenF.add(k), add(fns, k, first ? ms : 0, ms));
        if (!seenFile.has(fk)) (seenFile.add(fk), add(files, fk, first ? ms : 0, ms));
        if (!seenP.has(pk)) (seenP.add(pk), add(pkgs, pk, first ? ms : 0, ms));
        first = false;
      }
      cur = parent.get(cur);
    }
  }
  const sorted = (m: Map<string, Row>) => [...m.values()].sort((a, b) => b.selfMs - a.selfMs);
  return {
    wallMs: (profile.endTime - profile.startTime) / 1000,
    busyMs: busy,
    gcMs: gc,
    functions: sorted(fns),
    files: sorted(files),
    packages: sorted(pkgs),
  };
}

/** Text tables of a summary; `calls` adds µs per call columns. */
export function renderSummary(s: ProfileSummary, top = 30, calls?: number): string {
  const per = (ms: number): string => (calls ? `${((ms * 1000) / calls).toFixed(1).padStart(8)} µs` : '');
  const pct = (ms: number): string => `${((ms / s.busyMs) * 100).toFixed(1).padStart(5)}%`;
  const table = (title: string, rows: Row[], by: 'selfMs' | 'totalMs'): string[] => [
    `-- ${title} (by ${by === 'selfMs' ? 'self' : 'inclusive'} time) --`,
    ...[...rows]
      .sort((a, b) => b[by] - a[by])
      .slice(0, top)
      .map((r) => `${pct(r.selfMs)} self ${pct(r.totalMs)} incl ${per(r[by])}  ${r.key}`),
  ];
  return [
    `wall ${s.wallMs.toFixed(0)} ms, busy ${s.busyMs.toFixed(0)} ms (gc ${s.gcMs.toFixed(0)} ms)${calls ? `, ${calls} calls → ${((s.busyMs * 1000) / calls).toFixed(1)} µs busy per call` : ''}`,
    ...table('packages', s.packages, 'selfMs'),
    ...table('packages', s.packages, 'totalMs'),
    ...table('files', s.files, 'selfMs'),
    ...table('functions', s.functions, 'selfMs'),
    ...table('functions', s.functions, 'totalMs'),
  ].join('\n');
}

/** A top-down call tree (identical frames merged), nodes above `minPct` of busy time, as indented text. */
export function renderTree(file: string, minPct = 1, calls?: number): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  const total = new Map<number, number>();
  const sum = (id: number): number => {
    const n = byId.get(id)!;
    if (n.callFrame.functionName === '(idle)') return 0;
    let t = selfUs.get(id) ?? 0;
    for (const c of n.children ?? []) t += sum(c);
    total.set(id, t);
    return t;
  };
  const root = profile.nodes[0]!;
  const busy = sum(root.id);
  const label = (n: ProfileNode): string => `${n.callFrame.functionName || '(anonymous)'} ${fileOf(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const lines: string[] = [];
  // Merge children with the same label so repeated call sites read as one.
  const walk = (ids: number[], depth: number): void => {
    const groups = new Map<string, number[]>();
    for (const id of ids) {
      const k = label(byId.get(id)!);
      groups.set(k, [...(groups.get(k) ?? []), id]);
    }
    const rows = [...groups].map(([k, g]) => ({ k, g, t: g.reduce((a, id) => a + (total.get(id) ?? 0), 0), s: g.reduce((a, id) => a + (selfUs.get(id) ?? 0), 0) }));
    rows.sort((a, b) => b.t - a.t);
    for (const r of rows) {
      if ((r.t / busy) * 100 < minPct) continue;
      const per = calls ? ` ${(r.t / calls).toFixed(1).padStart(7)} µs` : '';
      lines.push(`${((r.t / busy) * 100).toFixed(1).padStart(5)}%${per} ${'  '.repeat(depth)}${r.k}${r.s / busy > 0.005 ? ` [self ${((r.s / busy) * 100).toFixed(1)}%]` : ''}`);
      walk(r.g.flatMap((id) => byId.get(id)!.children ?? []), depth + 1);
    }
  };
  walk(root.children ?? [], 0);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name: string): number | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  const file = args.find((a) => a.endsWith('.cpuprofile'));
  if (!file) {
    process.stderr.write('usage: node bench/src/cpu-profile.ts FILE.cpuprofile [--top N] [--calls N]\n');
    process.exit(2);
  }
  if (args.includes('--tree')) process.stdout.write(renderTree(file, opt('--min') ?? 1, opt('--calls')) + '\n');
  else process.stdout.write(renderSummary(summarizeProfile(file), opt('--top') ?? 30, opt('--calls')) + '\n');
}

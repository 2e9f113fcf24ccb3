/**
 * Renders docs/img/dashboard.png: the dashboard's own PromQL, evaluated by a
 * real Prometheus over real Berth processes under load, drawn panel by panel
 * at the dashboard's layout and photographed with headless Chromium.
 *
 *   apt-get install prometheus chromium redis-server
 *   npm run cluster -- up          # the operator needs an API server
 *   npx node e2e/suite/render-dashboard.ts [--minutes 4] [--out docs/img/dashboard.png]
 *
 * What runs: a redis-server; two runtimes (`berth run` of the rate-limited
 * and everything examples, with Redis); the operator from this checkout
 * against the local control plane, reconciling the examples in a fresh
 * namespace; Prometheus scraping all three every second. Clients call tools
 * (some fail, some hit the rate limit, legacy sessions come and go) while
 * the operator is kept busy with scales and edits. Every query error is
 * reported and fails the run: the picture doubles as a check of the PromQL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { ensureCluster } from '../src/cluster/test-cluster.ts';
import { allPanels, readDashboard, type DashboardPanel } from './dashboard.ts';
import { freePort, startLocalRedis } from './install.ts';
import { until } from './kube.ts';

const repoRoot = resolve(import.meta.dirname, '..', '..');
const { values: args } = parseArgs({ options: { minutes: { type: 'string', default: '4' }, out: { type: 'string', default: join(repoRoot, 'docs', 'img', 'dashboard.png') } } });
const minutes = Number(args.minutes);
const work = mkdtempSync(join(tmpdir(), 'berth-render-'));
const children: ChildProcess[] = [];
const say = (s: string): void => void process.stdout.write(`${s}\n`);

function start(cmd: string, argv: string[], env: NodeJS.ProcessEnv, log: string): ChildProcess {
  const fd = openSync(join(work, log), 'a');
  const child = spawn(cmd, argv, { env, stdio: ['ignore', fd, fd] });
  children.push(child);
  return child;
}

async function runtime(example: string, redisUrl: string, manifest = join(repoRoot, 'examples', example, 'mcpserver.yaml'), extra: string[] = []): Promise<string> {
  const port = await freePort();
  const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(npm_config_|HTTPS?_PROXY|NO_PROXY|NODE_EXTRA_CA_CERTS|SSL_CERT_)/.test(k)));
  start(process.execPath, [join(repoRoot, 'runtime', 'bin', 'berth.mjs'), 'run', '-f', manifest, '--port', String(port), '--redis', redisUrl, '--packages-dir', join(work, 'packages'), ...extra], { PATH: process.env.PATH, HOME: process.env.HOME, BERTH_LOG_LEVEL: 'warn', ...npmEnv }, `${example}.log`);
  await until(`${example} ready`, 180_000, async () => (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200, 500);
  return `127.0.0.1:${port}`;
}

async function main(): Promise<void> {
  const redis = await startLocalRedis(work);
  say('starting two runtimes…');
  const guarded = await runtime('rate-limited', redis.url);
  const everything = await runtime('everything', redis.url);
  // The remote example in front of the everything runtime: API keys, some of them wrong.
  const remoteManifest = join(work, 'remote.yaml');
  writeFileSync(remoteManifest, readFileSync(join(repoRoot, 'examples', 'remote', 'mcpserver.yaml'), 'utf8').replace('http://127.0.0.1:3001/mcp', `http://${everything}/mcp`));
  const remote = await runtime('remote', redis.url, remoteManifest, ['--secrets-dir', join(repoRoot, 'examples', 'remote', 'secrets')]);
  const aliceKey = readFileSync(join(repoRoot, 'examples', 'remote', 'secrets', 'remote-clients', 'alice'), 'utf8').trim();

  say('starting the operator against the local control plane…');
  const cluster = await ensureCluster();
  await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=berth-render', '-f', join(repoRoot, 'crds', 'mcpservers.berth.dev.yaml')]);
  const ns = `dashboard-${Date.now().toString(36)}`;
  await cluster.kubectl(['create', 'namespace', ns]);
  const opPort = await freePort();
  start(process.execPath, [join(repoRoot, 'operator', 'src', 'main.ts'), '--namespace', ns, '--lease-namespace', ns, '--port', String(opPort)], { PATH: process.env.PATH, KUBECONFIG: cluster.kubeconfig, BERTH_REDIS_ADMIN_URL: redis.url, BERTH_LOG_LEVEL: 'warn' }, 'operator.log');
  await until('operator ready', 60_000, async () => (await fetch(`http://127.0.0.1:${opPort}/readyz`)).status === 200, 500);

  const promPort = await freePort();
  const promDir = join(work, 'prometheus');
  mkdirSync(promDir);
  writeFileSync(
    join(promDir, 'prometheus.yml'),
    `global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: berth-runtime
    static_configs:
      - targets: ['${guarded}']
        labels: { namespace: team-a, mcpserver: guarded, pod: guarded-7d9c-x2k4p }
      - targets: ['${everything}']
        labels: { namespace: team-a, mcpserver: everything, pod: everything-5f6b-q8mzt }
      - targets: ['${remote}']
        labels: { namespace: team-b, mcpserver: remote, pod: remote-84c7-m3rfd }
  - job_name: berth-operator
    static_configs:
      - targets: ['127.0.0.1:${opPort}']
        labels: { namespace: berth-system, pod: berth-operator-6c8d-h2v9w }
`,
  );
  start('prometheus', [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], { PATH: process.env.PATH }, 'prometheus.log');
  const prom = `http://127.0.0.1:${promPort}`;
  await until('prometheus ready', 60_000, async () => (await fetch(`${prom}/-/ready`)).status === 200, 500);

  say(`driving load for ${minutes} min…`);
  const started = Date.now();
  const deadline = started + minutes * 60_000;
  const examples = ['everything', 'rate-limited', 'oauth', 'remote'].map((f) => {
    const text = readFileSync(join(repoRoot, 'examples', f, 'mcpserver.yaml'), 'utf8');
    return text;
  });
  for (const text of examples) await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: text });
  const operatorBusy = (async () => {
    let n = 2;
    while (Date.now() < deadline) {
      n = n === 2 ? 3 : 2;
      await cluster.kubectlResult(['-n', ns, 'scale', 'mcps/everything', `--replicas=${n}`]);
      await cluster.kubectlResult(['-n', ns, 'annotate', '--overwrite', 'mcps/guarded', `render/tick=${Date.now()}`]);
      await sleep(7000);
    }
  })();
  const worker = async (url: string, pick: (i: number) => { name: string; arguments: Record<string, unknown> }, pauseMs: number, modern: boolean, key?: () => string): Promise<void> => {
    let i = 0;
    while (Date.now() < deadline) {
      const client = new Client({ name: 'render', version: '1.0.0' }, modern ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {});
      try {
        const headers = key ? { requestInit: { headers: { authorization: `Bearer ${key()}` } } } : {};
        await client.connect(new StreamableHTTPClientTransport(new URL(`http://${url}/mcp`), headers));
        // Keep a legacy session for a while, then let it go.
        const until = Date.now() + 20_000 + Math.random() * 40_000;
        while (Date.now() < Math.min(until, deadline)) {
          await client.callTool(pick(i++)).catch(() => undefined);
          await sleep(pauseMs * (0.5 + Math.random()));
        }
      } catch {
        await sleep(1000);
      } finally {
        await client.close().catch(() => undefined);
      }
    }
  };
  const guardedTools = (i: number) =>
    i % 17 === 0 ? { name: 'get-env', arguments: {} } : i % 5 === 0 ? { name: 'get-sum', arguments: { a: i, b: 2 } } : i % 7 === 0 ? { name: 'get-tiny-image', arguments: {} } : i % 9 === 0 ? { name: 'echo', arguments: { message: `deploy with ghp_${'a1B2c3D4e5F6g7H8i9J0'.repeat(2)}` } } : { name: 'echo', arguments: { message: 'x'.repeat(20 + (i % 400)) } };
  const everythingTools = (i: number) =>
    i % 11 === 0 ? { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } } : i % 13 === 0 ? { name: 'get-sum', arguments: { a: 'not a number', b: 1 } } : i % 3 === 0 ? { name: 'get-structured-content', arguments: { location: 'New York' } } : { name: 'echo', arguments: { message: `hello ${i}` } };
  await Promise.all([
    ...Array.from({ length: 4 }, (_, k) => worker(guarded, guardedTools, 60, k % 2 === 1)),
    ...Array.from({ length: 4 }, (_, k) => worker(everything, everythingTools, 80, k % 2 === 0)),
    ...Array.from({ length: 2 }, (_, k) => worker(remote, everythingTools, 120, k === 0, () => (Math.random() < 0.15 ? 'wrong-key-0123456789abcdef' : aliceKey))),
    operatorBusy,
  ]);

  say('querying Prometheus…');
  const dashboard = readDashboard(join(repoRoot, 'charts', 'berth', 'dashboards', 'berth.json'));
  const end = Date.now() / 1000;
  const begin = started / 1000 + 20;
  const step = 5;
  const errors: string[] = [];
  const data = new Map<number, Array<{ legend: string; points: Array<[number, number]> }>>();
  for (const panel of allPanels(dashboard)) {
    if (panel.type === 'row') continue;
    const series: Array<{ legend: string; points: Array<[number, number]> }> = [];
    for (const target of panel.targets ?? []) {
      const expr = target.expr.replaceAll('$__rate_interval', '15s').replaceAll('$__range', `${Math.round(end - begin)}s`).replaceAll('$namespace', '.*').replaceAll('$mcpserver', '.*');
      const url = `${prom}/api/v1/query_range?${new URLSearchParams({ query: expr, start: String(begin), end: String(end), step: String(step) })}`;
      const res = (await (await fetch(url)).json()) as { status: string; error?: string; data?: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } };
      if (res.status !== 'success') {
        errors.push(`${panel.title}: ${res.error} in ${expr}`);
        continue;
      }
      for (const r of res.data!.result) {
        const legend = (target.legendFormat ?? '').replace(/\{\{\s*(\w+)\s*\}\}/g, (_m, k: string) => r.metric[k] ?? '');
        series.push({ legend: legend || JSON.stringify(r.metric), points: r.values.map(([t, v]) => [t, Number(v)] as [number, number]).filter(([, v]) => Number.isFinite(v)) });
      }
    }
    data.set(panel.id, series);
  }
  if (errors.length) throw new Error(`Prometheus refused ${errors.length} queries:\n${errors.join('\n')}`);
  const empty = allPanels(dashboard).filter((p) => p.type !== 'row' && !(data.get(p.id) ?? []).some((s) => s.points.length));
  say(`panels without data: ${empty.map((p) => p.title).join(', ') || 'none'}`);

  const html = renderHtml(dashboard.title, allPanels(dashboard), data, begin, end);
  const htmlFile = join(work, 'dashboard.html');
  writeFileSync(htmlFile, html);
  const height = Math.max(...allPanels(dashboard).map((p) => (p.gridPos.y + p.gridPos.h) * ROW_PX)) + 80;
  mkdirSync(dirname(args.out!), { recursive: true });
  const shot = spawn('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--hide-scrollbars', `--window-size=${WIDTH},${height}`, `--screenshot=${resolve(args.out!)}`, `file://${htmlFile}`], { stdio: 'inherit' });
  await new Promise((r) => shot.once('exit', r));
  say(`wrote ${args.out} (${WIDTH}x${height})`);
  await cluster.kubectlResult(['delete', 'namespace', ns, '--wait=false']);
  await redis.stop();
}

const WIDTH = 1600;
const ROW_PX = 30;
const COLORS = ['#73bf69', '#f2cc0c', '#8ab8ff', '#ff780a', '#f2495c', '#5794f2', '#b877d9', '#fade2a', '#96d98d', '#ff9830'];

function formatValue(v: number, unit: string | undefined): string {
  const n = (x: number, d = 2): string => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(d));
  switch (unit) {
    case 's':
      return v === 0 ? '0' : v < 1e-3 ? `${n(v * 1e6)} µs` : v < 1 ? `${n(v * 1e3)} ms` : `${n(v)} s`;
    case 'bytes':
      return v < 1024 ? `${n(v, 0)} B` : v < 1048576 ? `${n(v / 1024)} KiB` : `${n(v / 1048576)} MiB`;
    case 'percentunit':
      return `${n(v * 100, 1)}%`;
    case 'reqps':
      return `${n(v)} req/s`;
    case 'ops':
      return `${n(v)} ops/s`;
    default:
      return n(v);
  }
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function renderPanel(p: DashboardPanel, series: Array<{ legend: string; points: Array<[number, number]> }>, t0: number, t1: number): string {
  const colW = WIDTH / 24;
  const x = p.gridPos.x * colW;
  const y = p.gridPos.y * ROW_PX + 50;
  const w = p.gridPos.w * colW - 8;
  const h = p.gridPos.h * ROW_PX - 8;
  const unit = p.fieldConfig?.defaults?.unit;
  if (p.type === 'row') return `<div class="row" style="left:${x}px;top:${y}px;width:${WIDTH - 16}px">${esc(p.title)}</div>`;
  let body = '';
  if (p.type === 'stat') {
    const last = series.flatMap((s) => s.points.slice(-1).map(([, v]) => v));
    const value = last.length ? last.reduce((a, b) => a + b, 0) : NaN;
    body = `<div class="stat">${Number.isFinite(value) ? esc(formatValue(value, unit)) : 'No data'}</div>`;
  } else if (p.type === 'bargauge') {
    const bars = series.map((s) => ({ legend: s.legend, v: s.points.at(-1)?.[1] ?? 0 })).filter((b) => b.v > 0).sort((a, b) => b.v - a.v).slice(0, 6);
    const max = Math.max(1, ...bars.map((b) => b.v));
    body = bars.length
      ? bars.map((b, i) => `<div class="bar"><span>${esc(b.legend)}</span><i style="width:${(b.v / max) * 60}%;background:${COLORS[i % COLORS.length]}"></i><b>${esc(formatValue(b.v, unit))}</b></div>`).join('')
      : '<div class="nodata">No findings in range</div>';
  } else {
    const plotW = w - 70;
    const plotH = h - 100;
    const all = series.flatMap((s) => s.points.map(([, v]) => v));
    const stacked = (p as { fieldConfig?: { defaults?: { custom?: { stacking?: { mode?: string } } } } }).fieldConfig?.defaults?.custom?.stacking?.mode === 'normal';
    let max = all.length ? Math.max(...all) : 1;
    if (stacked && series.length > 1) {
      const sums = new Map<number, number>();
      for (const s of series) for (const [t, v] of s.points) sums.set(t, (sums.get(t) ?? 0) + v);
      max = Math.max(...sums.values(), 0);
    }
    max = max > 0 ? max * 1.1 : 1;
    const X = (t: number): number => 60 + ((t - t0) / (t1 - t0)) * plotW;
    const Y = (v: number): number => 10 + plotH - (v / max) * plotH;
    const base = new Map<number, number>();
    const lines = series.slice(0, 10).map((s, i) => {
      const pts = s.points.map(([t, v]) => {
        const b = stacked ? (base.get(t) ?? 0) : 0;
        if (stacked) base.set(t, b + v);
        return `${X(t).toFixed(1)},${Y(b + v).toFixed(1)}`;
      });
      const c = COLORS[i % COLORS.length];
      return `<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${pts.join(' ')}"/>`;
    });
    const ticks = [0, 0.5, 1].map((f) => `<text x="54" y="${Y(max * f) + 4}" text-anchor="end">${esc(formatValue(max * f, unit))}</text><line x1="60" x2="${60 + plotW}" y1="${Y(max * f)}" y2="${Y(max * f)}" class="grid"/>`);
    const times = [0, 0.5, 1].map((f) => {
      const d = new Date((t0 + (t1 - t0) * f) * 1000);
      return `<text x="${60 + plotW * f}" y="${plotH + 26}" text-anchor="middle">${d.toISOString().slice(11, 16)}</text>`;
    });
    const legend = series.slice(0, 10).map((s, i) => `<span><i style="background:${COLORS[i % COLORS.length]}"></i>${esc(s.legend)}</span>`).join('');
    body = all.length
      ? `<svg width="${w - 16}" height="${plotH + 32}">${ticks.join('')}${times.join('')}${lines.join('')}</svg><div class="legend">${legend}</div>`
      : '<div class="nodata">No data</div>';
  }
  return `<div class="panel" style="left:${x}px;top:${y}px;width:${w}px;height:${h}px"><div class="title">${esc(p.title)}</div>${body}</div>`;
}

function renderHtml(title: string, panels: DashboardPanel[], data: Map<number, Array<{ legend: string; points: Array<[number, number]> }>>, t0: number, t1: number): string {
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#111217;color:#ccccdc;font:12px Inter,Helvetica,Arial,sans-serif;position:relative}
.top{position:absolute;left:8px;top:10px;font-size:18px;color:#fff}.top small{font-size:12px;color:#8e8e9e;margin-left:16px}
.row{position:absolute;font-size:14px;font-weight:600;color:#d8d9da;padding:6px 0}
.panel{position:absolute;background:#181b1f;border:1px solid #2a2d33;border-radius:3px;padding:8px;box-sizing:border-box;overflow:hidden}
.title{font-weight:600;color:#d8d9da;margin-bottom:6px}
.stat{font-size:34px;color:#73bf69;font-weight:600;margin-top:8px}
svg text{fill:#8e8e9e;font-size:10px}.grid{stroke:#2a2d33}
.legend span{margin-right:10px;white-space:nowrap;display:inline-block}.legend i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
.bar{display:flex;align-items:center;margin:4px 0}.bar span{width:38%;overflow:hidden;white-space:nowrap;text-overflow:ellipsis}.bar i{height:14px;margin:0 6px}.bar b{color:#d8d9da}
.nodata{color:#8e8e9e;margin-top:30px;text-align:center}
</style></head><body><div class="top">${esc(title)}<small>namespace: All · McpServer: All · Prometheus evaluating the dashboard's queries over real Berth processes</small></div>
${panels.map((p) => renderPanel(p, data.get(p.id) ?? [], t0, t1)).join('\n')}
</body></html>`;
}

try {
  await main();
} catch (err) {
  process.stderr.write(`render-dashboard: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await sleep(500);
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (process.exitCode) process.stderr.write(`logs kept in ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
}

/**
 * The Grafana dashboard the chart ships (charts/berth/dashboards/berth.json,
 * described in docs/dashboard.md) is valid, and every metric any panel
 * queries is one the runtime and the operator really export: a real runtime
 * (`berth run`) is scraped after calls that exercise the panels, and the
 * operator's registry is rendered.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { allPanels, dashboardQueries, metricNamesIn, readDashboard, type Dashboard } from '../../e2e/suite/dashboard.ts';
import { createMetrics } from '../../operator/src/metrics.ts';
import { repoRoot, startBerth } from './cli-helpers.ts';

const file = join(repoRoot, 'charts', 'berth', 'dashboards', 'berth.json');
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(npm_config_|NPM_CONFIG_|HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR)/.test(k)));

/** Whether a Prometheus exposition text has `name` as a series, or as a declared metric (# TYPE) without samples yet. */
function exported(text: string, name: string): 'samples' | 'declared' | undefined {
  if (new RegExp(`^${name}(\\{[^}]*\\})? `, 'm').test(text)) return 'samples';
  const base = name.replace(/_(bucket|sum|count)$/, '');
  const type = new RegExp(`^# TYPE (${name}|${base}) (\\w+)$`, 'm').exec(text);
  if (!type) return undefined;
  if (type[1] === base && base !== name && type[2] !== 'histogram' && type[2] !== 'summary') return undefined;
  return 'declared';
}

function balanced(expr: string): boolean {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', '}': '{', ']': '[' };
  let quoted = false;
  for (const ch of expr) {
    if (ch === '"') quoted = !quoted;
    if (quoted) continue;
    if ('({['.includes(ch)) stack.push(ch);
    else if (ch in pairs && stack.pop() !== pairs[ch]) return false;
  }
  return stack.length === 0 && !quoted;
}

test('the dashboard is a valid Grafana dashboard over a Prometheus data source variable', () => {
  const d: Dashboard = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(d.uid, 'berth-overview');
  assert.ok(d.templating?.list.some((v) => v.name === 'datasource' && v.type === 'datasource' && v.query === 'prometheus'));
  const panels = allPanels(d);
  assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, 'panel ids are unique');
  for (const p of panels) {
    assert.ok(p.title && p.type && p.gridPos, `panel ${p.id} has title, type, gridPos`);
    assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits the 24-column grid`);
  }
  const queries = dashboardQueries(d);
  assert.ok(queries.length >= 30);
  for (const { panel, target } of queries) {
    assert.ok(balanced(target.expr), `${panel.title}: balanced brackets in ${target.expr}`);
    assert.ok(metricNamesIn(target.expr).length > 0, `${panel.title}: queries a berth metric`);
    assert.equal((panel as { datasource?: { uid?: string } }).datasource?.uid, '${datasource}', `${panel.title} uses the data source variable`);
  }
  const titles = panels.map((p) => p.title).join(' | ');
  for (const needed of ['Tool call latency', 'Errors by category', 'Result bytes per call', 'Active legacy sessions', 'Rate-limit rejections', 'Audit findings', 'Reconciles / s by result']) {
    assert.ok(titles.includes(needed), `a "${needed}" panel`);
  }
  const exprs = queries.map((q) => q.target.expr).join('\n');
  assert.match(exprs, /histogram_quantile\(0\.99, sum by \(le\) \(rate\(berth_tool_call_duration_seconds_bucket/);
});

test('every metric a panel queries is exported by a real runtime or by the operator', { timeout: 180_000 }, async (t) => {
  const packages = mkdtempSync(join(tmpdir(), 'berth-dashboard-'));
  t.after(() => rmSync(packages, { recursive: true, force: true }));
  const berth = await startBerth(['run', '-f', join(repoRoot, 'examples', 'rate-limited', 'mcpserver.yaml'), '--port', '0', '--packages-dir', packages], { timeoutMs: 150_000, env: npmEnv });
  t.after(() => berth.stop('SIGKILL'));
  const client = new Client({ name: 'dashboard-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(berth.url)));
  t.after(() => client.close());
  // Calls that feed the panels: successes, a tool error, a denied tool, per-tool rate limiting.
  await client.callTool({ name: 'echo', arguments: { message: 'dashboard' } });
  await client.callTool({ name: 'get-tiny-image', arguments: {} });
  await client.callTool({ name: 'get-env', arguments: {} }).catch(() => undefined);
  for (let i = 0; i < 12; i++) await client.callTool({ name: 'get-sum', arguments: { a: i, b: 1 } });
  const runtimeText = await (await fetch(new URL('/metrics', berth.url))).text();
  const operatorText = await createMetrics(true).registry.metrics();

  const names = [...new Set(dashboardQueries(readDashboard(file)).flatMap((q) => metricNamesIn(q.target.expr)))].sort();
  const missing: string[] = [];
  for (const name of names) {
    const text = name.startsWith('berth_operator_') ? operatorText : runtimeText;
    if (!exported(text, name)) missing.push(name);
  }
  assert.deepEqual(missing, [], 'metrics queried by the dashboard but exported by nothing');
  // The panels that matter most have data after the calls above, not just a declaration.
  for (const name of ['berth_tool_call_duration_seconds_bucket', 'berth_tool_call_duration_seconds_count', 'berth_tool_result_bytes_bucket', 'berth_tool_result_bytes_sum', 'berth_requests_total', 'berth_errors_total', 'berth_rate_limited_total', 'berth_sessions_active', 'berth_policy_refusals_total', 'berth_process_resident_memory_bytes']) {
    assert.equal(exported(runtimeText, name), 'samples', `${name} has samples`);
  }
  assert.equal(exported(runtimeText, 'berth_not_a_metric_total'), undefined, 'the matcher can say no');
  t.diagnostic(`${names.length} metric names checked`);
});

/**
 * Runs the checks in order against one cluster and reports what ran, what
 * passed, and what did not run and why. A failed check stops the checks
 * after it (they build on its state) and dumps the operator's logs, events
 * and `kubectl describe` output. Cleanup always runs unless asked to keep.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHECKS, type Check, type SuiteContext } from './checks.ts';
import { planExamples, readExamples } from './examples.ts';
import { tail, type Release } from './install.ts';
import { kube, type Kube } from './kube.ts';
import { CAPABILITY_TEXT, capabilities, type Capability, type SuiteOptions } from './options.ts';

export type CheckStatus = 'passed' | 'failed' | 'not-run';

export interface CheckResult {
  name: string;
  title: string;
  status: CheckStatus;
  /** Why it did not run, or the failure message. */
  reason?: string;
  ms: number;
  /** Progress lines the check printed. */
  notes: string[];
}

export interface SuiteReport {
  results: CheckResult[];
  passed: number;
  failed: number;
  notRun: number;
  /** Diagnostics collected at the first failure ('' when none failed). */
  diagnostics: string;
  seconds: number;
  tenant: string;
  release: Release;
}

export interface SuiteIO {
  /** Receives the report lines as they happen. */
  out(line: string): void;
}

const STATUS_WORD: Record<CheckStatus, string> = { passed: 'PASS', failed: 'FAIL', 'not-run': 'SKIP' };

/** Operator logs, events, describe output: what someone needs to see why a check failed. */
export async function collectDiagnostics(ctx: Pick<SuiteContext, 'k' | 'o' | 'release' | 'tenant' | 'operator'>): Promise<string> {
  const { k, release, tenant } = ctx;
  const parts: string[] = [];
  const section = async (title: string, args: string[]): Promise<void> => {
    const r = await k.kubectlResult(args, { timeoutMs: 30_000 }).catch((err: Error) => ({ stdout: '', stderr: err.message, code: 1 }));
    parts.push(`===== ${title} =====\n${(r.stdout + r.stderr).trim()}`);
  };
  if (ctx.operator) {
    parts.push(`===== operator log (local process, last 150 lines of ${ctx.operator.logFile}) =====\n${tail(ctx.operator.logFile, 150)}`);
  } else {
    await section('operator logs (last 150 lines per pod)', ['-n', release.namespace, 'logs', '-l', `app.kubernetes.io/instance=${release.name},app.kubernetes.io/component=operator`, '--all-containers', '--prefix', '--tail=150']);
  }
  await section(`objects in ${release.namespace}`, ['-n', release.namespace, 'get', 'all,leases,configmaps', '-o', 'wide']);
  await section(`events in ${release.namespace}`, ['-n', release.namespace, 'get', 'events', '--sort-by=.lastTimestamp']);
  await section(`objects in ${tenant}`, ['-n', tenant, 'get', 'mcpservers.berth.dev,deployments,replicasets,pods,services,endpointslices,networkpolicies,poddisruptionbudgets', '-o', 'wide']);
  await section(`events in ${tenant}`, ['-n', tenant, 'get', 'events', '--sort-by=.lastTimestamp']);
  await section(`kubectl describe mcpservers -n ${tenant}`, ['-n', tenant, 'describe', 'mcpservers.berth.dev']);
  await section(`kubectl describe deployments -n ${tenant}`, ['-n', tenant, 'describe', 'deployments']);
  await section(`kubectl describe pods -n ${tenant}`, ['-n', tenant, 'describe', 'pods']);
  if (ctx.o.realPods) await section(`runtime logs in ${tenant} (last 40 lines per pod)`, ['-n', tenant, 'logs', '-l', 'app.kubernetes.io/name=berth-runtime', '--all-containers', '--prefix', '--tail=40', '--max-log-requests=20']);
  return parts.join('\n\n');
}

/** Describes the run before it starts: every setting and what it implies. */
function plan(o: SuiteOptions, caps: Set<Capability>, ctx: SuiteContext, server: string): string[] {
  const yes = (b: boolean): string => (b ? 'yes' : 'no');
  const lines = [
    `Berth e2e suite against ${server}`,
    `  kubeconfig     ${o.kubeconfig}`,
    `  real pods      ${yes(o.realPods)} (BERTH_E2E_REAL_PODS)`,
    `  package egress ${yes(o.packageEgress)} (BERTH_E2E_PACKAGE_EGRESS)`,
    `  image examples ${o.imageExamples ?? 'no'} (BERTH_E2E_IMAGE_EXAMPLES)`,
    `  operator       ${o.operator === 'local' ? 'local process from this checkout, as the chart ServiceAccount, with a local redis-server' : "the chart's Deployment, with the chart's bundled Redis"} (BERTH_E2E_OPERATOR=${o.operator})`,
    `  chart          release ${ctx.release.name} in ${ctx.release.namespace}, scope ${o.scope}, CRD ${o.chartCrds ? 'from the chart' : 'applied from crds/'}`,
    `  images         operator ${o.operatorImage}, runtime ${o.runtimeImage} (pull ${o.pullPolicy})`,
    `  tenant         ${ctx.tenant}; timeout ${o.timeoutMs / 1000} s per wait`,
    `  examples       ${ctx.plan.deploy.map((e) => e.folder).join(', ')}`,
  ];
  for (const e of ctx.plan.deploy) for (const a of e.adjustments) lines.push(`                 ${e.folder}: ${a}`);
  for (const s of ctx.plan.skipped) lines.push(`                 not deployed: ${s.folder} — ${s.reason}`);
  lines.push(`  capabilities   ${[...caps].join(', ') || '(none)'}`);
  return lines;
}

/** Runs `checks` (default: all) with `o`. Never throws for a failed check: see the report. */
export async function runSuite(o: SuiteOptions, io: SuiteIO, checks: readonly Check[] = CHECKS): Promise<SuiteReport> {
  const started = Date.now();
  const id = randomBytes(3).toString('hex');
  const k: Kube = kube(o);
  const release: Release = { name: `berth-${id}`, namespace: `berth-system-${id}`, fullname: `berth-${id}-operator` };
  const tenant = `team-a-${id}`;
  const workDir = mkdtempSync(join(tmpdir(), 'berth-suite-'));
  const caps = capabilities(o);
  const notes: string[] = [];
  const ctx: SuiteContext = {
    o,
    k,
    release,
    tenant,
    workDir,
    plan: planExamples(readExamples(o.repoRoot, tenant), o),
    say: (line) => {
      notes.push(line);
      for (const l of line.split('\n')) io.out(`        ${l}`);
    },
    forwards: [],
    deleted: new Set(),
  };
  const server = (await k.kubectlResult(['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'])).stdout.trim() || '(unknown server)';
  for (const line of plan(o, caps, ctx, server)) io.out(line);
  io.out('');

  const results: CheckResult[] = [];
  let diagnostics = '';
  let failedAt: string | undefined;
  for (const check of checks) {
    const missing = check.needs.filter((c) => !caps.has(c));
    if (failedAt || missing.length) {
      const reason = failedAt ? `after the failure of ${failedAt}` : `needs ${missing.map((c) => CAPABILITY_TEXT[c]).join(' and ')}`;
      results.push({ name: check.name, title: check.title, status: 'not-run', reason, ms: 0, notes: [] });
      io.out(`${STATUS_WORD['not-run']}  ${check.name.padEnd(22)} ${check.title} — not run: ${reason}`);
      continue;
    }
    notes.length = 0;
    const t0 = Date.now();
    io.out(`....  ${check.name.padEnd(22)} ${check.title}`);
    try {
      await check.run(ctx);
      results.push({ name: check.name, title: check.title, status: 'passed', ms: Date.now() - t0, notes: [...notes] });
      io.out(`${STATUS_WORD.passed}  ${check.name.padEnd(22)} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } catch (err) {
      const reason = (err as Error).message;
      results.push({ name: check.name, title: check.title, status: 'failed', reason, ms: Date.now() - t0, notes: [...notes] });
      io.out(`${STATUS_WORD.failed}  ${check.name.padEnd(22)} ${((Date.now() - t0) / 1000).toFixed(1)} s\n${reason.split('\n').map((l) => `        ${l}`).join('\n')}`);
      failedAt = check.name;
      diagnostics = await collectDiagnostics(ctx);
      io.out(`\n----- diagnostics -----\n${diagnostics}\n----- end of diagnostics -----\n`);
    } finally {
      for (const f of ctx.forwards.splice(0)) f.stop();
    }
  }

  await cleanup(ctx, io);
  const count = (s: CheckStatus): number => results.filter((r) => r.status === s).length;
  const report: SuiteReport = {
    results,
    passed: count('passed'),
    failed: count('failed'),
    notRun: count('not-run'),
    diagnostics,
    seconds: (Date.now() - started) / 1000,
    tenant,
    release,
  };
  io.out('');
  io.out(`Ran ${report.passed + report.failed} of ${results.length} checks in ${report.seconds.toFixed(0)} s.`);
  for (const r of results.filter((x) => x.status === 'not-run')) io.out(`  not run: ${r.name} — ${r.reason}`);
  io.out(`${report.passed} passed, ${report.failed} failed, ${report.notRun} skipped`);
  return report;
}

/** Removes what the run created (McpServers first, while an operator can still finalize them). */
async function cleanup(ctx: SuiteContext, io: SuiteIO): Promise<void> {
  const { k, o, release, tenant } = ctx;
  if (o.keep) {
    io.out(`Kept for inspection (BERTH_E2E_KEEP=1): namespaces ${tenant}, ${release.namespace}, release ${release.name}${ctx.operator ? `, local operator log ${ctx.operator.logFile}` : ''}`);
    return;
  }
  const quiet = async (args: string[], timeoutMs = 60_000): Promise<void> => {
    await k.kubectlResult(args, { timeoutMs }).catch(() => undefined);
  };
  await quiet(['-n', tenant, 'delete', 'mcpservers.berth.dev', '--all', '--wait=true', '--timeout=30s']);
  await ctx.operator?.stop();
  // Anything the operator could not finalize: drop the finalizer so the namespace can go.
  const left = (await k.kubectlResult(['-n', tenant, 'get', 'mcpservers.berth.dev', '-o', 'name']).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
  for (const name of left) await quiet(['-n', tenant, 'patch', name, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  await k.helmResult(['uninstall', release.name, '-n', release.namespace, '--wait', '--timeout', '120s']).catch(() => undefined);
  await quiet(['delete', 'namespace', tenant, release.namespace, '--wait=false', '--ignore-not-found']);
  await ctx.redis?.stop();
  rmSync(ctx.workDir, { recursive: true, force: true });
}

/**
 * Runs the official MCP conformance suite (active server scenarios) against
 * `berth run -f examples/conformance/mcpserver.yaml` on a free loopback port.
 * Prints passed/failed checks per scenario and exits non-zero on any failed
 * check, on a scenario that did not run, or when Berth does not come up.
 *
 *   npm run conformance            (from the repository root)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { freePort } from '../test/helpers/free-port.ts';

const repo = resolve(import.meta.dirname, '..', '..');
const berthBin = join(repo, 'runtime', 'bin', 'berth.mjs');
const suiteBin = join(repo, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
export const CONFORMANCE_MANIFEST = join(repo, 'examples', 'conformance', 'mcpserver.yaml');

export interface ScenarioResult {
  scenario: string;
  passed: number;
  failed: number;
  warnings: number;
}

export interface ConformanceReport {
  /** Scenarios the suite announced it would run. */
  expected: number;
  scenarios: ScenarioResult[];
  passed: number;
  failed: number;
  /** The suite's own exit status. */
  suiteExit: number | null;
  /** The suite's stdout (details of failed checks live here). */
  output: string;
  /** Berth's log lines (for diagnosing failures). */
  serverLog: string[];
  ok: boolean;
}

async function waitReady(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`berth exited with status ${child.exitCode} before becoming ready`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/ready`);
      await res.text();
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`berth was not ready within ${timeoutMs} ms`);
}

/** Parses the suite's stdout into per-scenario counts. */
export function parseSuiteOutput(output: string): { expected: number; scenarios: ScenarioResult[] } {
  const expected = Number(/Running \w+ suite \((\d+) scenarios\)/.exec(output)?.[1] ?? Number.NaN);
  const warnings = new Map<string, number>();
  let current: string | undefined;
  for (const line of output.split('\n')) {
    const start = /^=== Running scenario: (\S+) ===$/.exec(line.trim());
    if (start) current = start[1];
    const tally = /^Passed: \d+\/\d+, \d+ failed, (\d+) warnings$/.exec(line.trim());
    if (tally && current) warnings.set(current, Number(tally[1]));
  }
  const summary = output.slice(output.indexOf('=== SUMMARY ==='));
  const scenarios: ScenarioResult[] = [];
  for (const m of summary.matchAll(/^[✓✗] (\S+): (\d+) passed, (\d+) failed$/gmu)) {
    const scenario = m[1] as string;
    scenarios.push({ scenario, passed: Number(m[2]), failed: Number(m[3]), warnings: warnings.get(scenario) ?? 0 });
  }
  return { expected, scenarios };
}

/** Starts Berth, runs the active server suite against it, stops Berth. */
export async function runConformance(opts: { suite?: string; readyTimeoutMs?: number; suiteTimeoutMs?: number } = {}): Promise<ConformanceReport> {
  const port = await freePort();
  const serverLog: string[] = [];
  const server = spawn(process.execPath, [berthBin, 'run', '-f', CONFORMANCE_MANIFEST, '--port', String(port)], {
    cwd: repo,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, BERTH_LOG_LEVEL: process.env.BERTH_LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (d: Buffer): void => {
    for (const line of d.toString().split('\n')) if (line.trim()) serverLog.push(line);
  };
  server.stdout.on('data', collect);
  server.stderr.on('data', collect);
  try {
    await waitReady(port, server, opts.readyTimeoutMs ?? 30_000);
    const suite = spawn(process.execPath, [suiteBin, 'server', '--url', `http://127.0.0.1:${port}/mcp`, '--suite', opts.suite ?? 'active'], {
      cwd: repo,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    suite.stdout.on('data', (d: Buffer) => (output += d.toString()));
    suite.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const suiteExit = await new Promise<number | null>((done) => {
      const timer = setTimeout(() => suite.kill('SIGKILL'), opts.suiteTimeoutMs ?? 240_000);
      suite.on('close', (code) => {
        clearTimeout(timer);
        done(code);
      });
    });
    const { expected, scenarios } = parseSuiteOutput(output);
    const passed = scenarios.reduce((n, s) => n + s.passed, 0);
    const failed = scenarios.reduce((n, s) => n + s.failed, 0);
    const ok = suiteExit === 0 && failed === 0 && Number.isInteger(expected) && expected > 0 && scenarios.length === expected && scenarios.every((s) => s.passed > 0);
    return { expected, scenarios, passed, failed, suiteExit, output, serverLog, ok };
  } finally {
    if (server.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      const timer = setTimeout(() => server.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  }
}

/** Human-readable table of a report. */
export function formatReport(report: ConformanceReport): string {
  const width = Math.max(8, ...report.scenarios.map((s) => s.scenario.length));
  const rows = report.scenarios.map((s) => `${s.failed === 0 ? '✓' : '✗'} ${s.scenario.padEnd(width)}  ${String(s.passed).padStart(3)} passed  ${String(s.failed).padStart(3)} failed${s.warnings ? `  ${s.warnings} warnings` : ''}`);
  return [
    `MCP conformance (server, active suite) against Berth: ${report.scenarios.length}/${report.expected} scenarios ran`,
    ...rows,
    `Total: ${report.passed} passed, ${report.failed} failed`,
  ].join('\n');
}

if (import.meta.main) {
  try {
    const report = await runConformance();
    process.stdout.write(`${formatReport(report)}\n`);
    if (!report.ok) {
      const details = report.output.includes('=== Failed Checks ===') ? report.output : report.output.slice(-4000);
      process.stderr.write(`\nConformance failed (suite exit ${report.suiteExit}).\n${details}\n--- berth log (last 50 lines) ---\n${report.serverLog.slice(-50).join('\n')}\n`);
      process.exitCode = 1;
    }
  } catch (error) {
    process.stderr.write(`conformance: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}

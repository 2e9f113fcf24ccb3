/**
 * The official MCP conformance suite through a `remote` backend: the
 * upstream is `berth run -f examples/conformance/mcpserver.yaml` on one port,
 * a second `berth run` with `source.remote` pointing at it serves the suite
 * on another. Every active scenario must pass with zero failed checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatReport, parseSuiteOutput } from '../scripts/conformance.ts';
import { RUNTIME_DIR } from './fixtures/stdio/harness.ts';
import { startBerthRun } from './fixtures/stdio/upstreams.ts';

const REPO = join(RUNTIME_DIR, '..');
const SUITE = join(REPO, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');

test('the conformance suite passes through a remote backend in front of the conformance server', { timeout: 240_000 }, async (t) => {
  const upstream = await startBerthRun(join(REPO, 'examples', 'conformance', 'mcpserver.yaml'));
  t.after(() => upstream.close());
  const dir = mkdtempSync(join(tmpdir(), 'berth-remote-conformance-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const manifest = join(dir, 'mcpserver.yaml');
  writeFileSync(
    manifest,
    `apiVersion: berth.dev/v1alpha1
kind: McpServer
metadata: { name: conformance-remote }
spec:
  source:
    remote:
      url: ${upstream.url}
      timeoutSeconds: 30
  auth: { none: {} }
`,
  );
  const front = await startBerthRun(manifest);
  t.after(() => front.close());

  const suite = spawn(process.execPath, [SUITE, 'server', '--url', front.url, '--suite', 'active'], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1', FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  suite.stdout.on('data', (d: Buffer) => (output += d.toString()));
  suite.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exit = await new Promise<number | null>((done) => {
    const timer = setTimeout(() => suite.kill('SIGKILL'), 200_000);
    suite.on('close', (code) => {
      clearTimeout(timer);
      done(code);
    });
  });
  const { expected, scenarios } = parseSuiteOutput(output);
  const passed = scenarios.reduce((n, s) => n + s.passed, 0);
  const failed = scenarios.reduce((n, s) => n + s.failed, 0);
  t.diagnostic(formatReport({ expected, scenarios, passed, failed, suiteExit: exit, output, serverLog: [], ok: failed === 0 }));
  const details = output.includes('=== Failed Checks ===') ? output.slice(output.indexOf('=== Failed Checks ===')) : output.slice(-3000);
  assert.ok(Number.isInteger(expected) && expected > 0, 'the suite announced its scenarios');
  assert.equal(scenarios.length, expected, 'every active scenario ran');
  assert.deepEqual(scenarios.filter((s) => s.failed > 0 || s.passed === 0).map((s) => s.scenario), [], `${details}\n--- front log ---\n${front.log().slice(-3000)}`);
  assert.equal(exit, 0);
});

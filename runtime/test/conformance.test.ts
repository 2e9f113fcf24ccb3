import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatReport, runConformance } from '../scripts/conformance.ts';

test('the official MCP conformance suite passes against berth run (every active server scenario, zero failures)', { timeout: 300_000 }, async (t) => {
  const report = await runConformance();
  t.diagnostic(formatReport(report));
  assert.ok(report.expected > 0 && Number.isInteger(report.expected), 'the suite announced its scenarios');
  assert.equal(report.scenarios.length, report.expected, 'every active scenario was counted');
  const failing = report.scenarios.filter((s) => s.failed > 0 || s.passed === 0);
  assert.deepEqual(failing, [], report.output.slice(report.output.indexOf('=== Failed Checks ===')));
  assert.equal(report.failed, 0);
  assert.equal(report.suiteExit, 0);
  assert.ok(report.ok);
});

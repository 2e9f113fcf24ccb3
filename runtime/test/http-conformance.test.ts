/**
 * The official conformance suite's transport-level server scenarios against
 * the runtime (module backend serving a small fixture): SSE priming and
 * retry, multiple streams, DNS-rebinding protection, progress, logging,
 * sampling, elicitation and subscriptions over legacy sessions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp } from './helpers/http-app.ts';
import { fixtureBackend } from './helpers/http-fixture.ts';
import { conformanceFactory } from './helpers/conformance-fixture.ts';

const cli = join(createRequire(import.meta.url).resolve('@modelcontextprotocol/conformance/package.json'), '..', 'dist', 'index.js');

const SCENARIOS = [
  'server-initialize',
  'ping',
  'logging-set-level',
  'tools-call-simple-text',
  'tools-call-with-logging',
  'tools-call-with-progress',
  'tools-call-sampling',
  'tools-call-elicitation',
  'server-sse-polling',
  'server-sse-multiple-streams',
  'resources-subscribe',
  'resources-unsubscribe',
  'dns-rebinding-protection',
];

test('the conformance suite\'s transport scenarios pass with no failures or warnings', async (t) => {
  const app = await startApp({ backend: fixtureBackend(conformanceFactory) });
  const cwd = mkdtempSync(join(tmpdir(), 'berth-conformance-'));
  try {
    const url = `http://localhost:${app.port}/mcp`;
    for (const scenario of SCENARIOS) {
      const { code, output } = await new Promise<{ code: number; output: string }>((resolve) =>
        execFile(process.execPath, [cli, 'server', '--url', url, '--scenario', scenario], { cwd, timeout: 60_000 }, (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, output: `${stdout}\n${stderr}` }),
        ),
      );
      const summary = /Passed: (\d+)\/(\d+), (\d+) failed, (\d+) warnings/.exec(output);
      t.diagnostic(`${scenario}: ${summary?.[0] ?? 'no summary'}`);
      assert.equal(code, 0, `${scenario} exited ${code}:\n${output}`);
      assert.ok(summary, `${scenario} printed no summary:\n${output}`);
      assert.equal(summary[1], summary[2], `${scenario}: ${summary[0]}\n${output}`);
      assert.equal(summary[4], '0', `${scenario} has warnings:\n${output}`);
    }
  } finally {
    rmSync(cwd, { recursive: true, force: true });
    await app.close();
  }
});

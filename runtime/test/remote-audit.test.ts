// The policy pipeline audits a remote upstream's tools with Berth's own
// listing request; a 2026-07-28 upstream must get it with an envelope, or
// /admin/audit (and McpServer status) would report no tools.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadLocalRuntimeConfig } from '../src/config/manifest.ts';
import { startRuntime } from '../src/main.ts';
import { repoRoot } from './cli-helpers.ts';

test('a remote backend over a modern upstream reports the upstream tools in /admin/audit', async () => {
  const quiet = { logger: pino({ level: 'silent' }), handleSignals: false, handleProcessErrors: false } as const;
  const upstream = await startRuntime(loadLocalRuntimeConfig(join(repoRoot, 'examples', 'hello', 'mcpserver.yaml'), { port: 0, env: {} }), quiet);
  const dir = mkdtempSync(join(tmpdir(), 'berth-remote-audit-'));
  writeFileSync(join(dir, 'token'), 'tok');
  writeFileSync(
    join(dir, 'mcpserver.yaml'),
    `apiVersion: berth.dev/v1alpha1
kind: McpServer
metadata: { name: front, namespace: test }
spec:
  source: { remote: { url: ${JSON.stringify(upstream.url)} } }
  auth: { none: {} }
`,
  );
  const config = loadLocalRuntimeConfig(join(dir, 'mcpserver.yaml'), { port: 0, env: {} });
  config.runtime.internalTokenFile = join(dir, 'token');
  const front = await startRuntime(config, quiet);
  try {
    const res = await fetch(`${front.url.replace(/\/mcp$/, '')}/admin/audit?refresh=1`, { headers: { authorization: 'Bearer tok' } });
    assert.equal(res.status, 200);
    const report = (await res.json()) as { tools: Array<{ name: string }>; listing: { tools: number } };
    assert.ok(report.tools.some((t) => t.name === 'calculate'), `upstream tools audited: ${JSON.stringify(report.tools.map((t) => t.name))}`);
    assert.equal(report.listing.tools, report.tools.length);
  } finally {
    await front.stop();
    await upstream.stop();
  }
});

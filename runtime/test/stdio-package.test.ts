/**
 * `source.stdio.package`: the published package is installed from the npm
 * registry into the tenant's packages folder once, its command is found in
 * that folder's `.bin`, and a second start reuses the install.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStdioBackend } from '../src/backend/stdio/index.ts';
import type { ClientContext, ExchangeSink } from '../src/backend/types.ts';
import { ANON, captureLogger, runtimeConfig } from './fixtures/stdio/harness.ts';

const SPEC = '@modelcontextprotocol/server-everything@2026.8.31';
const sink: ExchangeSink = { notification: () => undefined, request: async () => Promise.reject(new Error('none')) };
const ctx: ClientContext = { era: 'modern', protocolVersion: '2026-07-28', principal: ANON, tenant: 'test/stdio', signal: new AbortController().signal };

test('a stdio package is installed once into the packages folder and its command is run from there', { timeout: 180_000 }, async (t) => {
  const packagesDir = mkdtempSync(join(tmpdir(), 'berth-packages-'));
  t.after(() => rmSync(packagesDir, { recursive: true, force: true }));
  const config = runtimeConfig({ stdio: { package: SPEC, command: ['mcp-server-everything'], args: ['stdio'] } }, { runtime: { packagesDir } });

  for (const round of [1, 2]) {
    const { logger, lines } = captureLogger();
    const b = createStdioBackend(config, logger);
    const t0 = Date.now();
    await b.start();
    const ms = Date.now() - t0;
    t.diagnostic(`round ${round}: start took ${ms} ms`);
    const started = lines.find((l) => l.msg === 'Started a stdio server process');
    assert.ok(started);
    assert.ok((started.args as string[])[0]!.startsWith(join(packagesDir, 'node_modules')), `runs the installed copy: ${JSON.stringify(started.args)}`);
    const res = await b.handle(ctx, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { message: `installed ${round}` }, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'c', version: '1' } } } }, sink);
    assert.ok('result' in res);
    assert.match(JSON.stringify(res.result.content), new RegExp(`Echo: installed ${round}`));
    if (round === 2) assert.ok(!lines.some((l) => typeof l.npm === 'string'), 'the second start does not run npm');
    await b.close(Date.now() + 2000);
  }
});

/**
 * Children see only the environment they are given (plus PATH and HOME):
 * never the runtime's own environment or secrets, never the client's token
 * or identity.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStdioBackend } from '../src/backend/stdio/index.ts';
import type { ClientContext, ExchangeSink } from '../src/backend/types.ts';
import { captureLogger, FIXTURES, runtimeConfig } from './fixtures/stdio/harness.ts';

const FIXTURE = join(FIXTURES, 'fixture-server.mjs');
const sink: ExchangeSink = { notification: () => undefined, request: async () => Promise.reject(new Error('no client')) };

test('a child gets PATH, HOME and its configured env only; no runtime secret or client credential reaches it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-secrets-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const secretsDir = join(dir, 'secrets');
  mkdirSync(join(secretsDir, 'api'), { recursive: true });
  mkdirSync(join(secretsDir, 'unrelated'), { recursive: true });
  writeFileSync(join(secretsDir, 'api', 'token'), 'child-api-token-123');
  writeFileSync(join(secretsDir, 'unrelated', 'password'), 'unreferenced-secret-456');
  const configMapsDir = join(dir, 'configmaps');
  mkdirSync(join(configMapsDir, 'settings'), { recursive: true });
  writeFileSync(join(configMapsDir, 'settings', 'region'), 'eu-west');

  // Secrets the runtime itself holds in its environment.
  const runtimeSecrets = { BERTH_REDIS_URL: 'redis://:runtime-redis-password@redis:6379', BERTH_TEST_RUNTIME_SECRET: 'runtime-secret-789', AWS_SECRET_ACCESS_KEY: 'aws-secret-000' };
  Object.assign(process.env, runtimeSecrets);
  t.after(() => {
    for (const k of Object.keys(runtimeSecrets)) delete process.env[k];
  });

  const { logger } = captureLogger();
  for (const mode of ['shared', 'perSession'] as const) {
    const b = createStdioBackend(
      runtimeConfig(
        {
          stdio: {
            command: [FIXTURE],
            args: ['--protocol=2025-06-18'],
            instances: { mode, min: 1, max: 2 },
            env: [
              { name: 'API_TOKEN', valueFrom: { secretKeyRef: { name: 'api', key: 'token' } } },
              { name: 'REGION', valueFrom: { configMapKeyRef: { name: 'settings', key: 'region' } } },
              { name: 'MODE', value: 'literal' },
              { name: 'MAYBE', valueFrom: { secretKeyRef: { name: 'missing', key: 'x', optional: true } } },
            ],
          },
        },
        { runtime: { secretsDir, configMapsDir } },
      ),
      logger,
    );
    await b.start();
    const ctx: ClientContext = {
      era: 'legacy',
      protocolVersion: '2025-06-18',
      session: { id: 'secret-session', initialize: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'ide', version: '1' } } },
      principal: { id: 'oauth:https://idp.example#alice', kind: 'oauth', scopes: ['mcp'], clientId: 'ide-client' },
      tenant: 'test/stdio',
      signal: new AbortController().signal,
    };
    const res = await b.handle(ctx, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'dump-env', arguments: {} } }, sink);
    assert.ok('result' in res);
    const dump = JSON.parse((res.result.content as Array<{ text: string }>)[0]!.text) as { env: Record<string, string>; argv: string[] };
    const keys = Object.keys(dump.env).sort();
    assert.deepEqual(keys, ['API_TOKEN', 'HOME', 'MODE', 'PATH', 'REGION'], `${mode}: child env keys`);
    assert.equal(dump.env.API_TOKEN, 'child-api-token-123');
    assert.equal(dump.env.REGION, 'eu-west');
    assert.equal(dump.env.MODE, 'literal');
    const text = JSON.stringify(dump);
    // The backend never sees the client's token (ClientContext carries the principal only); nor does
    // the principal's identity reach the child.
    for (const v of [...Object.values(runtimeSecrets), 'unreferenced-secret-456', 'alice', 'ide-client']) {
      assert.ok(!text.includes(v), `${mode}: ${v} reached the child`);
    }
    assert.deepEqual(dump.argv.slice(2), ['--protocol=2025-06-18']);
    await b.close(Date.now() + 2000);
  }
});

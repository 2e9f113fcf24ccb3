/** API keys from a mounted Secret directory, and the explicit `none` mode. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { parseRuntimeConfig, type RuntimeConfigInput } from '../src/config/runtime-config.ts';
import { createAuthenticator } from '../src/security/authenticator.ts';
import { matchKey, readKeyDir } from '../src/security/api-keys.ts';
import type { Authenticator } from '../src/security/types.ts';

const dirs: string[] = [];
const auths: Authenticator[] = [];
after(async () => {
  await Promise.all(auths.map((a) => a.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function capture(): { logger: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const stream = new Writable({ write: (chunk, _enc, cb) => (out.push(String(chunk)), cb()) });
  return { logger: pino({ level: 'info' }, stream), lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

function config(auth: Record<string, unknown>, secretsDir: string) {
  return parseRuntimeConfig({
    apiVersion: 'berth.dev/v1alpha1',
    kind: 'RuntimeConfig',
    tenant: { namespace: 'team-a', name: 'files' },
    spec: { source: { module: { path: '/srv/server.js' } }, auth },
    runtime: { secretsDir },
  } as RuntimeConfigInput);
}

/** Lays out a Secret the way the kubelet mounts it: `..data` → timestamped dir, one symlink per key. */
function mountSecret(root: string, name: string, data: Record<string, string>): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const stamp = join(dir, `..${Date.now()}_${Math.random().toString(16).slice(2)}`);
  mkdirSync(stamp);
  for (const [k, v] of Object.entries(data)) writeFileSync(join(stamp, k), v);
  const tmpLink = join(dir, '..data_tmp');
  symlinkSync(stamp.split('/').pop()!, tmpLink);
  renameSync(tmpLink, join(dir, '..data'));
  for (const k of Object.keys(data)) {
    try {
      symlinkSync(join('..data', k), join(dir, k));
    } catch {
      // already linked from a previous version
    }
  }
  return dir;
}

test('keys authenticate by Bearer or X-API-Key as apikey:<name>; wrong and missing keys get 401', async () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-keys-'));
  dirs.push(root);
  mountSecret(root, 'mcp-keys', { alice: 'alice-key-0123456789abcdef\n', bob: 'bob-key-0123456789abcdef' });
  const auth = createAuthenticator(config({ apiKeys: { secretRef: { name: 'mcp-keys' } } }, root), { logger: pino({ level: 'silent' }) });
  auths.push(auth);
  assert.equal(auth.mode, 'apiKeys');
  const a = await auth.authenticate({ headers: { authorization: 'Bearer alice-key-0123456789abcdef' }, path: '/mcp' });
  assert.ok(a.ok && a.principal.id === 'apikey:alice' && a.principal.kind === 'apiKey');
  const b = await auth.authenticate({ headers: { 'x-api-key': 'bob-key-0123456789abcdef' }, path: '/mcp' });
  assert.ok(b.ok && b.principal.id === 'apikey:bob');
  for (const headers of [{}, { authorization: 'Bearer alice-key-0123456789abcdeX' }, { 'x-api-key': 'alice' }, { authorization: 'Bearer ' }]) {
    const out = await auth.authenticate({ headers, path: '/mcp' });
    assert.equal(out.ok, false, JSON.stringify(headers));
    if (!out.ok) {
      assert.equal(out.status, 401);
      assert.match(out.headers['www-authenticate']!, /^Bearer realm="berth"/);
    }
  }
});

test('only digests are compared, touching every entry', async () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-keys-'));
  dirs.push(root);
  const dir = mountSecret(root, 'k', { one: 'key-one-0123456789', two: 'key-two-0123456789' });
  const entries = await readKeyDir(dir);
  assert.equal(entries.length, 2, 'dot entries (..data, timestamp dir) are skipped');
  for (const e of entries) assert.equal(e.digest.length, 32);
  assert.ok(!JSON.stringify(entries).includes('key-one'), 'keys are not kept in memory');
  assert.equal(matchKey(entries, 'key-two-0123456789')?.id, 'apikey:two');
  assert.equal(matchKey(entries, 'key-three'), undefined);
});

test('a rotated Secret takes effect without a restart', async () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-keys-'));
  dirs.push(root);
  mountSecret(root, 'mcp-keys', { alice: 'old-alice-key-0123456789' });
  const auth = createAuthenticator(config({ apiKeys: { secretRef: { name: 'mcp-keys' } } }, root), { logger: pino({ level: 'silent' }), apiKeyPollMs: 100 });
  auths.push(auth);
  const req = (key: string) => ({ headers: { 'x-api-key': key }, path: '/mcp' });
  assert.equal((await auth.authenticate(req('old-alice-key-0123456789'))).ok, true);
  mountSecret(root, 'mcp-keys', { alice: 'new-alice-key-0123456789', carol: 'carol-key-0123456789' });
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !(await auth.authenticate(req('new-alice-key-0123456789'))).ok) await new Promise((r) => setTimeout(r, 50));
  assert.equal((await auth.authenticate(req('new-alice-key-0123456789'))).ok, true, 'new key accepted');
  assert.equal((await auth.authenticate(req('old-alice-key-0123456789'))).ok, false, 'old key refused');
  const c = await auth.authenticate(req('carol-key-0123456789'));
  assert.ok(c.ok && c.principal.id === 'apikey:carol');
});

test('a missing key directory refuses every key and logs an error', async () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-keys-'));
  dirs.push(root);
  const { logger, lines } = capture();
  const auth = createAuthenticator(config({ apiKeys: { secretRef: { name: 'absent' } } }, root), { logger });
  auths.push(auth);
  const out = await auth.authenticate({ headers: { 'x-api-key': 'anything-at-all-123' }, path: '/mcp' });
  assert.equal(out.ok, false);
  assert.ok(lines().some((l) => l['level'] === 50 && /Cannot read API keys/.test(String(l['msg']))));
});

test('a secret name that would escape the secrets dir is rejected', () => {
  assert.throws(() => createAuthenticator(config({ apiKeys: { secretRef: { name: '..' } } }, '/tmp'), { logger: pino({ level: 'silent' }) }), /invalid secret name/);
});

test('auth.none is explicit, logs a warning, and yields the anonymous principal', async () => {
  const { logger, lines } = capture();
  const auth = createAuthenticator(config({ none: {} }, '/tmp'), { logger });
  assert.equal(auth.mode, 'none');
  const out = await auth.authenticate({ headers: {}, path: '/mcp' });
  assert.ok(out.ok && out.principal.id === 'anonymous');
  const warn = lines().find((l) => l['level'] === 40);
  assert.ok(warn && /Authentication is disabled/.test(String(warn['msg'])), JSON.stringify(lines()));
  assert.throws(() => config({}, '/tmp'), /exactly one of oauth, apiKeys, none/);
});

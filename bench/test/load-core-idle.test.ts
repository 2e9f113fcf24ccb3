// The load generator's core is set to poll when idle for the ladder and always put back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeLoadCoreIdle, pollLoadCoreWhileIdle, POLL_ONLY } from '../src/load-core-idle.ts';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

function fakeSysfs(value: string): { path: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-load-core-'));
  const path = join(dir, 'pm_qos_resume_latency_us');
  writeFileSync(path, `${value}\n`);
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('the wording names what was done, or why the core was left as found', () => {
  assert.match(describeLoadCoreIdle({ set: true }), /^polling when idle for the run \(PM QoS resume latency "n\/a", restored after\)/);
  assert.equal(describeLoadCoreIdle({ alreadyPolling: true }), 'polling when idle as found (PM QoS resume latency "n/a")');
  assert.equal(describeLoadCoreIdle({ reason: 'no such file' }), 'idle as found (no such file)');
});

test('sets polling, and restore() puts the old value back once', () => {
  const f = fakeSysfs('0');
  try {
    const idle = pollLoadCoreWhileIdle(1, { enabled: true, path: f.path });
    assert.equal(readFileSync(f.path, 'utf8'), POLL_ONLY);
    assert.match(idle.description, /^polling when idle for the run/);
    idle.restore();
    assert.equal(readFileSync(f.path, 'utf8'), '0');
    writeFileSync(f.path, '7');
    idle.restore();
    assert.equal(readFileSync(f.path, 'utf8'), '7', 'a second restore changes nothing');
  } finally {
    f.cleanup();
  }
});

test('disabled, missing, unwritable or already polling: left as found, and said so', () => {
  const f = fakeSysfs('0');
  try {
    const off = pollLoadCoreWhileIdle(1, { enabled: false, path: f.path });
    assert.equal(off.description, 'idle as found (--load-core-idle as-found)');
    assert.equal(readFileSync(f.path, 'utf8').trim(), '0');
    assert.match(pollLoadCoreWhileIdle(1, { enabled: true, path: join(f.path, 'absent') }).description, /^idle as found \(no /);
    writeFileSync(f.path, POLL_ONLY);
    assert.match(pollLoadCoreWhileIdle(1, { enabled: true, path: f.path }).description, /^polling when idle as found/);
    // A file that reads but refuses writes, even to root.
    assert.match(pollLoadCoreWhileIdle(1, { enabled: true, path: '/proc/version' }).description, /^idle as found \(\/proc\/version not writable: E/);
  } finally {
    f.cleanup();
  }
});

test('a run killed without restoring: the watchdog puts the old value back', { timeout: 20_000 }, async () => {
  const f = fakeSysfs('25');
  try {
    const script = `import { pollLoadCoreWhileIdle } from ${JSON.stringify(join(src, 'load-core-idle.ts'))};
pollLoadCoreWhileIdle(1, { enabled: true, path: ${JSON.stringify(f.path)} });
process.stdout.write('set\\n');
setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    assert.equal(readFileSync(f.path, 'utf8'), POLL_ONLY);
    child.kill('SIGKILL');
    const deadline = Date.now() + 10_000;
    while (readFileSync(f.path, 'utf8') !== '25' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(readFileSync(f.path, 'utf8'), '25');
  } finally {
    f.cleanup();
  }
});

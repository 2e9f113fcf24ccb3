/** The batched stdout log stream: info lines gathered briefly, warnings at once, nothing lost on exit. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { BatchedLogStream } from '../src/observability/log-stream.ts';

const here = import.meta.dirname;

function fileStream(flushMs: number, maxBytes = 64 * 1024) {
  const path = join(mkdtempSync(join(tmpdir(), 'berth-log-')), 'out.log');
  const fd = openSync(path, 'w');
  const stream = new BatchedLogStream(fd, flushMs, maxBytes);
  return { stream, lines: () => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string }), close: () => closeSync(fd) };
}

test('info lines wait for the flush interval, then arrive together and in order', async () => {
  const { stream, lines, close } = fileStream(40);
  const log = pino({ level: 'info' }, stream);
  log.info('one');
  log.info('two');
  assert.deepEqual(lines(), []);
  await new Promise((r) => setTimeout(r, 120));
  assert.deepEqual(lines().map((l) => l.msg), ['one', 'two']);
  close();
});

test('a warning is written at once, after the info lines before it', () => {
  const { stream, lines, close } = fileStream(60_000);
  const log = pino({ level: 'info' }, stream);
  log.info('before');
  log.warn('problem');
  assert.deepEqual(lines().map((l) => l.msg), ['before', 'problem']);
  log.info('after');
  assert.deepEqual(lines().map((l) => l.msg), ['before', 'problem']);
  stream.flushSync();
  assert.deepEqual(lines().map((l) => l.msg), ['before', 'problem', 'after']);
  close();
});

test("pino's logger.flush() writes the gathered lines now, and calls back", () => {
  const { stream, lines, close } = fileStream(60_000);
  const log = pino({ level: 'info' }, stream);
  log.info('Stopping');
  assert.deepEqual(lines(), []);
  let called = false;
  log.flush(() => (called = true));
  assert.deepEqual(lines().map((l) => l.msg), ['Stopping']);
  assert.ok(called);
  close();
});

test('a full batch is written without waiting', () => {
  const { stream, lines, close } = fileStream(60_000, 1000);
  const log = pino({ level: 'info' }, stream);
  for (let i = 0; i < 30; i++) log.info({ i }, 'line');
  const written = lines().length;
  assert.ok(written >= 20 && written < 30, `${written} lines written before the flush`);
  stream.flushSync();
  assert.equal(lines().length, 30);
  close();
});

test('the runtime logger loses no line when the process exits or crashes right after logging', () => {
  const logger = join(here, '..', 'src', 'observability', 'logger.ts');
  for (const ending of ['process.exit(0)', 'setImmediate(() => { throw new Error("boom") })']) {
    const script = `import { createLogger } from ${JSON.stringify(logger)}; const log = createLogger({ tenant: 't/x' }); for (let i = 0; i < 3; i++) log.info({ i }, 'last words'); ${ending};`;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    const lines = out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; i: number; tenant: string });
    assert.deepEqual(lines.map((l) => [l.msg, l.i, l.tenant]), [0, 1, 2].map((i) => ['last words', i, 't/x']), `${ending}: ${out.stdout}${out.stderr}`);
  }
});

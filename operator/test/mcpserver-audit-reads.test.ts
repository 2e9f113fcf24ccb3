import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditReads, type AuditRead } from '../src/mcpserver/audit-reads.ts';
import type { AuditObservation } from '../src/mcpserver/status.ts';

const OK: AuditObservation = { kind: 'ok', tools: { count: 2, digest: 'sha256:ab', findings: [], findingsTotal: 0 } };
const DOWN: AuditObservation = { kind: 'unavailable', message: 'no answer within 2000 ms' };

/** A read per call that the test settles by hand, and the URLs asked for. */
function manualReads() {
  const pending: Array<{ url: string; settle: (o: AuditObservation) => void }> = [];
  const read: AuditRead = (url) => new Promise((resolve) => pending.push({ url, settle: resolve }));
  return { read, pending };
}

function reads(read: AuditRead, extra: Partial<ConstructorParameters<typeof AuditReads>[0]> = {}) {
  const requeued: string[] = [];
  let clock = 1_000_000;
  const reads = new AuditReads({ read, refreshMs: 600_000, timeoutMs: 2000, waitMs: 50, concurrency: 16, onRead: (k) => requeued.push(k), now: () => clock, ...extra });
  return { reads, requeued, advance: (ms: number) => (clock += ms) };
}

test('a read that answers within the wait goes into the same pass, and is not repeated before the refresh', async () => {
  let calls = 0;
  const { reads: r, requeued, advance } = reads(async () => {
    calls++;
    return OK;
  });
  const first = await r.take('ns/a', 'h1', 'http://a/admin/audit', 't');
  assert.deepEqual(first.audit, OK);
  assert.equal(first.nextInMs, 600_000);
  advance(10_000);
  const second = await r.take('ns/a', 'h1', 'http://a/admin/audit', 't');
  assert.equal(second.audit, undefined, 'already written: the previous condition stays');
  assert.equal(second.nextInMs, 590_000);
  assert.equal(calls, 1);
  await sleep(5);
  assert.deepEqual(requeued, [], 'the pass took it itself');
});

test('a hung read does not hold the pass: it returns after the wait, and the late answer queues the key once', async () => {
  const m = manualReads();
  const { reads: r, requeued } = reads(m.read);
  const started = performance.now();
  const pass = await r.take('ns/slow', 'h1', 'http://slow/admin/audit', 't');
  const waited = performance.now() - started;
  assert.deepEqual(pass, {}, 'no audit yet, and no requeue timer: the read will queue the key');
  assert.ok(waited >= 45 && waited < 1000, `waited ${waited} ms`);
  assert.equal(m.pending.length, 1);

  // Another pass while it is still running starts no second read.
  assert.deepEqual(await r.take('ns/slow', 'h1', 'http://slow/admin/audit', 't'), {});
  assert.equal(m.pending.length, 1);

  m.pending[0]!.settle(DOWN);
  await sleep(5);
  assert.deepEqual(requeued, ['ns/slow']);
  const next = await r.take('ns/slow', 'h1', 'http://slow/admin/audit', 't');
  assert.deepEqual(next.audit, DOWN);
  assert.equal(next.nextInMs, 60_000, 'an unavailable runtime is tried again within a minute');
  assert.equal(m.pending.length, 1, 'the finished read was used, not repeated');
});

test('a new config hash makes a read due before the refresh; a read of the old one is not shown for it', async () => {
  const m = manualReads();
  const { reads: r, requeued } = reads(m.read);
  const first = r.take('ns/a', 'h1', 'u', 't');
  await sleep(0);
  m.pending[0]!.settle(OK);
  assert.deepEqual((await first).audit, OK);

  // A rollout: the pods now serve h2, ten seconds into a ten-minute refresh.
  assert.deepEqual(await r.take('ns/a', 'h2', 'u', 't'), {});
  assert.equal(m.pending.length, 2, 'read again at once');

  // Another rollout while that read runs: its answer (for h2) is not shown for h3, and h3 is read next.
  const third = r.take('ns/a', 'h3', 'u', 't');
  m.pending[1]!.settle(OK);
  assert.deepEqual(await third, {});
  await sleep(0);
  assert.equal(m.pending.length, 3);
  m.pending[2]!.settle(DOWN);
  await sleep(5);
  assert.deepEqual(requeued, ['ns/a']);
  assert.deepEqual((await r.take('ns/a', 'h3', 'u', 't')).audit, DOWN);
});

test('reads are bounded: beyond the pool they queue, and start as others finish', async () => {
  const m = manualReads();
  const { reads: r, requeued } = reads(m.read, { concurrency: 3, waitMs: 5 });
  const keys = Array.from({ length: 8 }, (_, i) => `ns/s${i}`);
  for (const k of keys) assert.deepEqual(await r.take(k, 'h', `http://${k}`, 't'), {});
  assert.equal(r.running, 3);
  assert.equal(m.pending.length, 3);
  for (let done = 0; done < 8; done++) {
    m.pending[done]!.settle(OK);
    await sleep(2);
    assert.ok(r.running <= 3);
  }
  assert.equal(m.pending.length, 8, 'every due read ran in the end');
  assert.deepEqual(requeued.sort(), [...keys].sort());
});

test('a read queued behind a full pool does not hold the pass at all', async () => {
  const m = manualReads();
  const { reads: r } = reads(m.read, { concurrency: 1, waitMs: 200 });
  assert.deepEqual(await r.take('ns/first', 'h', 'u1', 't'), {});
  const started = performance.now();
  assert.deepEqual(await r.take('ns/queued', 'h', 'u2', 't'), {});
  const waited = performance.now() - started;
  assert.ok(waited < 100, `waited ${waited} ms for a read that had not started`);
  assert.deepEqual(
    m.pending.map((p) => p.url),
    ['u1'],
  );
  m.pending[0]!.settle(OK);
  await sleep(5);
  assert.deepEqual(
    m.pending.map((p) => p.url),
    ['u1', 'u2'],
    'it starts when the slot frees',
  );
});

test('a read that throws counts as unavailable; a forgotten key is not queued when its read ends', async () => {
  const { reads: r, requeued } = reads(async () => {
    throw new Error('socket hang up');
  });
  const pass = await r.take('ns/a', 'h', 'u', 't');
  assert.deepEqual(pass.audit, { kind: 'unavailable', message: 'socket hang up' });

  const m = manualReads();
  const { reads: r2, requeued: requeued2 } = reads(m.read);
  await r2.take('ns/gone', 'h', 'u', 't');
  r2.forget('ns/gone');
  m.pending[0]!.settle(OK);
  await sleep(5);
  assert.deepEqual(requeued2, []);
  assert.deepEqual(requeued, []);
});

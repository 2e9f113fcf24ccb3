import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventRing } from '../src/store/memory/event-ring.ts';
import { createMemoryEventStore } from '../src/store/memory/index.ts';
import type { JsonRpcMessage } from '../src/protocol/jsonrpc.ts';

const lcg = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const texts = ['', 'a', 'héllo wörld', '日本語のテキスト', '🚀 emoji 🚀', 'x'.repeat(3000), '"quoted" \\ back'];

test('EventRing: push/shift agree with an array over a random sequence (growth, compaction, multi-byte text, priming events)', () => {
  const ring = new EventRing();
  const ref: Array<{ seq: number; stream: string; prev: number; at: number; json: string | null }> = [];
  const rand = lcg(3);
  let seq = 0;
  let maxArena = 0;
  for (let step = 0; step < 20_000; step++) {
    // Phases of growth and of shrinking, so the ring wraps and the arena compacts and shrinks.
    const growing = Math.floor(step / 2500) % 2 === 0;
    if (rand() < (growing ? 0.7 : 0.3)) {
      seq += rand() < 0.01 && ref.length === 0 ? 5 : 1;
      const json = rand() < 0.1 ? null : JSON.stringify({ t: texts[Math.floor(rand() * texts.length)], n: step });
      const ev = { seq, stream: `s${Math.floor(rand() * 5)}`, prev: Math.floor(rand() * 1000), at: step * 1.5, json };
      ring.push(ev.seq, ev.stream, ev.prev, ev.at, ev.json);
      ref.push(ev);
    } else {
      ring.shift();
      ref.shift();
    }
    maxArena = Math.max(maxArena, ring.arenaBytes);
    assert.equal(ring.size, ref.length);
    if (ref.length > 0) assert.equal(ring.firstSeq, ref[0]!.seq);
    if (step % 50 === 0 || ref.length < 3)
      ref.forEach((ev, k) => {
        assert.equal(ring.streamAt(k), ev.stream);
        assert.equal(ring.prevAt(k), ev.prev);
        assert.equal(ring.atAt(k), ev.at);
        assert.equal(ring.jsonAt(k), ev.json);
      });
  }
  assert.ok(maxArena > 64 * 1024, `the arena grew (${maxArena} bytes)`);
  // Mostly emptied, the arena is given back (down to a few times what is still live), and released when empty.
  while (ring.size > 2) ring.shift();
  assert.ok(ring.arenaBytes <= 64 * 1024, `a mostly empty arena shrank (${ring.arenaBytes} bytes)`);
  ref.splice(0, ref.length - 2);
  ref.forEach((ev, k) => assert.equal(ring.jsonAt(k), ev.json));
  while (ring.size > 0) ring.shift();
  assert.ok(ring.arenaBytes <= 64 * 1024);
  ring.push(seq + 1, 'z', 0, 0, 'x'.repeat(10));
  assert.equal(ring.jsonAt(0), 'x'.repeat(10));
  assert.throws(() => ring.push(seq + 3, 'z', 0, 0, null), /does not follow/);
});

test('the memory event store never replays an incomplete stream, and replays exactly while a stream keeps events', async () => {
  let now = 0;
  const store = createMemoryEventStore({ maxEvents: 20, retentionSeconds: 5, now: () => now });
  const rand = lcg(17);
  // Reference: every event ever appended, and which were trimmed (oldest first, by count or age).
  const all: Array<{ id: string; seq: number; stream: string; message: JsonRpcMessage | null; at: number }> = [];
  let trimmedBelow = 0;
  let refused = 0;
  let replayed = 0;
  try {
    for (let step = 0; step < 3000; step++) {
      now += rand() < 0.05 ? 2000 : 10;
      if (rand() < 0.6) {
        const stream = `st${Math.floor(rand() * 6)}`;
        const message = rand() < 0.15 ? null : ({ jsonrpc: '2.0', method: 'notifications/message', params: { data: `é${step}` } } as JsonRpcMessage);
        const id = await store.append('s', stream, message);
        all.push({ id, seq: all.length + 1, stream, message, at: now });
      }
      // What the store keeps: the last 20, none older than 5 s.
      while (trimmedBelow < all.length && (all.length - trimmedBelow > 20 || all[trimmedBelow]!.at <= now - 5000)) trimmedBelow++;
      if (all.length === 0) continue;
      const from = all[Math.max(0, all.length - 1 - Math.floor(rand() * 40))]!;
      const got = await store.after('s', from.id);
      const later = all.filter((e) => e.seq > from.seq && e.stream === from.stream);
      const complete = later.every((e) => e.seq > trimmedBelow);
      if (!complete) assert.equal(got, undefined, `after(${from.id}) must refuse: an event it needs was trimmed`);
      // A stream whose events were all trimmed and that was appended to again may be refused (conservatively); one whose id is still retained may not.
      if (from.seq > trimmedBelow) assert.ok(got, `after(${from.id}) must replay: the id and everything after it are retained`);
      if (got) {
        replayed++;
        assert.equal(got.streamId, from.stream);
        assert.deepEqual(got.events, later.map((e) => ({ eventId: e.id, message: e.message })));
      } else refused++;
    }
    assert.ok(replayed > 1000 && refused > 100, `both outcomes were exercised (replayed ${replayed}, refused ${refused})`);
  } finally {
    await store.close();
  }
});

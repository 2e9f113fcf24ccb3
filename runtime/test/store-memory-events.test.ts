import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryEventBus, createMemoryEventStore, parseEventId } from '../src/store/memory/index.ts';
import type { JsonRpcMessage } from '../src/protocol/jsonrpc.ts';
import type { StoredEvent } from '../src/store/types.ts';
import type { ServerChangeEvent } from '../src/backend/types.ts';

const note = (n: number): JsonRpcMessage => ({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: n } });
const progressOf = (e: StoredEvent): number => (e.message as unknown as { params: { progress: number } }).params.progress;
const tick = () => new Promise((r) => setImmediate(r));

test('event ids encode session and stream, and increase within a session', async () => {
  const store = createMemoryEventStore({ maxEvents: 100, retentionSeconds: 60 });
  try {
    const a = await store.append('sess1', 'p1', null);
    const b = await store.append('sess1', 'g', note(1));
    const c = await store.append('sess1', 'p1', note(2));
    assert.deepEqual(parseEventId(a), { sessionId: 'sess1', streamId: 'p1', seq: 1 });
    assert.deepEqual(parseEventId(b), { sessionId: 'sess1', streamId: 'g', seq: 2 });
    assert.deepEqual(parseEventId(c), { sessionId: 'sess1', streamId: 'p1', seq: 3 });
    assert.equal(parseEventId('garbage'), undefined);
    assert.equal(parseEventId('a.b.c'), undefined);
    await assert.rejects(store.append('sess1', 'bad.stream', null), /invalid stream id/);
  } finally {
    await store.close();
  }
});

test('after() replays only the same stream of the same session', async () => {
  const store = createMemoryEventStore({ maxEvents: 100, retentionSeconds: 60 });
  try {
    const prime = await store.append('s1', 'p1', null);
    await store.append('s1', 'p1', note(1));
    await store.append('s1', 'g', note(100));
    await store.append('s2', 'p1', note(200));
    await store.append('s1', 'p1', note(2));
    const got = await store.after('s1', prime);
    assert.equal(got?.streamId, 'p1');
    assert.deepEqual(got?.events.map(progressOf), [1, 2]);
    assert.equal(await store.after('s2', prime), undefined, 'another session cannot use the id');
    assert.equal(await store.after('s1', 's1.p1.999'), undefined, 'ids beyond the log are unknown');
    assert.equal(await store.after('s1', 'not-an-id'), undefined);
    assert.equal(await store.after('nobody', 'nobody.p1.1'), undefined);
  } finally {
    await store.close();
  }
});

test('resumption is refused once an event after the id was trimmed, but not for untouched streams', async () => {
  const store = createMemoryEventStore({ maxEvents: 3, retentionSeconds: 60 });
  try {
    const g0 = await store.append('s1', 'g', null);
    const p0 = await store.append('s1', 'p1', null);
    const p1 = await store.append('s1', 'p1', note(1));
    await store.append('s1', 'p1', note(2));
    await store.append('s1', 'p1', note(3));
    await store.append('s1', 'p1', note(4)); // trims g0, p0 and p1
    assert.deepEqual((await store.after('s1', g0))?.events, [], 'the GET stream lost only its priming event: resumable');
    assert.equal(await store.after('s1', p0), undefined, 'note 1 followed p0 and is gone');
    assert.deepEqual((await store.after('s1', p1))?.events.map(progressOf), [2, 3, 4], 'everything after p1 is still there');
  } finally {
    await store.close();
  }
});

test('events older than the retention are dropped', async () => {
  let now = 0;
  const store = createMemoryEventStore({ maxEvents: 100, retentionSeconds: 10, now: () => now });
  try {
    const first = await store.append('s1', 'p1', null);
    await store.append('s1', 'p1', note(1));
    now += 5000;
    assert.equal((await store.after('s1', first))?.events.length, 1);
    now += 6000;
    assert.equal(await store.after('s1', first), undefined);
  } finally {
    await store.close();
  }
});

test('tail() catches up from the given id, then delivers live events of its stream only, in order', async () => {
  const store = createMemoryEventStore({ maxEvents: 100, retentionSeconds: 60 });
  try {
    const start = await store.append('s1', 'p1', null);
    await store.append('s1', 'p1', note(1));
    const seen: number[] = [];
    const stop = store.tail('s1', 'p1', start, (e) => seen.push(progressOf(e)));
    await store.append('s1', 'g', note(99));
    await store.append('s1', 'p1', note(2));
    await tick();
    await store.append('s1', 'p1', note(3));
    assert.deepEqual(seen, [1, 2, 3]);
    stop();
    await store.append('s1', 'p1', note(4));
    assert.deepEqual(seen, [1, 2, 3]);
  } finally {
    await store.close();
  }
});

test('live tails receive events even when retention keeps none', async () => {
  const store = createMemoryEventStore({ maxEvents: 0, retentionSeconds: 0 });
  try {
    const start = await store.append('s1', 'g', null);
    const seen: number[] = [];
    store.tail('s1', 'g', start, (e) => seen.push(progressOf(e)));
    await tick();
    await store.append('s1', 'g', note(1));
    await store.append('s1', 'g', note(2));
    assert.deepEqual(seen, [1, 2]);
    assert.equal(await store.after('s1', start), undefined, 'nothing is replayable');
  } finally {
    await store.close();
  }
});

test('deleteSession removes the log and ends its tails', async () => {
  const store = createMemoryEventStore({ maxEvents: 100, retentionSeconds: 60 });
  try {
    const start = await store.append('s1', 'p1', null);
    const seen: StoredEvent[] = [];
    store.tail('s1', 'p1', start, (e) => seen.push(e));
    await store.deleteSession('s1');
    assert.equal(await store.after('s1', start), undefined);
    await store.append('s1', 'p1', note(1));
    await tick();
    assert.equal(seen.length, 0, 'a deleted session\'s tail stays silent');
  } finally {
    await store.close();
  }
});

test('the memory bus fans out synchronously, isolates failing listeners, and stops when closed', async () => {
  const errors: unknown[] = [];
  const bus = createMemoryEventBus((e) => errors.push(e));
  const got: ServerChangeEvent[] = [];
  const off = bus.subscribe((e) => got.push(e));
  bus.subscribe(() => {
    throw new Error('bad listener');
  });
  bus.publish({ kind: 'tools_list_changed' });
  assert.deepEqual(got, [{ kind: 'tools_list_changed' }]);
  assert.equal(errors.length, 1);
  off();
  bus.publish({ kind: 'resource_updated', uri: 'x://1' });
  assert.equal(got.length, 1);
  await bus.close();
  assert.equal(bus.healthy(), false);
});

test('appendNew stores a whole stream in order and it replays like appended events', async () => {
  const store = createMemoryEventStore({ maxEvents: 100, retentionSeconds: 60 });
  try {
    await store.append('sess1', 'g', note(1));
    const [priming, result] = await store.appendNew('sess1', 'w1', [null, note(2)]);
    assert.ok(priming && result);
    assert.deepEqual(parseEventId(priming), { sessionId: 'sess1', streamId: 'w1', seq: 2 });
    const replay = await store.after('sess1', priming);
    assert.deepEqual(replay?.events.map(progressOf), [2]);
    assert.equal(replay?.streamId, 'w1');
  } finally {
    await store.close();
  }
});

test('a whole stream resumes exactly while trimming eats it: its answer replays until gone, then resumption is refused', async () => {
  const store = createMemoryEventStore({ maxEvents: 4, retentionSeconds: 60 });
  try {
    const [priming, result] = await store.appendNew('sess1', 'w1', [null, note(7)], [undefined, JSON.stringify(note(7))]);
    assert.deepEqual((await store.after('sess1', priming!))?.events.map(progressOf), [7]);
    // Three more events: the priming event is trimmed, the result stays.
    await store.appendNew('sess1', 'w2', [null, note(8)]);
    await store.append('sess1', 'g', note(9));
    assert.deepEqual((await store.after('sess1', priming!))?.events.map(progressOf), [7], 'the result replays after its priming event is gone');
    assert.deepEqual((await store.after('sess1', result!))?.events, [], 'nothing after the result');
    // One more: the result is trimmed too, so resuming after the priming event would miss it.
    await store.append('sess1', 'g', note(10));
    assert.equal(await store.after('sess1', priming!), undefined);
    // Streams that can grow keep their exactness next to whole ones.
    const g = await store.after('sess1', `sess1.g.5`);
    assert.deepEqual(g?.events.map(progressOf), [10]);
  } finally {
    await store.close();
  }
});

test('the text a caller already serialized is what a whole stream stores', async () => {
  const store = createMemoryEventStore({ maxEvents: 10, retentionSeconds: 60 });
  try {
    const wire = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: 42 } });
    const [priming] = await store.appendNew('sess1', 'w1', [null, note(1)], [undefined, wire]);
    assert.deepEqual((await store.after('sess1', priming!))?.events.map(progressOf), [42]);
    const one = await store.append('sess1', 'g', note(2));
    await store.append('sess1', 'g', note(3), JSON.stringify(note(43)));
    assert.deepEqual((await store.after('sess1', one))?.events.map(progressOf), [43]);
  } finally {
    await store.close();
  }
});

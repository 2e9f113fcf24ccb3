import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemorySessionStore } from '../src/store/memory/index.ts';
import { SessionLimitError, type SessionRecord } from '../src/store/types.ts';

const record = (id: string, extra: Partial<SessionRecord> = {}): SessionRecord => ({
  id,
  principal: 'apikey:alice',
  protocolVersion: '2025-11-25',
  initialize: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } },
  createdAt: 1000,
  lastSeenAt: 1000,
  ...extra,
});

test('a record round-trips, reads are copies, and unknown ids are undefined', async () => {
  const store = createMemorySessionStore({ idleTimeoutSeconds: 60, maxSessions: 10 });
  try {
    await store.create(record('s1', { subscriptions: ['a://1'] }));
    const got = await store.get('s1');
    assert.equal(got?.principal, 'apikey:alice');
    assert.deepEqual(got?.subscriptions, ['a://1']);
    got?.subscriptions?.push('mutated');
    assert.deepEqual((await store.get('s1'))?.subscriptions, ['a://1'], 'callers cannot mutate the stored record');
    assert.equal(await store.get('nope'), undefined);
    assert.equal(await store.update('nope', { logLevel: 'debug' }), false);
    await assert.rejects(store.create(record('s1')), /already exists/);
  } finally {
    await store.close();
  }
});

test('update patches fields but never the principal binding', async () => {
  const store = createMemorySessionStore({ idleTimeoutSeconds: 60, maxSessions: 10 });
  try {
    await store.create(record('s1'));
    assert.equal(await store.update('s1', { logLevel: 'debug', owner: 'r2', principal: 'apikey:mallory' } as Partial<SessionRecord>), true);
    const got = await store.get('s1');
    assert.equal(got?.logLevel, 'debug');
    assert.equal(got?.owner, 'r2');
    assert.equal(got?.principal, 'apikey:alice');
  } finally {
    await store.close();
  }
});

test('the idle TTL slides on every get and an idle record expires', async () => {
  let now = 0;
  const store = createMemorySessionStore({ idleTimeoutSeconds: 10, maxSessions: 10, now: () => now });
  try {
    await store.create(record('s1'));
    for (let i = 0; i < 5; i++) {
      now += 9_000;
      assert.ok(await store.get('s1'), `alive at ${now} ms after activity`);
    }
    assert.equal((await store.get('s1'))?.lastSeenAt, now);
    now += 10_001;
    assert.equal(await store.get('s1'), undefined, 'expired after 10 s idle');
    assert.equal(await store.update('s1', { logLevel: 'x' }), false);
    assert.equal(await store.count(), 0);
  } finally {
    await store.close();
  }
});

test('exists sees a live record without sliding its TTL', async () => {
  let now = 0;
  const store = createMemorySessionStore({ idleTimeoutSeconds: 10, maxSessions: 10, now: () => now });
  try {
    await store.create(record('s1'));
    for (let i = 0; i < 3; i++) {
      now += 3_000;
      assert.equal(await store.exists('s1'), true);
    }
    now += 1_001;
    assert.equal(await store.exists('s1'), false, 'expired 10 s after its creation: exists never slid it');
    assert.equal(await store.exists('nope'), false);
  } finally {
    await store.close();
  }
});

test('maxSessions is enforced, and expired records free their slot', async () => {
  let now = 0;
  const store = createMemorySessionStore({ idleTimeoutSeconds: 10, maxSessions: 2, now: () => now });
  try {
    await store.create(record('a'));
    await store.create(record('b'));
    await assert.rejects(store.create(record('c')), SessionLimitError);
    assert.equal(await store.count(), 2);
    await store.delete('a');
    await store.create(record('c'));
    now += 11_000;
    await store.create(record('d'));
    assert.equal(await store.count(), 1);
  } finally {
    await store.close();
  }
});

test('a closed store reports unhealthy and refuses new records', async () => {
  const store = createMemorySessionStore({ idleTimeoutSeconds: 10, maxSessions: 2 });
  assert.equal(store.healthy(), true);
  await store.close();
  assert.equal(store.healthy(), false);
  await assert.rejects(store.create(record('x')), /closed/);
});

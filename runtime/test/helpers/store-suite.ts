/**
 * The store test bodies, run against each Redis topology (standalone, Cluster,
 * Sentinel) by the redis-*.test.ts files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerChangeEvent } from '../../src/backend/types.ts';
import type { JsonRpcMessage } from '../../src/protocol/jsonrpc.ts';
import { SessionLimitError, type StoredEvent } from '../../src/store/types.ts';
import { eventually, freshPrefix, keysUnder, record, sleep, stores } from './redis-stores.ts';

const note = (n: number): JsonRpcMessage => ({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: n } });
const response = (id: number): JsonRpcMessage => ({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: `done ${id}` }] } });

/** Registers the session, event and bus tests against the Redis at `url()`. */
export function storeSuite(url: () => string): void {
  test('a session round-trips through Redis and unknown ids are undefined', async () => {
    const s = await stores(url(), freshPrefix());
    try {
      const r = record('oauth:https://issuer#sub-1', { owner: 'replica-a', logLevel: 'info', subscriptions: ['file:///a'] });
      await s.sessions.create(r);
      const got = await s.sessions.get(r.id);
      assert.ok(got);
      assert.equal(got.principal, r.principal);
      assert.equal(got.protocolVersion, r.protocolVersion);
      assert.deepEqual(got.initialize, r.initialize);
      assert.equal(got.owner, 'replica-a');
      assert.equal(got.logLevel, 'info');
      assert.deepEqual(got.subscriptions, ['file:///a']);
      assert.equal(got.createdAt, r.createdAt);
      assert.ok(got.lastSeenAt >= r.createdAt - 5000);
      assert.equal(await s.sessions.get('no-such-session'), undefined);
      assert.equal(await s.sessions.update('no-such-session', { logLevel: 'debug' }), false);
      assert.equal(await s.sessions.update(r.id, { logLevel: 'debug', owner: undefined }), true);
      const updated = await s.sessions.get(r.id);
      assert.equal(updated?.logLevel, 'debug');
      assert.equal(updated?.owner, undefined, 'an explicit undefined removes the field');
      assert.equal(updated?.principal, r.principal, 'the principal binding never changes');
      await assert.rejects(s.sessions.create(r), /already exists/);
    } finally {
      await s.close();
    }
  });

  test('the idle TTL slides on every read and an idle session expires with nothing left behind', async () => {
    const prefix = freshPrefix();
    const s = await stores(url(), prefix, { idleTimeoutSeconds: 1, resumability: { maxEvents: 100, retentionSeconds: 1 } });
    try {
      const r = record();
      await s.sessions.create(r);
      for (let i = 0; i < 4; i++) {
        await sleep(400);
        assert.ok(await s.sessions.get(r.id), `alive after ${(i + 1) * 400} ms of activity`);
      }
      const ttl = await s.redis.pttl(s.keys.session(r.id));
      assert.ok(ttl > 500 && ttl <= 1100, `PTTL slid back to ~1000 ms + the 100 ms touch slack (was ${ttl})`);
      // The event log keeps at least 30 s for live tails; it must still disappear on its own.
      assert.ok((await s.redis.pttl(s.keys.events(r.id))) < 0, 'no events yet');
      await sleep(1300);
      assert.equal(await s.sessions.get(r.id), undefined, 'expired after 1 s idle');
      assert.equal(await s.sessions.count(), 0);
      assert.deepEqual(await keysUnder(s.redis, prefix), [], 'record and index are gone');
    } finally {
      await s.close();
    }
  });

  test('exists sees a live record without sliding its TTL, and not a deleted one', async () => {
    const s = await stores(url(), freshPrefix(), { idleTimeoutSeconds: 2 });
    try {
      const r = record();
      await s.sessions.create(r);
      await sleep(300);
      const before = await s.redis.pttl(s.keys.session(r.id));
      assert.equal(await s.sessions.exists(r.id), true);
      const after = await s.redis.pttl(s.keys.session(r.id));
      assert.ok(after <= before, `the TTL did not slide (${before} → ${after} ms)`);
      assert.equal(await s.sessions.exists(`${r.id}x`), false);
      await s.sessions.delete(r.id);
      assert.equal(await s.sessions.exists(r.id), false);
    } finally {
      await s.close();
    }
  });

  test('reads within the touch slack cost no writes; the next read after it slides the TTL again', async () => {
    const s = await stores(url(), freshPrefix(), { idleTimeoutSeconds: 2 });
    try {
      const r = record();
      await s.sessions.create(r);
      const key = s.keys.session(r.id);
      const touchedAt = await s.redis.hget(key, 'l');
      const lifeAfterCreate = await s.redis.pttl(key);
      assert.ok(lifeAfterCreate > 2000 && lifeAfterCreate <= 2200, `a write sets ttl + slack (2000 + 200 ms), was ${lifeAfterCreate}`);
      await sleep(50);
      const quick = await s.sessions.get(r.id);
      assert.equal(String(quick?.lastSeenAt), touchedAt, 'a read within the slack does not touch');
      assert.equal(await s.redis.hget(key, 'l'), touchedAt);
      const left = await s.redis.pttl(key);
      assert.ok(left < lifeAfterCreate && left > 2000, `the TTL was not reset and still exceeds the idle timeout (${left})`);
      await sleep(250);
      const later = await s.sessions.get(r.id);
      assert.ok(later && later.lastSeenAt > Number(touchedAt), 'a read after the slack touches');
      assert.equal(await s.redis.hget(key, 'l'), String(later.lastSeenAt));
      assert.ok((await s.redis.pttl(key)) > 2100, 'and slides the TTL back to ttl + slack');
      assert.ok((await s.redis.zscore(s.keys.sessionIndex, r.id)) !== null);
    } finally {
      await s.close();
    }
  });

  test('appendNew stores a whole stream in one call and it replays like appended events', async () => {
    const s = await stores(url(), freshPrefix());
    try {
      const r = record();
      await s.sessions.create(r);
      const ids = await s.events.appendNew(r.id, 'whole-1', [null, response(7)]);
      assert.equal(ids.length, 2);
      const replay = await s.events.after(r.id, ids[0]!);
      assert.deepEqual(replay, { streamId: 'whole-1', events: [{ eventId: ids[1], message: response(7) }] });
      assert.deepEqual(await s.events.after(r.id, ids[1]!), { streamId: 'whole-1', events: [] });
      const other = await s.events.append(r.id, 'other', note(1));
      assert.deepEqual((await s.events.after(r.id, ids[0]!))?.events.map((e) => e.eventId), [ids[1]], 'other streams stay apart');
      assert.ok(other);
    } finally {
      await s.close();
    }
  });

  test('a message the caller already serialized is stored as that text, not serialized again', async () => {
    const s = await stores(url(), freshPrefix());
    try {
      const r = record();
      await s.sessions.create(r);
      // The text differs from the object on purpose: what replays shows which one was stored.
      const wire = (id: number): string => JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: `as sent ${id}` }] } });
      const ids = await s.events.appendNew(r.id, 'whole-2', [null, response(7)], [undefined, wire(7)]);
      const next = await s.events.append(r.id, 'whole-2', response(8), wire(8));
      const replay = await s.events.after(r.id, ids[0]!);
      assert.deepEqual(replay, {
        streamId: 'whole-2',
        events: [
          { eventId: ids[1], message: JSON.parse(wire(7)) },
          { eventId: next, message: JSON.parse(wire(8)) },
        ],
      });
    } finally {
      await s.close();
    }
  });

  test('maxSessions is enforced atomically across replicas and frees up on delete and expiry', async () => {
    const prefix = freshPrefix();
    const a = await stores(url(), prefix, { maxSessions: 5, idleTimeoutSeconds: 1 });
    const b = await stores(url(), prefix, { maxSessions: 5, idleTimeoutSeconds: 1 });
    try {
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).sessions.create(record())));
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      const limited = results.filter((r) => r.status === 'rejected' && r.reason instanceof SessionLimitError).length;
      assert.equal(ok, 5);
      assert.equal(limited, 15);
      assert.equal(await a.sessions.count(), 5);
      const extra = record();
      await assert.rejects(a.sessions.create(extra), SessionLimitError);
      await sleep(1200);
      // Expired sessions free their slots without any sweeper.
      await b.sessions.create(extra);
      assert.equal(await a.sessions.count(), 1);
      await a.sessions.delete(extra.id);
      assert.equal(await b.sessions.count(), 0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('deleting sessions removes their events and in-flight records: no keys remain', async () => {
    const prefix = freshPrefix();
    const s = await stores(url(), prefix);
    try {
      const rs = Array.from({ length: 10 }, () => record());
      for (const r of rs) {
        await s.sessions.create(r);
        await s.events.append(r.id, 'post-1', null);
        await s.events.append(r.id, 'post-1', note(1));
        await s.redis.hset(s.keys.inflight(r.id), 'post-2', '{}');
      }
      assert.ok((await keysUnder(s.redis, prefix)).length >= 21);
      for (const r of rs) await s.sessions.delete(r.id);
      assert.deepEqual(await keysUnder(s.redis, prefix), []);
    } finally {
      await s.close();
    }
  });

  test('replay returns only the same stream after the given event, from any replica', async () => {
    const prefix = freshPrefix();
    const a = await stores(url(), prefix);
    const b = await stores(url(), prefix);
    try {
      const r = record();
      await a.sessions.create(r);
      const primeA = await a.events.append(r.id, 'stream-A', null);
      const primeB = await a.events.append(r.id, '_GET_stream', null);
      const idsA = [primeA];
      for (let i = 1; i <= 5; i++) {
        idsA.push(await a.events.append(r.id, 'stream-A', note(i)));
        await a.events.append(r.id, '_GET_stream', note(100 + i));
      }
      idsA.push(await a.events.append(r.id, 'stream-A', response(7)));
      assert.equal(new Set(idsA).size, idsA.length, 'event ids are unique');

      const fromB = await b.events.after(r.id, idsA[2]!);
      assert.ok(fromB);
      assert.equal(fromB.streamId, 'stream-A');
      assert.deepEqual(fromB.events.map((e) => e.eventId), idsA.slice(3));
      assert.deepEqual(fromB.events.map((e) => e.message), [note(3), note(4), note(5), response(7)]);

      const getStream = await b.events.after(r.id, primeB);
      assert.equal(getStream?.streamId, '_GET_stream');
      assert.deepEqual(getStream?.events.map((e) => (e.message as unknown as { params: { progress: number } }).params.progress), [101, 102, 103, 104, 105]);

      const last = await b.events.after(r.id, idsA.at(-1)!);
      assert.deepEqual(last, { streamId: 'stream-A', events: [] });
      const primed = await b.events.after(r.id, primeA);
      assert.equal(primed?.events.length, 6);
      assert.equal((await a.events.after(r.id, primeA))?.events[0]?.message !== null, true, 'the priming event itself is not replayed');
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('foreign, malformed, forged and expired event ids are rejected', async () => {
    const prefix = freshPrefix();
    const s = await stores(url(), prefix);
    try {
      const mine = record('apikey:alice');
      const theirs = record('apikey:mallory');
      await s.sessions.create(mine);
      await s.sessions.create(theirs);
      const myId = await s.events.append(mine.id, 's1', note(1));
      await s.events.append(mine.id, 's1', note(2));
      const theirId = await s.events.append(theirs.id, 's1', note(1));
      await s.events.append(theirs.id, 's1', note(99));
      assert.equal(await s.events.after(mine.id, theirId), undefined, "another session's id");
      assert.equal(await s.events.after(theirs.id, myId), undefined);
      const [tag, , entry] = myId.split('.');
      // Same session tag, a stream the entry does not belong to.
      assert.equal(await s.events.after(mine.id, `${tag}.${Buffer.from('s2').toString('base64url')}.${entry}`), undefined);
      // A well-formed id whose entry never existed.
      assert.equal(await s.events.after(mine.id, `${tag}.${Buffer.from('s1').toString('base64url')}.1-0`), undefined);
      for (const bad of ['', 'x', '1-0', 'a.b.c.d', `${tag}..${entry}`, `${tag}.czE.${entry}x`, `${tag}.!!.${entry}`, 'A'.repeat(5000)]) {
        assert.equal(await s.events.after(mine.id, bad), undefined, `malformed ${JSON.stringify(bad.slice(0, 40))}`);
      }
      await s.events.deleteSession(mine.id);
      assert.equal(await s.events.after(mine.id, myId), undefined, 'deleted');
    } finally {
      await s.close();
    }
  });

  test('a tail on another replica delivers catch-up and live events exactly once, in order', async () => {
    const prefix = freshPrefix();
    const a = await stores(url(), prefix);
    const b = await stores(url(), prefix);
    try {
      const r = record();
      await a.sessions.create(r);
      const prime = await a.events.append(r.id, 'call-1', null);
      for (let i = 1; i <= 3; i++) await a.events.append(r.id, 'call-1', note(i));
      const got: StoredEvent[] = [];
      const stop = b.events.tail(r.id, 'call-1', prime, (e) => got.push(e));
      // Appends race with the tail's catch-up: they must neither be lost nor doubled.
      const appended = [];
      for (let i = 4; i <= 40; i++) {
        appended.push(a.events.append(r.id, 'call-1', note(i)));
        if (i % 5 === 0) await a.events.append(r.id, 'other-stream', note(-i));
      }
      await Promise.all(appended);
      await a.events.append(r.id, 'call-1', response(1));
      await eventually(() => got.length >= 41, 5000, 'all tailed events');
      await sleep(100);
      assert.equal(got.length, 41, 'no duplicates');
      assert.deepEqual(got.slice(0, 40).map((e) => (e.message as unknown as { params: { progress: number } }).params.progress), Array.from({ length: 40 }, (_, i) => i + 1));
      assert.deepEqual(got[40]?.message, response(1));
      assert.equal(new Set(got.map((e) => e.eventId)).size, 41);
      const replay = await b.events.after(r.id, prime);
      assert.deepEqual(replay?.events.map((e) => e.eventId), got.map((e) => e.eventId), 'tail ids equal the stored ids');
      stop();
      await a.events.append(r.id, 'call-1', note(999));
      await sleep(100);
      assert.equal(got.length, 41, 'nothing after unsubscribe');
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('many tails share one subscriber connection', async () => {
    const prefix = freshPrefix();
    const a = await stores(url(), prefix);
    const b = await stores(url(), prefix);
    try {
      const sessions = Array.from({ length: 50 }, () => record());
      const counts = new Map<string, number>();
      const stops = [];
      for (const r of sessions) {
        const prime = await a.events.append(r.id, 'get', null);
        stops.push(b.events.tail(r.id, 'get', prime, () => counts.set(r.id, (counts.get(r.id) ?? 0) + 1)));
      }
      await sleep(200);
      await Promise.all(sessions.map((r) => a.events.append(r.id, 'get', note(1))));
      await eventually(() => [...counts.values()].reduce((x, y) => x + y, 0) === 50, 5000, '50 events');
      assert.ok([...counts.values()].every((c) => c === 1));
      assert.equal(b.hub.channelCount(), 50 + 1, 'one channel per tailed session plus the bus, on one connection');
      for (const s of stops) s();
      assert.equal(b.hub.channelCount(), 1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('the event bus delivers every event to every replica exactly once', async () => {
    const prefix = freshPrefix();
    const replicas = await Promise.all([stores(url(), prefix), stores(url(), prefix), stores(url(), prefix)]);
    const other = await stores(url(), freshPrefix());
    try {
      const seen = replicas.map(() => [] as ServerChangeEvent[]);
      replicas.forEach((s, i) => s.bus.subscribe((e) => seen[i]!.push(e)));
      const foreign: ServerChangeEvent[] = [];
      other.bus.subscribe((e) => foreign.push(e));
      await sleep(200);
      replicas[0]!.bus.publish({ kind: 'tools_list_changed' });
      replicas[1]!.bus.publish({ kind: 'resource_updated', uri: 'file:///x' });
      replicas[2]!.bus.publish({ kind: 'prompts_list_changed' });
      await eventually(() => seen.every((s) => s.length >= 3), 5000, 'three events everywhere');
      await sleep(150);
      for (const s of seen) {
        assert.equal(s.length, 3);
        assert.deepEqual(new Set(s.map((e) => e.kind)), new Set(['tools_list_changed', 'resource_updated', 'prompts_list_changed']));
      }
      assert.equal(foreign.length, 0, 'another McpServer hears nothing');
    } finally {
      await Promise.all([...replicas, other].map((s) => s.close()));
    }
  });
}

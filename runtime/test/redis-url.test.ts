/** Redis URL parsing, key layout and the internal-hop signature (pure functions). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRedisUrl, redactRedisUrl, RedisUrlError } from '../src/store/redis/url.ts';
import { hashTagOf, keyPrefixFor } from '../src/store/redis/keys.ts';
import { formatEventId, parseEventId } from '../src/store/redis/event-id.ts';
import { signForward, verifyForward } from '../src/cluster/internal-auth.ts';

test('every documented URL form parses', () => {
  assert.deepEqual(parseRedisUrl('redis://127.0.0.1:6380/2'), { mode: 'standalone', tls: false, tlsInsecure: false, host: '127.0.0.1', port: 6380, db: 2 });
  assert.deepEqual(parseRedisUrl('rediss://user:p%40ss@redis.example:6379'), { mode: 'standalone', tls: true, tlsInsecure: false, username: 'user', password: 'p@ss', host: 'redis.example', port: 6379, db: 0 });
  assert.deepEqual(parseRedisUrl('redis://secret@h'), { mode: 'standalone', tls: false, tlsInsecure: false, password: 'secret', host: 'h', port: 6379, db: 0 });
  assert.deepEqual(parseRedisUrl('redis+sentinel://a:26379,b/mymaster/1?sentinelPassword=s'), {
    mode: 'sentinel', tls: false, tlsInsecure: false, sentinels: [{ host: 'a', port: 26379 }, { host: 'b', port: 26379 }], masterName: 'mymaster', db: 1, sentinelPassword: 's',
  });
  assert.deepEqual(parseRedisUrl('redis+cluster://u:p@[::1]:7000,10.0.0.2:7001'), {
    mode: 'cluster', tls: false, tlsInsecure: false, username: 'u', password: 'p', nodes: [{ host: '::1', port: 7000 }, { host: '10.0.0.2', port: 7001 }],
  });
  assert.equal(parseRedisUrl('redis://h:7000?cluster=true').mode, 'cluster');
  assert.equal(parseRedisUrl('rediss+cluster://h:7000').tls, true);
});

test('bad URLs are refused with a reason', () => {
  for (const [url, why] of [
    ['http://h', /unsupported redis url scheme/],
    ['redis://', /no host/],
    ['redis://a,b', /several hosts/],
    ['redis+sentinel://a:1', /master name/],
    ['redis://h:99999', /bad port/],
    ['redis://h/x', /bad database/],
    ['redis+cluster://h/3', /only database 0/],
    ['nonsense', /must look like/],
  ] as const) {
    assert.throws(() => parseRedisUrl(url), (e: unknown) => e instanceof RedisUrlError && why.test(e.message), url);
  }
  assert.equal(redactRedisUrl('redis://u:hunter2@h:1'), 'redis://u:***@h:1');
});

test('the key prefix carries a Cluster hash tag; event ids round-trip and reject tampering', () => {
  assert.equal(keyPrefixFor('team-a', 'memory'), 'berth:{team-a/memory}:');
  assert.equal(hashTagOf(keyPrefixFor('team-a', 'memory')), 'team-a/memory');
  assert.throws(() => keyPrefixFor('a{', 'b'));
  const id = formatEventId('session-1', 'stream/ü', '1700000000000-3');
  assert.match(id, /^[\x21-\x7E]+$/, 'visible ASCII');
  assert.deepEqual(parseEventId(id), { sessionTag: id.split('.')[0], streamId: 'stream/ü', entryId: '1700000000000-3' });
  assert.notEqual(formatEventId('session-2', 'stream/ü', '1700000000000-3').split('.')[0], id.split('.')[0]);
  assert.equal(parseEventId(`${id}x`), undefined);
});

test('forwarding signatures bind replica, method, path, session and time', () => {
  const now = 1_800_000_000_000;
  const h = signForward('tok', 'r1', 'POST', '/mcp', 'sid', now);
  assert.equal(verifyForward(['tok'], h, 'POST', '/mcp', 'sid', now + 1000), 'valid');
  assert.equal(verifyForward(['old', 'tok'], h, 'POST', '/mcp', 'sid', now), 'valid', 'a rotated token is still accepted');
  assert.equal(verifyForward(['other'], h, 'POST', '/mcp', 'sid', now), 'invalid');
  assert.equal(verifyForward(['tok'], h, 'DELETE', '/mcp', 'sid', now), 'invalid');
  assert.equal(verifyForward(['tok'], h, 'POST', '/mcp', 'sid2', now), 'invalid');
  assert.equal(verifyForward(['tok'], h, 'POST', '/mcp', 'sid', now + 60_000), 'invalid', 'stale');
  assert.equal(verifyForward(['tok'], {}, 'POST', '/mcp', 'sid', now), 'absent');
  assert.equal(verifyForward(['tok'], { 'x-berth-forwarded-by': 'r1' }, 'POST', '/mcp', 'sid', now), 'invalid');
});

/** The command connection coalesces the writes of one event-loop turn into one socket write (real redis-server). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { createCommandClient, waitReady } from '../src/store/redis/connection.ts';
import { parseRedisUrl } from '../src/store/redis/url.ts';
import { startRedis, type RedisProcess } from './helpers/redis-server.ts';

let redis: RedisProcess;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

/** Counts the socket writes (write or writev) of a client's connection. */
function countWrites(client: Redis): () => number {
  const stream = (client as unknown as { stream: { _write: (...a: unknown[]) => void; _writev?: (...a: unknown[]) => void } }).stream;
  let writes = 0;
  const write = stream._write;
  const writev = stream._writev;
  stream._write = function (...a: unknown[]) {
    writes++;
    return write.apply(this, a);
  };
  if (writev) {
    stream._writev = function (...a: unknown[]) {
      writes++;
      return writev.apply(this, a);
    };
  }
  return () => writes;
}

test('commands issued by separate callbacks of one loop turn share one socket write, and each gets its own reply', async () => {
  const client = createCommandClient(parseRedisUrl(redis.url), { connectionName: 'berth:test-coalesce' }) as Redis;
  try {
    assert.equal(await waitReady(client, 10_000), true);
    const writes = countWrites(client);
    // Like requests arriving together: five callbacks of one loop turn, each a task of its own.
    // Immediates queued before a check phase all run in it; five setTimeout(0)s need not share
    // a timers phase (one can fire a millisecond before the rest).
    const replies = await new Promise<Array<Promise<unknown>>>((resolve) => {
      const out: Array<Promise<unknown>> = [];
      for (let i = 0; i < 5; i++) {
        setImmediate(() => {
          out.push(client.set(`coalesce:${i}`, String(i)).then(() => client.get(`coalesce:${i}`)));
          if (out.length === 5) resolve(out);
        });
      }
    });
    assert.deepEqual(await Promise.all(replies), ['0', '1', '2', '3', '4']);
    assert.ok(writes() <= 2, `five SETs in one write, the five GETs (issued as replies came) in at most one more (was ${writes()})`);
    // Across turns writes are not held back: a lone command is sent in the turn it was issued.
    const before = writes();
    assert.equal(await client.ping(), 'PONG');
    assert.equal(writes(), before + 1);
  } finally {
    client.disconnect();
  }
});

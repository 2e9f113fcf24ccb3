/** The test harness's own promises: ports no other test can take, and a Redis that fails to start says why at once. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { freePort } from './helpers/free-port.ts';
import { startRedis } from './helpers/redis-server.ts';

test('freePort hands out distinct free ports below the ephemeral range', async () => {
  const ports = await Promise.all(Array.from({ length: 40 }, () => freePort()));
  assert.equal(new Set(ports).size, ports.length);
  for (const p of ports) assert.ok(p >= 20_000 && p < 30_000, `port ${p}`);
  const srv = createServer();
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(ports[0], '127.0.0.1', resolve));
  srv.close();
});

test('a redis-server that cannot bind its port fails at once with its log, not after the PING deadline', async () => {
  const holder = createServer();
  const port = await freePort();
  await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
  const t0 = Date.now();
  try {
    await assert.rejects(startRedis({ port }), (err: Error) => {
      assert.match(err.message, new RegExp(`redis-server on ${port} exited`));
      assert.match(err.message, /Address already in use|Could not create server TCP listening socket/);
      return true;
    });
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  } finally {
    holder.close();
  }
});

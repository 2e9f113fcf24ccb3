/** Forwarding to a session owner over kept-alive connections: reuse, a stale reused socket, and a dead owner. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createForwarder, type ForwardInput } from '../src/cluster/forward.ts';
import { DRAINING_HEADER } from '../src/http/errors.ts';

interface Owner {
  url: string;
  server: Server;
  connections: number;
  requests: number;
  close(): Promise<void>;
}

async function owner(onRequest: (req: IncomingMessage, res: ServerResponse, o: Owner) => void): Promise<Owner> {
  const sockets = new Set<Socket>();
  const o = { connections: 0, requests: 0 } as Owner;
  const server = createServer((req, res) => {
    o.requests++;
    onRequest(req, res, o);
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s) => {
    o.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  o.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  o.server = server;
  o.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return o;
}

/**
 * A client response to forward into: a real loopback HTTP exchange, whose
 * headers and body the test reads; `onHeaders` runs once the client has the
 * headers, before it reads the body.
 */
async function through(
  forward: (res: ServerResponse) => Promise<unknown>,
  onHeaders?: () => void,
): Promise<{ result: unknown; status: number; headers: Headers; body: string }> {
  let result: unknown;
  const front = createServer(async (_req, res) => {
    result = await forward(res);
    if (!res.headersSent) res.writeHead(599).end();
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(front.address() as AddressInfo).port}/`);
    onHeaders?.();
    const body = await res.text();
    return { result, status: res.status, headers: res.headers, body };
  } finally {
    front.closeAllConnections();
    await new Promise<void>((r) => front.close(() => r()));
  }
}

/** Counts the writes to the kernel on `res`'s socket: each _write or _writev is one (corked chunks go out together). */
function countWrites(res: ServerResponse): { count: number } {
  const counter = { count: 0 };
  const socket = res.socket as Socket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  for (const name of ['_write', '_writev'] as const) {
    const inner = socket[name].bind(socket);
    socket[name] = (...args: unknown[]) => (counter.count++, inner(...args));
  }
  return counter;
}

const input = (baseUrl: string, res: ServerResponse): ForwardInput => ({
  baseUrl,
  method: 'POST',
  url: '/mcp',
  rawHeaders: ['Content-Type', 'application/json', 'X-Berth-Forwarded-By', 'a client', 'Connection', 'keep-alive'],
  extraHeaders: {},
  body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
  res,
  signal: new AbortController().signal,
  connectTimeoutMs: 5000,
});

const answer = (req: IncomingMessage, res: ServerResponse): void => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c));
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body));
};

test('forwarded requests reuse one kept-alive connection to the owner', async () => {
  const o = await owner((req, res) => answer(req, res));
  const forwarder = createForwarder();
  try {
    for (let i = 0; i < 3; i++) {
      const r = await through((res) => forwarder.forward(input(o.url, res)));
      assert.deepEqual(r.result, { ok: true, status: 200 });
      assert.equal(r.body, '{"jsonrpc":"2.0","id":1,"method":"ping"}');
    }
    assert.equal(o.requests, 3);
    assert.equal(o.connections, 1, 'one TCP connection for three forwards');
  } finally {
    forwarder.close();
    await o.close();
  }
});

test('a reused connection the owner closed is retried once on a fresh one, not taken for a dead owner', async () => {
  let served = 0;
  const o = await owner((req, res) => {
    served++;
    // The second request arrives on the kept-alive socket, which the owner drops (as when its keep-alive timeout races the request).
    if (served === 2) {
      req.socket.destroy();
      return;
    }
    answer(req, res);
  });
  const forwarder = createForwarder();
  try {
    assert.deepEqual((await through((res) => forwarder.forward(input(o.url, res)))).result, { ok: true, status: 200 });
    const second = await through((res) => forwarder.forward(input(o.url, res)));
    assert.deepEqual(second.result, { ok: true, status: 200 }, 'answered after the retry');
    assert.equal(second.body, '{"jsonrpc":"2.0","id":1,"method":"ping"}');
    assert.equal(o.requests, 3, 'the request was sent once more');
    assert.equal(o.connections, 2, 'on a fresh connection');
  } finally {
    forwarder.close();
    await o.close();
  }
});

test('an owner that is gone is reported as refused, even after its connection was kept alive', async () => {
  const o = await owner((req, res) => answer(req, res));
  const forwarder = createForwarder();
  try {
    assert.deepEqual((await through((res) => forwarder.forward(input(o.url, res)))).result, { ok: true, status: 200 });
    await o.close();
    const r = await through((res) => forwarder.forward(input(o.url, res)));
    const result = r.result as { ok: boolean; refused: boolean };
    assert.equal(result.ok, false);
    assert.equal(result.refused, true, 'nothing listens there: the owner is dead');
    assert.equal(r.status, 599, 'nothing was written to the client');
  } finally {
    forwarder.close();
  }
});

test('closing the forwarder drops idle connections but lets a forward in flight finish', async () => {
  const o = await owner((req, res) => {
    if (o.requests === 1) answer(req, res);
    else setTimeout(() => answer(req, res), 200);
  });
  const forwarder = createForwarder();
  try {
    assert.deepEqual((await through((res) => forwarder.forward(input(o.url, res)))).result, { ok: true, status: 200 });
    const slow = through((res) => forwarder.forward(input(o.url, res)));
    await new Promise((r) => setTimeout(r, 50));
    forwarder.close();
    const r = await slow;
    assert.deepEqual(r.result, { ok: true, status: 200 });
    assert.equal(r.body, '{"jsonrpc":"2.0","id":1,"method":"ping"}');
    assert.equal(o.requests, 2, 'on its own connection, not cut and sent again');
  } finally {
    await o.close();
  }
});

test("a draining owner's 503 is not relayed: the forward reports draining and the client sees nothing yet; another 503 is relayed", async () => {
  const drainingOwner = await owner((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(503, { [DRAINING_HEADER]: '1', 'retry-after': '1', 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":null,"error":{"code":-32002,"message":"shutting down"}}'));
  });
  const busyOwner = await owner((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(503, { 'retry-after': '1', 'content-type': 'application/json' }).end('{"busy":true}'));
  });
  const forwarder = createForwarder();
  try {
    const drained = await through((res) => forwarder.forward(input(drainingOwner.url, res)));
    const result = drained.result as { ok: boolean; refused: boolean; draining?: boolean };
    assert.deepEqual([result.ok, result.refused, result.draining], [false, false, true]);
    assert.equal(drained.status, 599, 'nothing was written to the client');
    const busy = await through((res) => forwarder.forward(input(busyOwner.url, res)));
    assert.deepEqual(busy.result, { ok: true, status: 503 });
    assert.equal(busy.body, '{"busy":true}');
  } finally {
    forwarder.close();
    await drainingOwner.close();
    await busyOwner.close();
  }
});

test('a whole answer is relayed with its length, in one write to the client', async () => {
  const o = await owner((req, res) => answer(req, res));
  const forwarder = createForwarder();
  let writes = { count: 0 };
  try {
    const r = await through((res) => {
      writes = countWrites(res);
      return forwarder.forward(input(o.url, res));
    });
    assert.equal(r.body, '{"jsonrpc":"2.0","id":1,"method":"ping"}');
    assert.equal(r.headers.get('content-length'), '40');
    assert.equal(r.headers.get('transfer-encoding'), null);
    assert.equal(writes.count, 1, 'status line, headers and body in one write');
  } finally {
    forwarder.close();
    await o.close();
  }
});

test('a streamed answer shows as open to the client before its first event', async () => {
  let clientSawHeaders!: () => void;
  const headersSeen = new Promise<void>((r) => (clientSawHeaders = r));
  const o = await owner((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    // The event only follows once the client has the headers: a relay that held them back would hang here.
    void headersSeen.then(() => res.end('event: message\ndata: {}\n\n'));
  });
  const forwarder = createForwarder();
  try {
    const r = await through((res) => forwarder.forward(input(o.url, res)), clientSawHeaders);
    assert.equal(r.headers.get('content-type'), 'text/event-stream');
    assert.equal(r.body, 'event: message\ndata: {}\n\n');
  } finally {
    forwarder.close();
    await o.close();
  }
});

test("the owner gets the client's end-to-end headers, the hop's own in place of a client's same-named ones, and its own host", async () => {
  let seen: IncomingMessage | undefined;
  const o = await owner((req, res) => {
    seen = req;
    answer(req, res);
  });
  const forwarder = createForwarder();
  try {
    const r = await through((res) => forwarder.forward({ ...input(o.url, res), extraHeaders: { 'x-berth-forwarded-by': 'replica-a' } }));
    assert.deepEqual(r.result, { ok: true, status: 200 });
    assert.equal(seen!.headers['content-type'], 'application/json');
    assert.equal(seen!.headers['x-berth-forwarded-by'], 'replica-a', 'one value: the hop replaced the client header');
    assert.equal(seen!.rawHeaders.filter((h) => h.toLowerCase() === 'x-berth-forwarded-by').length, 1);
    assert.equal(seen!.headers.host, new URL(o.url).host);
    assert.equal(seen!.headers['content-length'], String(Buffer.byteLength(input(o.url, {} as ServerResponse).body!)));
    assert.equal(seen!.rawHeaders.filter((h) => h.toLowerCase() === 'connection').length, 1, "the client's connection header is not passed on");
  } finally {
    forwarder.close();
    await o.close();
  }
});

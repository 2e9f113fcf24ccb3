// berth-loadgen, the open-loop generator: it sends on schedule with the
// rung's headers and a fresh id per request, counts only 2xx answers with the
// expected text, and counts latency from the scheduled send — a generator
// that was stopped for a while reports the wait, not just the service time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ensureLoadgen, openLoop, type OpenLoopResult, type OpenLoopSpec } from '../src/loadgen.ts';

async function serve(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => handler(req, body, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}/mcp` };
}

const close = (s: Server): Promise<void> => new Promise((r) => (s.closeAllConnections(), s.close(() => r())));

const base = (url: string): OpenLoopSpec => ({
  url,
  headers: { 'content-type': 'application/json', 'mcp-session-id': 'sess-1' },
  body: '{"jsonrpc":"2.0","id":$ID,"method":"tools/call"}',
  rate: 200,
  durationSeconds: 1,
  warmupSeconds: 0.2,
  connections: 8,
  expect: 'hello',
});

/** Runs the generator and stops it (SIGSTOP) for 300 ms, `atMs` after it started. */
async function runStopped(spec: OpenLoopSpec, atMs: number): Promise<OpenLoopResult> {
  const child = spawn(await ensureLoadgen(), [JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const closed = new Promise<number | null>((r) => child.on('close', r));
  await new Promise((r) => setTimeout(r, atMs));
  child.kill('SIGSTOP');
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGCONT');
  assert.equal(await closed, 0);
  return JSON.parse(out) as OpenLoopResult;
}

test('sends every scheduled request with the headers and a fresh id, and checks each answer', { timeout: 60_000 }, async () => {
  const ids: number[] = [];
  const sessions = new Set<string | undefined>();
  const { server, url } = await serve((req, body, res) => {
    const id = (JSON.parse(body) as { id: number }).id;
    ids.push(id);
    sessions.add(req.headers['mcp-session-id'] as string | undefined);
    // Every 10th: a 500; every 10th + 5: a 200 without the expected text.
    if (id % 10 === 0) return res.writeHead(500).end('{"error":"hello"}');
    res.writeHead(200, { 'content-type': 'application/json' }).end(id % 10 === 5 ? '{"result":"nope"}' : '{"result":"hello"}');
  });
  try {
    const r = await openLoop(base(url), 1);
    // 0.2 s warm-up + 1 s at 200/s: 240 requests, 200 of them measured.
    assert.equal(r.sent, 200);
    assert.equal(new Set(ids).size, ids.length, 'no id is sent twice');
    assert.ok(ids.length >= 235 && ids.length <= 240, `${ids.length} requests reached the server`);
    assert.deepEqual([...sessions], ['sess-1']);
    assert.equal(r.errors + r.total, 200);
    assert.ok(r.errors >= 36 && r.errors <= 44, `a 500 and a 200 without the text are errors (${r.errors})`);
    assert.match(r.firstError ?? '', /HTTP (500|200)/);
    assert.ok(r.p50 > 0 && r.p50 <= r.p99 && r.p99 <= r.max);
    assert.match(r.generator, /^berth-loadgen /);
  } finally {
    await close(server);
  }
});

test('latency counts from the scheduled send: a generator stopped for 300 ms reports the wait', { timeout: 60_000 }, async () => {
  const { server, url } = await serve((_req, _body, res) => res.writeHead(200).end('hello'));
  try {
    const r = await runStopped({ ...base(url), durationSeconds: 2, warmupSeconds: 0 }, 700);
    assert.equal(r.errors, 0);
    assert.equal(r.sent, 400, 'the schedule is kept: the missed sends go out after the stop');
    assert.ok(r.lagMax >= 250, `the generator knows it was late (${r.lagMax} ms)`);
    assert.ok(r.max >= 250, `the late requests' latency includes the wait (${r.max} ms)`);
    // ~60 of 400 requests were due during the stop: well over 1%.
    assert.ok(r.p99 >= 100, `p99 ${r.p99} ms reflects the stall`);
    assert.ok(r.serviceP99 < r.p99, `timed from the actual send the stall hides (${r.serviceP99} < ${r.p99})`);
  } finally {
    await close(server);
  }
});

test('several windows: each keeps its own percentiles, and a stall in one does not stand for the run', { timeout: 60_000 }, async () => {
  const { server, url } = await serve((_req, _body, res) => res.writeHead(200).end('hello'));
  try {
    // Stopped in the middle of the second window.
    const r = await runStopped({ ...base(url), durationSeconds: 1, warmupSeconds: 0, windows: 3 }, 1400);
    const w = r.windows!;
    assert.equal(w.length, 3);
    assert.equal(r.sent, 600, 'counts cover every window');
    assert.deepEqual(w.map((x) => x.sent), [200, 200, 200]);
    assert.equal(r.errors, 0);
    assert.ok(w[1]!.p99 >= 100, `the stalled window shows the stall (${w[1]!.p99} ms)`);
    assert.ok(w[0]!.p99 < 50 && w[2]!.p99 < 50, `the others do not (${w[0]!.p99}, ${w[2]!.p99} ms)`);
    assert.notEqual(r.median, 1, 'the headline is the median window');
    assert.equal(r.p99, w[r.median!]!.p99);
    assert.equal(r.p50, w[r.median!]!.p50);
    assert.ok(r.lagMax >= 250, `the stall is still reported in the run's lag (${r.lagMax} ms)`);
  } finally {
    await close(server);
  }
});

test('reads chunked answers and answers the server ends by closing the connection', { timeout: 60_000 }, async () => {
  // Chunked (no Content-Length, as an SSE stream or a streamed JSON answer
  // comes) on even ids; odd ids get `Connection: close` and the connection ends.
  const { server, url } = await serve((req, body, res) => {
    const id = (JSON.parse(body) as { id: number }).id;
    if (id % 2 === 0) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: message\ndata: {"result":"hel');
      setImmediate(() => res.end('lo"}\n\n'));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', connection: 'close' }).end('{"result":"hello"}');
  });
  try {
    const r = await openLoop({ ...base(url), connections: 2 }, 1);
    assert.equal(r.sent, 200);
    assert.equal(r.errors, 0, r.firstError);
    assert.equal(r.total, 200);
    // About half of the 240 answers closed their connection: each next request opened another.
    assert.ok(r.connectionsOpened >= 100 && r.connectionsOpened <= 140, `${r.connectionsOpened} connections opened`);
  } finally {
    await close(server);
  }
});

test('opens a connection only when every open one is busy, up to the cap, and queues the rest from the schedule', { timeout: 60_000 }, async () => {
  let inFlight = 0;
  let most = 0;
  // Every answer takes 40 ms: at 200/s about 8 requests are in flight at once.
  const { server, url } = await serve((_req, _body, res) => {
    most = Math.max(most, ++inFlight);
    setTimeout(() => (inFlight--, res.writeHead(200).end('hello')), 40);
  });
  try {
    const wide = await openLoop({ ...base(url), connections: 64 }, 1);
    assert.equal(wide.errors, 0, wide.firstError);
    assert.ok(wide.connectionsOpened >= 8 && wide.connectionsOpened <= 16, `${wide.connectionsOpened} connections for ~8 in flight`);
    assert.ok(wide.p99 < 80, `nothing waits for a connection (p99 ${wide.p99} ms)`);
    most = 0;
    const narrow = await openLoop({ ...base(url), connections: 4 }, 1);
    assert.equal(narrow.errors, 0, narrow.firstError);
    assert.equal(narrow.connectionsOpened, 4);
    assert.equal(most, 4, 'never more than the cap in flight');
    // Four connections serve 100/s at 40 ms each; 200/s queues, and the wait counts.
    assert.ok(narrow.p50 > 200, `requests waiting for a connection are timed from their schedule (p50 ${narrow.p50} ms)`);
    assert.ok(narrow.lagP99 < 5, `the generator itself kept its schedule (lag p99 ${narrow.lagP99} ms)`);
  } finally {
    await close(server);
  }
});

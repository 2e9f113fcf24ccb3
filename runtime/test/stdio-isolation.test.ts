/**
 * Shared-pool isolation: many concurrent clients whose JSON-RPC ids and
 * progress tokens collide each get only their own responses, progress,
 * log messages and server→client requests.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { createStdioBackend } from '../src/backend/stdio/index.ts';
import type { Backend, ClientContext, ExchangeSink } from '../src/backend/types.ts';
import type { JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../src/protocol/jsonrpc.ts';
import { ANON, BackendTransport, FIXTURES, quietLogger, runtimeConfig } from './fixtures/stdio/harness.ts';

const FIXTURE = join(FIXTURES, 'fixture-server.mjs');
let backend: Backend;

before(async () => {
  // Two children for 40 clients: every child multiplexes many clients at once.
  backend = createStdioBackend(runtimeConfig({ stdio: { command: [FIXTURE], instances: { mode: 'shared', min: 2, max: 2 } } }), quietLogger());
  await backend.start();
});

after(async () => {
  await backend.close(Date.now() + 3000);
});

interface Recorder {
  ctx: ClientContext;
  sink: ExchangeSink;
  notes: JsonRpcNotification[];
  asked: JsonRpcRequest[];
}

function client(i: number): Recorder {
  const modern = i % 2 === 1;
  const ctx: ClientContext = modern
    ? { era: 'modern', protocolVersion: '2026-07-28', principal: { ...ANON, id: `p${i}` }, tenant: 'test/stdio', signal: new AbortController().signal }
    : {
        era: 'legacy',
        protocolVersion: '2025-11-25',
        session: { id: `session-${i}`, initialize: { protocolVersion: '2025-11-25', capabilities: { sampling: {} }, clientInfo: { name: `c${i}`, version: '1' } } },
        principal: { ...ANON, id: `p${i}` },
        tenant: 'test/stdio',
        signal: new AbortController().signal,
      };
  const r: Recorder = {
    ctx,
    notes: [],
    asked: [],
    sink: {
      notification: (n) => void r.notes.push(n),
      request: async (m) => {
        r.asked.push(m);
        return { jsonrpc: '2.0', id: m.id, result: { role: 'assistant', content: { type: 'text', text: `answer for ${i}` }, model: 'm' } };
      },
    },
  };
  return r;
}

const envelope = (i: number) => ({
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: `c${i}`, version: '1' },
  'io.modelcontextprotocol/clientCapabilities': { sampling: {} },
  'io.modelcontextprotocol/logLevel': 'debug',
});

function call(r: Recorder, i: number, id: number, name: string, args: Record<string, unknown>, progressToken?: number): Promise<JsonRpcResponse> {
  const meta: Record<string, unknown> = r.ctx.era === 'modern' ? envelope(i) : {};
  if (progressToken !== undefined) meta.progressToken = progressToken;
  return backend.handle(r.ctx, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, _meta: meta } }, r.sink);
}

function resultText(res: JsonRpcResponse): string {
  assert.ok('result' in res, JSON.stringify(res));
  return (res.result.content as Array<{ text: string }>)[0]!.text;
}

test('colliding ids and progress tokens: every client gets exactly its own responses and progress', async () => {
  const clients = Array.from({ length: 40 }, (_, i) => client(i));
  const rounds = 5;
  await Promise.all(
    clients.map(async (r, i) => {
      for (let round = 0; round < rounds; round++) {
        // Every client uses the same request ids and the same progress token.
        const [echo, prog] = await Promise.all([
          call(r, i, 1, 'echo', { text: `echo ${i}/${round}` }),
          call(r, i, 2, 'progress', { steps: 3, ms: 1, tag: `tag ${i}/${round}` }, 7),
        ]);
        assert.equal(echo.id, 1);
        assert.equal(prog.id, 2);
        assert.equal(resultText(echo), `echo ${i}/${round}`);
        assert.equal(resultText(prog), `progress tag ${i}/${round} done`);
      }
    }),
  );
  for (const [i, r] of clients.entries()) {
    const progress = r.notes.filter((n) => n.method === 'notifications/progress');
    assert.equal(progress.length, rounds * 3, `client ${i} progress count`);
    for (const n of progress) {
      assert.equal(n.params?.progressToken, 7, 'the client sees its own token');
      assert.match(String(n.params?.message), new RegExp(`^tag ${i}/`), `client ${i} got foreign progress ${JSON.stringify(n)}`);
    }
  }
});

test('log messages and server-to-client requests never reach another client', async () => {
  const clients = Array.from({ length: 30 }, (_, i) => client(i));
  const results = await Promise.all(
    clients.map(async (r, i) => {
      const out: string[] = [];
      for (let round = 0; round < 4; round++) {
        const [log, ask] = await Promise.all([call(r, i, 1, 'log', { tag: `log ${i}/${round}`, level: 'info' }), call(r, i, 1, 'ask', { tag: `q ${i}/${round}` })]);
        out.push(resultText(log));
        // A modern client is asked through an input_required round; answer it like the SDK would.
        let res = ask;
        while ('result' in res && res.result.resultType === 'input_required') {
          const inputs = res.result.inputRequests as Record<string, { params: { messages: Array<{ content: { text: string } }> } }>;
          const inputResponses: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(inputs)) {
            r.asked.push({ jsonrpc: '2.0', id: k, method: 'sampling/createMessage', params: v.params });
            inputResponses[k] = { role: 'assistant', content: { type: 'text', text: `answer for ${i}` }, model: 'm' };
          }
          res = await backend.handle(
            r.ctx,
            { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'ask', arguments: { tag: `q ${i}/${round}` }, inputResponses, requestState: res.result.requestState, _meta: envelope(i) } },
            r.sink,
          );
        }
        out.push(resultText(res));
      }
      return out;
    }),
  );
  // Under this much concurrency most of these messages cannot be tied to one client: they are
  // refused (the server's request fails cleanly) rather than guessed.
  for (const line of results.flat().filter((t) => t.startsWith('{'))) {
    assert.match(line, /answer for \d+"|can only be relayed/, line);
  }
  for (const [i, r] of clients.entries()) {
    for (const n of r.notes.filter((x) => x.method === 'notifications/message')) {
      assert.match(String(n.params?.data), new RegExp(`^log ${i}/`), `client ${i} got a foreign log ${JSON.stringify(n)}`);
    }
    for (const q of r.asked) {
      assert.match(JSON.stringify(q.params), new RegExp(`question q ${i}/`), `client ${i} was asked a foreign question`);
    }
    for (const line of results[i]!.filter((t) => t.includes('answer for'))) {
      assert.match(line, new RegExp(`answer for ${i}"`), `client ${i}'s call got a foreign answer: ${line}`);
    }
  }
});

test('one client at a time, the same messages are delivered to it', async () => {
  for (let i = 0; i < 6; i++) {
    const r = client(i);
    const log = await call(r, i, 1, 'log', { tag: `solo ${i}`, level: 'info' });
    assert.equal(resultText(log), `logged solo ${i}`);
    const logs = r.notes.filter((x) => x.method === 'notifications/message');
    assert.equal(logs.length, 1, `client ${i} gets its log`);
    assert.equal(logs[0]!.params?.data, `solo ${i}`);
    if (r.ctx.era === 'legacy') {
      const ask = await call(r, i, 2, 'ask', { tag: `solo ${i}` });
      assert.match(resultText(ask), new RegExp(`answer for ${i}"`));
      assert.equal(r.asked.length, 1);
    }
  }
});

test('SDK clients in both eras with colliding ids only see their own notifications', async () => {
  const clients = await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const c = new Client({ name: `sdk${i}`, version: '1' }, i % 2 ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {});
      await c.connect(new BackendTransport(backend));
      return c;
    }),
  );
  await Promise.all(
    clients.map(async (c, i) => {
      const seen: string[] = [];
      for (let k = 0; k < 5; k++) {
        const res = await c.callTool({ name: 'progress', arguments: { steps: 2, ms: 1, tag: `sdk ${i}` } }, { onprogress: (p) => seen.push(String(p.message)) });
        assert.equal((res.content as Array<{ text: string }>)[0]!.text, `progress sdk ${i} done`);
      }
      assert.equal(seen.length, 10);
      assert.ok(seen.every((m) => m === `sdk ${i}`), `client ${i} saw ${seen.join(',')}`);
    }),
  );
  await Promise.all(clients.map((c) => c.close()));
});

test("tasks are not relayed: a shared server cannot leak one client's tasks to another", async () => {
  const r = client(0);
  const list = await backend.handle(r.ctx, { jsonrpc: '2.0', id: 1, method: 'tasks/list', params: {} }, r.sink);
  assert.ok('error' in list && list.error.code === -32601 && /does not relay tasks/.test(list.error.message));
  // A task-augmented call runs as a plain call.
  const res = await backend.handle(r.ctx, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'no task' }, task: { ttl: 1000 } } }, r.sink);
  assert.equal(resultText(res), 'no task');
  const init = await backend.handle(r.ctx, { jsonrpc: '2.0', id: 3, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }, r.sink);
  assert.ok('result' in init && (init.result.capabilities as Record<string, unknown>).tasks === undefined);
});

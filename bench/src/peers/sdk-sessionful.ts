// Rung 3b: the SDK's in-memory sessionful Streamable HTTP transport (2025 era),
// one McpServer + transport per session, sessions in a Map — the usual
// single-process deployment.
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import createEchoServer from '../../fixtures/echo-server.mjs';
import { announce, portArg } from './peer-util.ts';

const sessions = new Map<string, NodeStreamableHTTPServerTransport>();

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    const body = raw ? JSON.parse(raw) : undefined;
    const sid = req.headers['mcp-session-id'];
    let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (!transport) {
      if (body?.method !== 'initialize') {
        res.writeHead(404).end();
        return;
      }
      const t = new NodeStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => void sessions.set(id, t),
      });
      t.onclose = () => { if (t.sessionId) sessions.delete(t.sessionId); };
      await createEchoServer().connect(t);
      transport = t;
    }
    await transport.handleRequest(req, res, body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(portArg(), '127.0.0.1', () => announce(server));

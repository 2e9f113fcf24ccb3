// Rung 2: fastify parsing and answering the same body: the ceiling for a
// fastify-based runtime such as Berth.
import Fastify from 'fastify';
import { portArg } from './peer-util.ts';

const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
app.post('/mcp', async (req) => {
  const msg = req.body as { id: number; params: { arguments: { text: string } } };
  return { jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: msg.params.arguments.text }] } };
});
await app.listen({ port: portArg(), host: '127.0.0.1' });
process.stdout.write(`listening ${(app.server.address() as { port: number }).port}\n`);

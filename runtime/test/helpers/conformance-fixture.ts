/**
 * The tools and resources the conformance suite's transport-level server
 * scenarios call (progress, logging, sampling, elicitation, reconnection,
 * subscriptions), for checking the HTTP layer against the official suite.
 */
import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { BerthFactoryContext, BerthServerFactory } from '../../src/backend/module/context.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const conformanceFactory: BerthServerFactory = (_ctx: BerthFactoryContext): McpServer => {
  const server = new McpServer(
    { name: 'berth-http-conformance', version: '1.0.0' },
    { capabilities: { logging: {}, tools: { listChanged: true }, resources: { subscribe: true, listChanged: true } } },
  );
  const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });
  server.registerTool('test_simple_text', { description: 'Returns simple text.' }, async () => text('This is a simple text response for testing.'));
  server.registerTool('test_tool_with_progress', { description: 'Reports progress.' }, async (extra) => {
    const token = extra.mcpReq._meta?.progressToken;
    for (const progress of [0, 50, 100]) {
      if (token !== undefined) await extra.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress, total: 100 } });
      if (progress < 100) await sleep(50);
    }
    return text('Progress tool completed');
  });
  server.registerTool('test_tool_with_logging', { description: 'Logs three lines.' }, async (extra) => {
    await extra.mcpReq.log('info', 'Tool execution started');
    await sleep(50);
    await extra.mcpReq.log('info', 'Tool processing data');
    await sleep(50);
    await extra.mcpReq.log('info', 'Tool execution completed');
    return text('Logging tool completed');
  });
  server.registerTool('test_sampling', { description: 'Asks the client to sample.', inputSchema: z.object({ prompt: z.string() }) }, async ({ prompt }, extra) => {
    const result = (await extra.mcpReq.send({
      method: 'sampling/createMessage',
      params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 },
    } as never)) as { content?: { text?: string } };
    return text(`LLM response: ${result.content?.text ?? ''}`);
  });
  server.registerTool('test_elicitation', { description: 'Asks the user.', inputSchema: z.object({ message: z.string() }) }, async ({ message }, extra) => {
    const answer = await extra.mcpReq.elicitInput({
      message,
      requestedSchema: {
        type: 'object',
        properties: { username: { type: 'string', description: "User's response" }, email: { type: 'string', description: "User's email address" } },
        required: ['username', 'email'],
      },
    });
    return text(`User response: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
  });
  server.registerTool('test_reconnection', { description: 'A call that takes a moment.' }, async () => {
    await sleep(200);
    return text('Reconnection test completed');
  });
  server.registerResource('watched', 'test://watched-resource', { mimeType: 'text/plain' }, async () => ({
    contents: [{ uri: 'test://watched-resource', mimeType: 'text/plain', text: 'watched' }],
  }));
  server.server.setRequestHandler('resources/subscribe', async () => ({}));
  server.server.setRequestHandler('resources/unsubscribe', async () => ({}));
  return server;
};

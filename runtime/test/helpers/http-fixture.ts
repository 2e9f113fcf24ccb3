/**
 * An MCP server factory for the HTTP tests that run the real module backend
 * and the real SDK client: echo, progress with log lines, a slow tool, a tool
 * that elicits, one that announces list changes, and gated tools.
 */
import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { BerthFactoryContext, BerthServerFactory } from '../../src/backend/module/context.ts';
import { createModuleBackend } from '../../src/backend/module/index.ts';
import type { Backend } from '../../src/backend/types.ts';
import { silent } from './http-app.ts';

export interface FixtureControl {
  /** Releases the `gate` calls waiting on `name`. */
  open(name: string): void;
  /** Names of gates currently awaited. */
  waiting(): string[];
  /** How many tool calls saw their abort signal fire. */
  aborted: number;
}

/** The factory plus a handle to drive its gates. */
export function httpFixture(): { factory: BerthServerFactory; control: FixtureControl } {
  const gates = new Map<string, Array<() => void>>();
  const control: FixtureControl = {
    aborted: 0,
    open(name) {
      for (const release of gates.get(name) ?? []) release();
      gates.delete(name);
    },
    waiting: () => [...gates.keys()],
  };
  const factory = (ctx: BerthFactoryContext): McpServer => {
    const server = new McpServer(
      { name: 'http-fixture', version: '1.0.0' },
      { capabilities: { logging: {}, tools: { listChanged: true }, resources: { subscribe: true, listChanged: true } } },
    );
    const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });
    server.registerTool('echo', { description: 'Echoes text.', inputSchema: z.object({ text: z.string() }) }, async ({ text: t }) => text(t));
    server.registerTool(
      'progress',
      { description: 'Reports progress and logs each step.', inputSchema: z.object({ steps: z.number(), ms: z.number() }) },
      async ({ steps, ms }, extra) => {
        const token = extra.mcpReq._meta?.progressToken;
        for (let i = 1; i <= steps; i++) {
          if (token !== undefined) await extra.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: steps } });
          await extra.mcpReq.log('info', `step ${i}`);
          await new Promise((r) => setTimeout(r, ms));
        }
        return text(`done ${steps}`);
      },
    );
    server.registerTool('gate', { description: 'Waits until the test opens the gate.', inputSchema: z.object({ name: z.string() }) }, async ({ name }, extra) => {
      await new Promise<void>((resolve) => {
        const list = gates.get(name) ?? [];
        list.push(resolve);
        gates.set(name, list);
        extra.mcpReq.signal.addEventListener('abort', () => {
          control.aborted++;
          resolve();
        });
      });
      return text(`gate ${name} opened`);
    });
    server.registerTool('ask', { description: 'Asks the user for a name.' }, async (extra) => {
      const answer = await extra.mcpReq.elicitInput({
        message: 'Your name?',
        requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      });
      return text(`${answer.action}:${JSON.stringify(answer.content ?? null)}`);
    });
    server.registerTool('announce', { description: 'Announces that the tool list changed.' }, async () => {
      ctx.berth.notify.toolsChanged();
      return text('announced');
    });
    server.registerResource('thing', 'test://thing', { mimeType: 'text/plain' }, async () => ({ contents: [{ uri: 'test://thing', text: 'a thing' }] }));
    return server;
  };
  return { factory, control };
}

/** The real module backend serving `factory`. */
export function fixtureBackend(factory: BerthServerFactory): Backend {
  return createModuleBackend({ tenant: 'test/http', logger: silent, label: 'http-fixture', load: async () => factory });
}

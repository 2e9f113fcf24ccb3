/**
 * A test MCP server factory exercising what the module backend must route:
 * progress and log notifications, elicitation, cancellation, throws, change
 * events. It also records how many exchanges each instance serves at once.
 */
import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { BerthFactoryContext } from '../src/backend/module/context.ts';

export interface FixtureStats {
  built: number;
  /** Highest number of tool calls one instance ran at the same time. */
  maxConcurrentPerInstance: number;
  aborted: number;
  eras: string[];
  /** What roots/list_changed handlers managed to do. */
  rootsReactions: string[];
}

export function fixtureFactory(stats: FixtureStats) {
  return (ctx: BerthFactoryContext): McpServer => {
    stats.built++;
    stats.eras.push(ctx.era);
    const instanceId = stats.built;
    let running = 0;
    const track = async <T>(fn: () => Promise<T>): Promise<T> => {
      running++;
      stats.maxConcurrentPerInstance = Math.max(stats.maxConcurrentPerInstance, running);
      try {
        return await fn();
      } finally {
        running--;
      }
    };
    const server = new McpServer({ name: 'fixture', version: '1.0.0' }, { capabilities: { logging: {} } });
    const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });

    server.registerTool('echo', { description: 'Echoes text.', inputSchema: z.object({ text: z.string() }) }, async ({ text: t }) => text(t));
    server.registerTool('caps', { description: 'Reports the client capabilities in force.' }, async () =>
      text(JSON.stringify({ caps: server.server.getClientCapabilities() ?? null, client: server.server.getClientVersion()?.name ?? null })),
    );
    server.registerTool('whoami', { description: 'Reports the caller as Berth sees it.' }, async () => {
      const current = ctx.berth.current();
      return text(JSON.stringify({ session: current?.sessionId ?? null, era: current?.era, instance: instanceId }));
    });
    server.registerTool(
      'work',
      { description: 'Sends progress and a log line carrying a marker, then answers with it.', inputSchema: z.object({ marker: z.string(), ms: z.number() }) },
      async ({ marker, ms }, extra) =>
        track(async () => {
          const token = extra.mcpReq._meta?.progressToken;
          if (token !== undefined) await extra.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: 1, total: 2, message: marker } });
          await extra.mcpReq.log('info', { marker });
          await new Promise((r) => setTimeout(r, ms));
          if (token !== undefined) await extra.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: 2, total: 2, message: marker } });
          return text(marker);
        }),
    );
    server.registerTool('log_levels', { description: 'Logs one line at each of debug, info and error.' }, async (extra) => {
      for (const level of ['debug', 'info', 'error'] as const) await extra.mcpReq.log(level, `${level} line`);
      return text('logged');
    });
    server.registerTool('fail', { description: 'Throws the requested kind of error.', inputSchema: z.object({ kind: z.enum(['transient', 'input', 'fatal', 'flag']) }) }, async ({ kind }) => {
      if (kind === 'transient') throw Object.assign(new Error('connect ECONNRESET 10.0.0.1:443'), { code: 'ECONNRESET' });
      if (kind === 'input') throw new RangeError('Invalid time zone specified: Mars/Olympus');
      if (kind === 'flag') throw Object.assign(new Error('quota exhausted'), { retryable: true });
      throw new TypeError("Cannot read properties of undefined (reading 'x')");
    });
    server.registerTool('wait_abort', { description: 'Waits until cancelled.' }, async (extra) =>
      track(
        () =>
          new Promise((resolve) => {
            const timer = setTimeout(() => resolve(text('not cancelled')), 5000);
            extra.mcpReq.signal.addEventListener('abort', () => {
              clearTimeout(timer);
              stats.aborted++;
              resolve(text('cancelled'));
            });
          }),
      ),
    );
    server.registerTool('ask', { description: 'Asks the user for a name.', inputSchema: z.object({ message: z.string() }) }, async ({ message }, extra) => {
      const answer = await extra.mcpReq.elicitInput({
        message,
        requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      });
      return text(`${answer.action}:${JSON.stringify(answer.content ?? null)}`);
    });
    server.server.setNotificationHandler('notifications/roots/list_changed', async () => {
      try {
        await server.server.listRoots();
        stats.rootsReactions.push('listed');
      } catch (error) {
        stats.rootsReactions.push(`refused: ${(error as Error).message}`);
      }
    });
    server.registerTool('announce', { description: 'Publishes change events both ways.' }, async () => {
      ctx.berth.notify.resourceUpdated('test://thing');
      await server.sendToolListChanged();
      return text('announced');
    });
    return server;
  };
}

export function newStats(): FixtureStats {
  return { built: 0, maxConcurrentPerInstance: 0, aborted: 0, eras: [], rootsReactions: [] };
}

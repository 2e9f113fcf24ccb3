/**
 * What a module's server factory receives. The SDK's `McpServerFactory`
 * context (`era`, `authInfo?`) extended with `berth`, through which module
 * code publishes change events and logs. Module authors import these types
 * from `@berth/runtime/backend/module/context.ts`.
 *
 * How instances are used: the factory is called once per pooled instance,
 * not per request. An instance serves one client request at a time and is
 * then reused for other callers, so keep per-client state out of it.
 * Server→client requests (elicitation, sampling, roots) and log or progress
 * notifications reach the client whose request the instance is serving;
 * send them from within a handler (ctx.mcpReq.*), never from work that
 * outlives the handler.
 */
import type { McpServer, Server } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { Era, Principal } from '../types.ts';

/** Publishes change events to every subscribed client, on every replica. */
export interface BerthNotify {
  toolsChanged(): void;
  promptsChanged(): void;
  resourcesChanged(): void;
  resourceUpdated(uri: string): void;
}

/** The exchange an instance is serving right now (instances serve one at a time). */
export interface CurrentExchange {
  principal: Principal;
  era: Era;
  protocolVersion: string;
  /** Legacy sessions only. */
  sessionId?: string;
}

export interface BerthModuleContext {
  notify: BerthNotify;
  /** Structured logger carrying the tenant. */
  logger: Logger;
  /** `namespace/name` of the McpServer. */
  tenant: string;
  /**
   * The caller of the exchange this instance is serving, for per-principal
   * behaviour. Instances are pooled and reused across principals, so read
   * it inside handlers, never at construction time.
   */
  current(): CurrentExchange | undefined;
}

export interface BerthFactoryContext {
  era: Era;
  /**
   * Always undefined for pooled instances (an instance serves many callers);
   * use `berth.current()` inside handlers instead.
   */
  authInfo?: undefined;
  berth: BerthModuleContext;
}

/** The export a `module` source must provide. */
export type BerthServerFactory = (ctx: BerthFactoryContext) => McpServer | Server | Promise<McpServer | Server>;

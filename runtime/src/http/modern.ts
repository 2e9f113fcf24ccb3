/**
 * The 2026-07-28 (stateless) path: every request stands alone. Responses are
 * JSON unless a related message (progress, logging) precedes the result, in
 * which case the reply upgrades to SSE — the SDK's `auto` response mode. A
 * client that disconnects cancels its request (the era's cancellation signal).
 */
import type { FastifyReply } from 'fastify';
import type { InboundModernRoute } from '@modelcontextprotocol/server';
import type { ClientContext, Principal } from '../backend/types.ts';
import type { McpHeaders } from '../protocol/classify.ts';
import type { JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../protocol/jsonrpc.ts';
import { validateStandardHeaders } from '../protocol/modern-headers.ts';
import { isServedModernVersion, MODERN_VERSIONS } from '../protocol/versions.ts';
import type { RuntimeContext } from './context.ts';
import { HttpErrors, sendDraining, sendError } from './errors.ts';
import { Exchange, type Delivery } from './exchange.ts';
import type { ListenService } from './listen.ts';
import type { SseStream } from './sse.ts';

const MISSING_CAPABILITY = -32021;

class ModernDelivery implements Delivery {
  private readonly rt: RuntimeContext;
  private readonly reply: FastifyReply;
  private stream: SseStream | undefined;

  constructor(rt: RuntimeContext, reply: FastifyReply) {
    this.rt = rt;
    this.reply = reply;
  }

  related(message: JsonRpcNotification | JsonRpcRequest): void {
    if (this.reply.raw.destroyed) return;
    this.stream ??= this.rt.hub.open(this.reply, 'post');
    this.stream.event(undefined, JSON.stringify(message));
  }

  final(response: JsonRpcResponse, json: string): void {
    if (this.stream) {
      this.stream.event(undefined, json);
      this.stream.end();
      return;
    }
    if (this.reply.raw.destroyed) return;
    const status = 'error' in response && response.error.code === MISSING_CAPABILITY ? 400 : 200;
    this.reply.code(status).header('content-type', 'application/json; charset=utf-8').send(json);
  }

  abandon(): void {
    if (this.stream) this.stream.end();
    else if (!this.reply.sent) {
      this.reply.hijack();
      this.reply.raw.destroy();
    }
  }
}

export type ModernHandler = (reply: FastifyReply, route: InboundModernRoute, headers: McpHeaders, principal: Principal) => Promise<void>;

/** Builds the handler of modern-classified POSTs. */
export function createModernHandler(rt: RuntimeContext, listen: ListenService): ModernHandler {
  return async function handleModern(reply, route, headers, principal) {
    const revision = route.classification.revision;
    const id = route.messageKind === 'request' ? route.message.id : null;
    if (revision === undefined || !isServedModernVersion(revision)) {
      sendError(reply, HttpErrors.MODERN_UNSUPPORTED_VERSION, {
        id,
        message: `Unsupported protocol version: ${revision ?? 'unknown'} (supported: ${MODERN_VERSIONS.join(', ')})`,
        data: { supported: [...MODERN_VERSIONS], requested: revision ?? 'unknown' },
      });
      return;
    }
    const ctx: Omit<ClientContext, 'signal'> = { era: 'modern', protocolVersion: revision, principal, tenant: rt.tenant };

    if (route.messageKind === 'notification') {
      rt.metrics.requests.inc({ era: 'modern', kind: 'notification' });
      const note = route.message as unknown as JsonRpcNotification;
      // Modern clients cancel by closing the request's stream; a posted cancel has nothing to reach here.
      if (note.method !== 'notifications/cancelled') {
        try {
          await rt.backend.notify({ ...ctx, signal: AbortSignal.timeout(rt.exchangeHost.timeoutMs) }, note);
        } catch (error) {
          rt.logger.warn({ err: error, method: note.method }, 'Backend failed to take a notification');
        }
      }
      reply.code(202).send();
      return;
    }

    const message = route.message as unknown as JsonRpcRequest;
    const mismatch = validateStandardHeaders(headers, message.method, message.params, revision);
    if (mismatch) {
      sendError(reply, HttpErrors.HEADER_MISMATCH, { id: message.id, message: mismatch.message, data: mismatch.data });
      return;
    }
    rt.metrics.requests.inc({ era: 'modern', kind: 'request' });
    if (message.method === 'subscriptions/listen') return listen.serve(reply, message, ctx);

    // A draining replica serves new stateless calls until its backend closes; after that a 503 sends them elsewhere.
    if (rt.backendClosing) return void sendDraining(reply, message.id);
    const exchange = new Exchange(rt.exchangeHost, ctx, message, new ModernDelivery(rt, reply));
    reply.raw.on('close', () => {
      if (!exchange.done) exchange.cancel('client disconnected');
    });
    exchange.start();
  };
}

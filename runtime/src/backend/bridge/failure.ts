/** How peer failures (crash, unreachable, timeout) reach clients: tool calls as `isError` results, others as JSON-RPC errors. */
import type { Logger } from 'pino';
import { ErrorCode, errorResponse, type JsonRpcRequest, type JsonRpcResponse } from '../../protocol/jsonrpc.ts';
import type { ClientContext } from '../types.ts';
import { notePeerFailure } from '../../observability/tracing.ts';
import { encodeModernResult } from './modern-result.ts';
import { PeerFailure } from './peer.ts';

/** The client's response when serving `req` failed with `err`. */
export function failureResponse(ctx: Pick<ClientContext, 'era'>, req: JsonRpcRequest, err: unknown, logger: Logger): JsonRpcResponse {
  if (err instanceof PeerFailure) {
    notePeerFailure(err.kind === 'protocol' ? 'fatal' : 'transient');
    if (req.method === 'tools/call') {
      const result: Record<string, unknown> = { content: [{ type: 'text', text: err.message }], isError: true };
      return { jsonrpc: '2.0', id: req.id, result: ctx.era === 'modern' ? encodeModernResult(req.method, result) : result };
    }
    if (err.kind === 'cancelled') return errorResponse(req.id, ErrorCode.InternalError, err.message);
    return errorResponse(req.id, err.kind === 'timeout' ? ErrorCode.UpstreamTimeout : ErrorCode.UpstreamError, err.message);
  }
  logger.error({ err, method: req.method }, 'Failed to serve a request');
  return errorResponse(req.id, ErrorCode.InternalError, 'internal error');
}

/**
 * Unfinished `tools/call`s of legacy sessions. The owner records each call
 * (per SSE stream) when it starts; appending the call's final response to the
 * event store clears the record in the same script. When a client resumes a
 * stream whose owner is gone, the resuming replica takes the call over:
 * re-executes it once if the tool is annotated `idempotentHint: true`,
 * otherwise appends an `isError` result saying it was not retried.
 */
import type { Logger } from 'pino';
import type { JsonRpcRequest, JsonRpcResponse } from '../protocol/jsonrpc.ts';
import type { RedisClient } from '../store/redis/connection.ts';
import type { Keys } from '../store/redis/keys.ts';
import { runScript } from '../store/redis/scripts.ts';
import type { EventStore } from '../store/types.ts';
import { addressRefuses, type Ownership } from './ownership.ts';
import { beginCall, takeOverCall } from './scripts.ts';

/** Runs a request against this replica's backend for the session (rehydrated from its stored initialize). */
export type Execute = (request: JsonRpcRequest, signal: AbortSignal) => Promise<JsonRpcResponse>;

export interface InflightOptions {
  redis: RedisClient;
  keys: Keys;
  events: EventStore;
  ownership: Ownership;
  logger: Logger;
  /** In-flight records expire with the session. */
  idleTimeoutSeconds: number;
}

export type RecoveryOutcome = 'complete' | 'reexecuted' | 'not-retried' | 'owner-alive' | 'stopped';

/** The isError result for a call lost with its replica. */
export function replicaLostResult(request: JsonRpcRequest, reason: string): JsonRpcResponse {
  const tool = typeof request.params?.name === 'string' ? request.params.name : 'the tool';
  return {
    jsonrpc: '2.0',
    id: request.id,
    result: {
      content: [{ type: 'text', text: `Error (fatal): the server replica running ${tool} was lost and the call was not retried (${reason}). It may or may not have taken effect; check before calling it again.` }],
      isError: true,
      _meta: { 'dev.berth/failure': { kind: 'fatal', retryable: false, reason: 'replica_lost' } },
    },
  };
}

/** Finds a tool's `idempotentHint` via tools/list (following pages). */
export async function toolIsIdempotent(execute: Execute, tool: string, signal: AbortSignal): Promise<boolean> {
  let cursor: string | undefined;
  for (let page = 0; page < 20; page++) {
    const res = await execute({ jsonrpc: '2.0', id: `berth-recovery-list-${page}`, method: 'tools/list', params: cursor ? { cursor } : {} }, signal);
    if (!('result' in res)) return false;
    const tools = Array.isArray(res.result.tools) ? (res.result.tools as Array<{ name?: unknown; annotations?: { idempotentHint?: unknown } }>) : [];
    const found = tools.find((t) => t.name === tool);
    if (found) return found.annotations?.idempotentHint === true;
    cursor = typeof res.result.nextCursor === 'string' ? res.result.nextCursor : undefined;
    if (!cursor) return false;
  }
  return false;
}

export interface Inflight {
  /** Records a call that starts streaming on this replica (one round trip; pipelines with the priming append). */
  begin(sessionId: string, streamId: string, request: JsonRpcRequest): Promise<void>;
  /**
   * Watches a resumed stream until its call completes, and finishes the call
   * when its owner is gone. Resolves with what happened; `signal` stops watching.
   */
  recover(sessionId: string, streamId: string, execute: Execute, signal: AbortSignal): Promise<RecoveryOutcome>;
}

/** Creates the in-flight registry. */
export function createInflight(opts: InflightOptions): Inflight {
  const { redis, keys, events, ownership, logger } = opts;
  const ttlMs = opts.idleTimeoutSeconds * 1000;
  const me = ownership.replicaId;

  const finish = async (sessionId: string, streamId: string, entry: string, execute: Execute, signal: AbortSignal): Promise<RecoveryOutcome> => {
    const tab1 = entry.indexOf('\t');
    const tab2 = entry.indexOf('\t', tab1 + 1);
    const attempts = Number(entry.slice(tab1 + 1, tab2));
    let request: JsonRpcRequest;
    try {
      request = JSON.parse(entry.slice(tab2 + 1)) as JsonRpcRequest;
    } catch {
      return 'complete';
    }
    const tool = typeof request.params?.name === 'string' ? request.params.name : '';
    let response: JsonRpcResponse;
    let outcome: RecoveryOutcome;
    // Attempt 1 is the takeover from the original owner; a second takeover means a re-execution was itself lost.
    const retry = attempts <= 1 && tool !== '' && (await toolIsIdempotent(execute, tool, signal).catch(() => false));
    if (retry) {
      logger.info({ session: sessionId, tool }, 'Re-executing an idempotent call lost with its replica');
      response = await execute(request, signal);
      outcome = 'reexecuted';
    } else {
      logger.info({ session: sessionId, tool, attempts }, 'A call was lost with its replica; answering with an error');
      response = replicaLostResult(request, attempts <= 1 ? 'the tool is not marked idempotent' : 'a retry was lost as well');
      outcome = 'not-retried';
    }
    await events.append(sessionId, streamId, response);
    return outcome;
  };

  return {
    async begin(sessionId, streamId, request) {
      await runScript(redis, beginCall, [keys.inflight(sessionId)], [streamId, `${me}\t0\t${JSON.stringify(request)}`, ttlMs]);
    },

    async recover(sessionId, streamId, execute, signal) {
      let force = '';
      while (!signal.aborted) {
        let r: string[];
        try {
          r = await runScript<string[]>(redis, takeOverCall, [keys.inflight(sessionId), keys.session(sessionId)], [streamId, me, keys.prefix, force ? '1' : '0']);
        } catch (err) {
          logger.debug({ err, session: sessionId }, 'Checking an unfinished call failed; retrying');
          await sleep(ownership.heartbeatMs, signal);
          continue;
        }
        const kind = r[0];
        if (kind === 'none') return 'complete';
        if (kind === 'mine') return 'owner-alive';
        if (kind === 'taken') return finish(sessionId, streamId, r[1]!, execute, signal);
        // The owner's heartbeat is live. A process killed outright leaves its heartbeat for a few
        // seconds; a refused connection at its address settles it sooner.
        const owner = r[1]!;
        const info = await ownership.lookup(owner).catch(() => undefined);
        if (info && (await addressRefuses(info.url))) {
          logger.info({ session: sessionId, owner }, 'Owner replica refuses connections; treating it as gone');
          await ownership.bury(owner).catch(() => {});
          force = owner;
          continue;
        }
        await sleep(ownership.heartbeatMs, signal);
      }
      return 'stopped';
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * The multi-replica rig: a real redis-server, N `berth run` processes on the
 * same Redis, and HAProxy round-robin in front; plus a raw legacy client that
 * resumes broken SSE streams with Last-Event-ID like a spec-following client.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBerth, type RunningBerth } from '../cli-helpers.ts';
import { freePort } from './free-port.ts';
import { legacyHeaders } from './http-app.ts';
import { readSse, type SseEvent } from './sse-stream.ts';

export const MANIFEST = join(import.meta.dirname, '..', 'fixtures', 'replicas', 'mcpserver.yaml');
export const PREFIX = 'berth:{test/replicas}:';

export interface Replica {
  id: string;
  port: number;
  berth: RunningBerth;
  pid: number;
}

let seq = 0;
/** Starts one runtime process on `redisUrl`. */
export async function startReplica(redisUrl: string, manifest = MANIFEST): Promise<Replica> {
  const port = await freePort();
  const id = `replica-${process.pid}-${++seq}`;
  const berth = await startBerth(['run', '-f', manifest, '--redis', redisUrl, '--host', '127.0.0.1', '--port', String(port)], {
    env: { BERTH_REPLICA_ID: id, BERTH_LOG_LEVEL: 'info' },
    timeoutMs: 60_000,
  });
  return { id, port, berth, pid: berth.child.pid ?? 0 };
}

/** Resident set size of a process in bytes (Linux). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

export interface CallResult {
  response: { result?: { isError?: boolean; content?: Array<{ text?: string }> }; error?: { code: number; message: string } } | undefined;
  /** Every SSE event with data, in arrival order (across resumptions). */
  events: SseEvent[];
  resumes: number;
  /** HTTP status of the first POST. */
  status: number;
  /** ms from the first broken stream to the final response (0 when never broken). */
  resumeMs: number;
}

/** A legacy tools/call that follows its SSE stream and resumes with Last-Event-ID when it breaks. */
export async function legacyCall(
  url: string,
  sessionId: string,
  id: number,
  name: string,
  args: Record<string, unknown>,
  opts: { progressToken?: string; deadlineMs?: number; onEvent?: (e: SseEvent) => void } = {},
): Promise<CallResult> {
  const deadline = Date.now() + (opts.deadlineMs ?? 30_000);
  const events: SseEvent[] = [];
  let response: CallResult['response'];
  let lastId: string | undefined;
  let brokenAt = 0;
  let resumes = 0;
  const take = (e: SseEvent): boolean => {
    if (e.id) lastId = e.id;
    if (!e.data) return false;
    events.push(e);
    opts.onEvent?.(e);
    const msg = JSON.parse(e.data) as { id?: unknown; result?: unknown; error?: unknown };
    if (msg.id === id && ('result' in msg || 'error' in msg)) {
      response = msg as CallResult['response'];
      return true;
    }
    return false;
  };
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, ...(opts.progressToken && { _meta: { progressToken: opts.progressToken } }) } });
  let res: Response | undefined;
  for (;;) {
    try {
      res = await fetch(url, { method: 'POST', headers: legacyHeaders(sessionId), body, signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    break;
  }
  const status = res.status;
  if (status !== 200) {
    const text = await res.text();
    return { response: text ? (JSON.parse(text) as CallResult['response']) : undefined, events, resumes, status, resumeMs: 0 };
  }
  if (!(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    response = (await res.json()) as CallResult['response'];
    return { response, events, resumes, status, resumeMs: 0 };
  }
  let outcome = await readSse(res.body!, take);
  while (!response) {
    if (outcome !== 'stopped' && !brokenAt) brokenAt = Date.now();
    if (!lastId || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
    resumes++;
    let get: Response;
    try {
      get = await fetch(url, { method: 'GET', headers: { ...legacyHeaders(sessionId), accept: 'text/event-stream', 'last-event-id': lastId }, signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
    } catch {
      outcome = 'broken';
      continue;
    }
    if (get.status !== 200) {
      await get.text().catch(() => '');
      outcome = 'broken';
      continue;
    }
    outcome = await readSse(get.body!, take);
  }
  return { response, events, resumes, status, resumeMs: brokenAt ? Date.now() - brokenAt : 0 };
}

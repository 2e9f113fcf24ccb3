/**
 * One stdio MCP server process that Berth initialized itself. Requests from
 * many exchanges are multiplexed onto it: ids and progress tokens are
 * rewritten to per-child values, responses and progress are routed back by
 * them, and messages stdio cannot tie to a request (logging, server→client
 * requests) go to the in-flight exchange only when that is unambiguous.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { JsonRpcErrorObject, JsonRpcNotification } from '../../protocol/jsonrpc.ts';
import { asInitializeResult, type InitializeResultLike } from '../bridge/discover.ts';
import { isLegacyVersion } from '../bridge/envelope.ts';
import { PeerFailure, type LegacyPeer, type PeerExchangeHooks, type PeerReply } from '../bridge/peer.ts';
import { SmallMap } from '../../small-collections.ts';
import { LineReader } from './framing.ts';

export interface ChildSpawnSpec {
  file: string;
  args: readonly string[];
  env: Record<string, string>;
  cwd: string;
}

export interface ChildOptions {
  /** Serial number, for logs. */
  id: number;
  spawn: ChildSpawnSpec;
  /** `initialize` params Berth sends (its own for shared children, the session's for perSession). */
  initialize: Record<string, unknown>;
  handshakeTimeoutMs: number;
  logger: Logger;
  /** Notifications not tied to any request (list changes, resource updates, unattributable logs). */
  onUnsolicited(child: StdioChild, n: JsonRpcNotification): void;
  /** The process is gone (after in-flight calls were failed). */
  onExit(child: StdioChild, info: ExitInfo): void;
  maxLineBytes?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Whether Berth asked it to stop. */
  expected: boolean;
  /** Whether it had finished its handshake. */
  wasReady: boolean;
  /** Why it failed, when it did. */
  reason?: string;
}

interface Pending {
  hooks: PeerExchangeHooks;
  resolve(reply: PeerReply): void;
  reject(err: PeerFailure): void;
  token: string | undefined;
  origToken: unknown;
  /**
   * The abort listener to remove when the call settles. Kept as two fields,
   * not a removal closure: measured on the stdio bench rung, a per-call
   * closure stored here kept about a fifth of every call's objects alive
   * through young-generation collections (promoted 635 KB per scavenge
   * against 8 KB), so old-generation garbage and RSS grew with the call rate.
   */
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export type ChildState = 'starting' | 'ready' | 'closing' | 'exited';

const STDERR_LINES_PER_SECOND = 100;
const STDERR_BURST = 500;
const HANDSHAKE_ID = 0;

/** Describes how a process ended, for client-facing messages. */
export function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  return code !== null ? `code ${code}` : `signal ${signal ?? 'unknown'}`;
}

export class StdioChild implements LegacyPeer {
  readonly id: number;
  state: ChildState = 'starting';
  /** When the handshake completed (ms since epoch). */
  readyAt = 0;
  /** Last time a request was sent (for idle reaping). */
  lastUsed = Date.now();
  pid: number | undefined;
  readonly #opts: ChildOptions;
  readonly #log: Logger;
  #proc: ChildProcess | undefined;
  #init: InitializeResultLike | undefined;
  // Emptied and refilled on every call: a Map here reallocates its hash table as it shrinks.
  readonly #inflight = new SmallMap<number, Pending>();
  readonly #progress = new SmallMap<string, Pending>();
  /** In-flight requests per audience (exclusive routing keeps messages attributable). */
  readonly #audiences = new SmallMap<string, number>();
  #nextId = 0;
  #expectedExit = false;
  #exit: ExitInfo | undefined;
  #exitWaiters: Array<() => void> = [];
  #finalized = false;
  #stderrTokens = STDERR_BURST;
  #stderrRefill = Date.now();
  #stderrDropped = 0;
  #failReason: string | undefined;

  constructor(opts: ChildOptions) {
    this.id = opts.id;
    this.#opts = opts;
    this.#log = opts.logger.child({ child: opts.id });
  }

  get init(): InitializeResultLike {
    if (!this.#init) throw new PeerFailure('unavailable', 'the server process has not finished its handshake');
    return this.#init;
  }

  /** Requests in flight (the pool's load measure). */
  get load(): number {
    return this.#inflight.size;
  }

  /** Whether every request in flight here is for `audience` (or none is). */
  servesOnly(audience: string): boolean {
    const n = this.#audiences.size;
    return n === 0 || (n === 1 && this.#audiences.has(audience));
  }

  /** Spawns the process and runs the MCP handshake; rejects with PeerFailure on failure (the process is then killed). */
  async start(): Promise<void> {
    const { file, args, env, cwd } = this.#opts.spawn;
    const started = Date.now();
    let proc: ChildProcess;
    try {
      proc = spawn(file, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true, windowsHide: true });
    } catch (err) {
      this.#markFailed(`cannot start the server process: ${(err as Error).message}`);
      // No process, so no exit event: report the end ourselves so the owner forgets this child.
      queueMicrotask(() => this.#onProcessGone(null, null));
      throw new PeerFailure('unavailable', this.#failReason!);
    }
    this.#proc = proc;
    this.pid = proc.pid;
    this.#log.info({ pid: proc.pid, command: file, args }, 'Started a stdio server process');
    const reader = new LineReader((line) => this.#onLine(line), {
      maxLineBytes: this.#opts.maxLineBytes ?? 64 * 1024 * 1024,
      onOverflow: (size) => {
        this.#log.error({ size }, 'Killed a stdio server process that wrote an oversized line');
        this.kill('the server process wrote a message larger than the limit');
      },
    });
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => reader.push(d));
    proc.stdout!.on('end', () => reader.end());
    const errReader = new LineReader((line) => this.#onStderr(line), { maxLineBytes: 64 * 1024, onOverflow: () => this.#onStderr('[a stderr line over 64 KiB was dropped]') });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => errReader.push(d));
    proc.stderr!.on('end', () => errReader.end());
    proc.stdin!.on('error', () => undefined);
    proc.on('error', (err) => {
      this.#markFailed(`cannot start the server process: ${err.message}`);
      this.#onProcessGone(null, null);
    });
    proc.on('exit', (code, signal) => {
      this.#exit = { code, signal, expected: this.#expectedExit, wasReady: this.readyAt > 0, ...(this.#failReason ? { reason: this.#failReason } : {}) };
      // Let stdout drain so responses written just before exit are not lost.
      const t = setTimeout(() => this.#onProcessGone(code, signal), 200);
      t.unref();
      proc.once('close', () => {
        clearTimeout(t);
        this.#onProcessGone(code, signal);
      });
    });

    const hooks: PeerExchangeHooks = {
      audience: 'berth',
      notification: () => undefined,
      // A server may ask for roots or ping during its handshake; nobody can answer for a client yet.
      request: async (method) => ({ error: { code: -32601, message: `${method} is not available before the handshake completes` } }),
    };
    const handshake = new Promise<PeerReply>((resolve, reject) => {
      this.#inflight.set(HANDSHAKE_ID, { hooks, resolve, reject, token: undefined, origToken: undefined, signal: undefined, onAbort: undefined });
    });
    this.#write({ jsonrpc: '2.0', id: HANDSHAKE_ID, method: 'initialize', params: this.#opts.initialize });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PeerFailure('timeout', `the server process did not finish its handshake within ${Math.round(this.#opts.handshakeTimeoutMs / 1000)}s`)), this.#opts.handshakeTimeoutMs);
    });
    try {
      const reply = await Promise.race([handshake, timeout]);
      if ('error' in reply) throw new PeerFailure('protocol', `the server process rejected initialize: ${reply.error.message}`);
      const init = asInitializeResult(reply.result);
      if (!init) throw new PeerFailure('protocol', 'the server process answered initialize with an invalid result');
      if (!isLegacyVersion(init.protocolVersion)) throw new PeerFailure('protocol', `the server process speaks an unsupported protocol version (${init.protocolVersion})`);
      this.#init = init;
    } catch (err) {
      const failure = err instanceof PeerFailure ? err : new PeerFailure('protocol', String(err));
      this.#markFailed(failure.message);
      this.#log.error({ reason: failure.message }, 'Killed a stdio server process that failed its handshake');
      this.kill(failure.message);
      throw failure;
    } finally {
      clearTimeout(timer);
      this.#inflight.delete(HANDSHAKE_ID);
    }
    if (this.state !== 'starting') throw new PeerFailure('exited', this.#failReason ?? 'the server process exited during its handshake');
    this.#write({ jsonrpc: '2.0', method: 'notifications/initialized' });
    this.state = 'ready';
    this.readyAt = Date.now();
    this.#log.info({ pid: this.pid, ms: this.readyAt - started, protocolVersion: this.#init.protocolVersion, server: this.#init.serverInfo.name }, 'A stdio server process is ready');
  }

  call(method: string, params: Record<string, unknown> | undefined, hooks: PeerExchangeHooks, signal?: AbortSignal): Promise<PeerReply> {
    if (this.state !== 'ready') return Promise.reject(new PeerFailure('unavailable', 'the server process is not available; retrying may help'));
    if (signal?.aborted) return Promise.reject(new PeerFailure('cancelled', 'the request was cancelled'));
    const id = ++this.#nextId;
    this.lastUsed = Date.now();
    let p = params;
    let token: string | undefined;
    let origToken: unknown;
    const meta = params?._meta as Record<string, unknown> | undefined;
    if (meta && meta.progressToken !== undefined) {
      origToken = meta.progressToken;
      token = `b${this.id}.${id}`;
      p = { ...params, _meta: { ...meta, progressToken: token } };
    }
    return new Promise<PeerReply>((resolve, reject) => {
      const pending: Pending = { hooks, resolve, reject, token, origToken, signal: undefined, onAbort: undefined };
      this.#inflight.set(id, pending);
      this.#audiences.set(hooks.audience, (this.#audiences.get(hooks.audience) ?? 0) + 1);
      if (token) this.#progress.set(token, pending);
      if (signal) {
        const onAbort = () => {
          if (this.#settle(id) !== pending) return;
          const reason = signal.reason instanceof Error ? signal.reason.message : typeof signal.reason === 'string' ? signal.reason : 'cancelled by the client';
          this.#write({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } });
          reject(new PeerFailure('cancelled', `the request was cancelled: ${reason}`));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        pending.signal = signal;
        pending.onAbort = onAbort;
      }
      this.#write(p === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params: p });
    });
  }

  notify(method: string, params: Record<string, unknown> | undefined): void {
    if (this.state !== 'ready') return;
    this.#write(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
  }

  /** Kills the process group at once (handshake failure, protocol violation). */
  kill(reason: string): void {
    this.#markFailed(reason);
    this.#signal('SIGKILL');
  }

  /** Stops the process before `deadline`: stdin closed, then SIGTERM, then SIGKILL. */
  async close(deadline: number): Promise<void> {
    if (this.#exit || !this.#proc) return;
    this.#expectedExit = true;
    if (this.state !== 'exited') this.state = 'closing';
    const budget = Math.max(0, deadline - Date.now());
    this.#proc.stdin?.end();
    if (await this.#waitExit(budget * 0.4)) return;
    this.#signal('SIGTERM');
    if (await this.#waitExit(budget * 0.4)) return;
    this.#log.warn({ pid: this.pid }, 'Killed a stdio server process that ignored SIGTERM');
    this.#signal('SIGKILL');
    await this.#waitExit(Math.max(20, budget * 0.2 - 5));
  }

  /** Resolves once the process is gone (true) or after `ms` (false). */
  #waitExit(ms: number): Promise<boolean> {
    if (this.#finalized) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#exitWaiters = this.#exitWaiters.filter((w) => w !== done);
        resolve(false);
      }, ms);
      const done = () => {
        clearTimeout(t);
        resolve(true);
      };
      this.#exitWaiters.push(done);
    });
  }

  #signal(sig: NodeJS.Signals): void {
    const pid = this.#proc?.pid;
    if (pid === undefined || this.#finalized) return;
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        this.#proc?.kill(sig);
      } catch {
        /* already gone */
      }
    }
  }

  #markFailed(reason: string): void {
    this.#failReason ??= reason;
  }

  #write(msg: unknown): void {
    const stdin = this.#proc?.stdin;
    if (!stdin || stdin.destroyed || !stdin.writable) return;
    stdin.write(JSON.stringify(msg) + '\n');
  }

  #settle(id: number): Pending | undefined {
    const p = this.#inflight.get(id);
    if (!p) return undefined;
    this.#inflight.delete(id);
    if (id !== HANDSHAKE_ID) {
      const a = p.hooks.audience;
      const n = (this.#audiences.get(a) ?? 1) - 1;
      if (n > 0) this.#audiences.set(a, n);
      else this.#audiences.delete(a);
    }
    if (p.token) this.#progress.delete(p.token);
    if (p.signal) p.signal.removeEventListener('abort', p.onAbort!);
    return p;
  }

  #onLine(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.#log.warn({ line: line.length > 200 ? `${line.slice(0, 200)}…` : line }, 'Ignored a line on stdout that is not JSON');
      return;
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
      this.#log.warn('Ignored a stdout message that is not a JSON-RPC object');
      return;
    }
    const method = msg.method;
    if (typeof method !== 'string') {
      this.#onResponse(msg);
      return;
    }
    const id = msg.id;
    if (id !== undefined && id !== null) this.#onServerRequest(id as string | number, method, msg.params as Record<string, unknown> | undefined);
    else this.#onNotification({ jsonrpc: '2.0', method, ...(msg.params !== undefined ? { params: msg.params as Record<string, unknown> } : {}) });
  }

  #onResponse(msg: Record<string, unknown>): void {
    const id = msg.id;
    if (typeof id !== 'number') return;
    const p = this.#settle(id);
    if (!p) return;
    if ('error' in msg && msg.error && typeof msg.error === 'object') p.resolve({ error: msg.error as JsonRpcErrorObject });
    else p.resolve({ result: (msg.result && typeof msg.result === 'object' ? msg.result : {}) as Record<string, unknown> });
  }

  #onNotification(n: JsonRpcNotification): void {
    if (n.method === 'notifications/progress') {
      const token = n.params?.progressToken;
      const p = typeof token === 'string' ? this.#progress.get(token) : undefined;
      if (p) p.hooks.notification({ jsonrpc: '2.0', method: n.method, params: { ...n.params, progressToken: p.origToken } });
      return;
    }
    if (n.method.endsWith('/list_changed') || n.method === 'notifications/resources/updated') {
      this.#opts.onUnsolicited(this, n);
      return;
    }
    const owner = this.#attribute();
    if (owner) owner.hooks.notification(n);
    else this.#opts.onUnsolicited(this, n);
  }

  #onServerRequest(id: string | number, method: string, params: Record<string, unknown> | undefined): void {
    if (method === 'ping') {
      this.#write({ jsonrpc: '2.0', id, result: {} });
      return;
    }
    const owner = this.#attribute();
    if (!owner) {
      this.#log.debug({ method }, 'Refused a server-to-client request no client request can be tied to');
      this.#write({
        jsonrpc: '2.0',
        id,
        error: { code: -32603, message: `${method} can only be relayed while exactly one client is being served by this process` },
      });
      return;
    }
    owner.hooks.request(method, params).then(
      (reply) => this.#write('result' in reply ? { jsonrpc: '2.0', id, result: reply.result } : { jsonrpc: '2.0', id, error: reply.error }),
      (err: unknown) => this.#write({ jsonrpc: '2.0', id, error: { code: -32603, message: String((err as Error)?.message ?? err) } }),
    );
  }

  /**
   * The in-flight request a message without request context belongs to:
   * the newest one, provided every in-flight request has the same audience.
   */
  #attribute(): Pending | undefined {
    let last: Pending | undefined;
    for (const p of this.#inflight.values()) {
      if (last && last.hooks.audience !== p.hooks.audience) return undefined;
      last = p;
    }
    return last && last.hooks.audience !== 'berth' ? last : undefined;
  }

  #onStderr(line: string): void {
    const now = Date.now();
    this.#stderrTokens = Math.min(STDERR_BURST, this.#stderrTokens + ((now - this.#stderrRefill) / 1000) * STDERR_LINES_PER_SECOND);
    this.#stderrRefill = now;
    if (this.#stderrTokens < 1) {
      this.#stderrDropped++;
      return;
    }
    this.#stderrTokens -= 1;
    if (this.#stderrDropped) {
      this.#log.warn({ dropped: this.#stderrDropped }, 'Dropped stderr lines of a chatty stdio server process');
      this.#stderrDropped = 0;
    }
    this.#log.info({ stream: 'stderr' }, line.length > 4096 ? `${line.slice(0, 4096)}…` : line);
  }

  #onProcessGone(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#finalized) return;
    this.#finalized = true;
    const wasReady = this.readyAt > 0;
    const expected = this.#expectedExit;
    this.state = 'exited';
    const message = `the server process exited (${exitText(code, signal)}); the call was not completed; retrying may help`;
    for (const id of this.#inflight.keys()) {
      const p = this.#settle(id);
      p?.reject(new PeerFailure('exited', id === HANDSHAKE_ID ? (this.#failReason ?? `the server process exited (${exitText(code, signal)}) during its handshake`) : message));
    }
    const info: ExitInfo = this.#exit ?? { code, signal, expected, wasReady };
    if (!info.reason && this.#failReason) info.reason = this.#failReason;
    if (expected) this.#log.info({ pid: this.pid, code, signal }, 'A stdio server process stopped');
    else this.#log.warn({ pid: this.pid, code, signal, reason: this.#failReason }, 'A stdio server process exited unexpectedly');
    for (const w of this.#exitWaiters) w();
    this.#exitWaiters = [];
    this.#opts.onExit(this, info);
  }
}

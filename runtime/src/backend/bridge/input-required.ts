/**
 * Server→client requests for 2026-07-28 clients. That revision has no
 * server→client requests on the wire: a server answers `tools/call` (or
 * `prompts/get`, `resources/read`) with an `input_required` result and the
 * client retries with `inputResponses` and the opaque `requestState`.
 *
 * A 2025-era server instead sends `sampling/createMessage` (etc.) mid-call
 * and waits. An Interaction bridges the two: the forwarded call keeps
 * running at the server while Berth answers the client with
 * `input_required`; the retry resumes it and answers the waiting request.
 * Parked interactions live in this process and expire.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { JsonRpcNotification } from '../../protocol/jsonrpc.ts';
import type { ExchangeSink } from '../types.ts';
import type { PeerReply } from './peer.ts';

export const REQUEST_STATE_PREFIX = 'berth1.';

type Outcome = { kind: 'final'; reply: PeerReply } | { kind: 'failed'; error: unknown } | { kind: 'input'; result: Record<string, unknown> };

interface NewInput {
  key: string;
  method: string;
  params: Record<string, unknown> | undefined;
}

/** One forwarded request of a modern client, possibly spanning several client round trips. */
export class Interaction {
  readonly principalId: string;
  readonly method: string;
  readonly target: unknown;
  /** Aborts the forwarded call (client cancel during a round, or expiry while parked). */
  readonly controller = new AbortController();
  /** The sink of the round in progress; undefined while parked. */
  sink: ExchangeSink | undefined;
  /** The server identity stamped on 2026-07-28 results. */
  serverInfo: Record<string, unknown> | undefined;
  #settled: Outcome | undefined;
  #newInputs: NewInput[] = [];
  readonly #waiting = new Map<string, (reply: PeerReply) => void>();
  #wake: (() => void) | undefined;
  #seq = 0;

  constructor(principalId: string, method: string, target: unknown, sink: ExchangeSink) {
    this.principalId = principalId;
    this.method = method;
    this.target = target;
    this.sink = sink;
  }

  /** Attaches the forwarded call; its settlement ends the interaction. */
  attach(call: Promise<PeerReply>): void {
    call.then(
      (reply) => this.#settle({ kind: 'final', reply }),
      (error: unknown) => this.#settle({ kind: 'failed', error }),
    );
  }

  /** A notification of the call: delivered only while a client round is open. */
  notification(n: JsonRpcNotification): void {
    this.sink?.notification(n);
  }

  /** The server asks the client something: queued for the next `input_required` result. */
  ask(method: string, params: Record<string, unknown> | undefined): Promise<PeerReply> {
    const key = `input-${++this.#seq}`;
    const embedded: Record<string, unknown> | undefined = params && '_meta' in params ? { ...params } : params;
    // Embedded requests carry no envelope; a relatedTask/progress _meta from the server is dropped.
    if (embedded) delete embedded._meta;
    this.#newInputs.push({ key, method, params: embedded });
    const p = new Promise<PeerReply>((resolve) => this.#waiting.set(key, resolve));
    this.#wake?.();
    return p;
  }

  /** Resolves with the final reply, a failure, or an `input_required` result for the client. */
  async next(): Promise<Outcome> {
    for (;;) {
      if (this.#settled) return this.#settled;
      if (this.#newInputs.length) {
        // Let concurrent asks of the same tick join this round.
        await new Promise<void>((r) => setImmediate(r));
        if (this.#settled) return this.#settled;
        const inputRequests: Record<string, unknown> = {};
        for (const i of this.#newInputs) inputRequests[i.key] = i.params === undefined ? { method: i.method } : { method: i.method, params: i.params };
        this.#newInputs = [];
        return { kind: 'input', result: { resultType: 'input_required', inputRequests } };
      }
      await new Promise<void>((r) => (this.#wake = r));
      this.#wake = undefined;
    }
  }

  /** Feeds the client's answers to the waiting server requests; unanswered ones get an error. */
  answer(inputResponses: unknown): void {
    const responses = inputResponses !== null && typeof inputResponses === 'object' ? (inputResponses as Record<string, unknown>) : {};
    for (const [key, resolve] of this.#waiting) {
      const value = responses[key];
      this.#waiting.delete(key);
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) resolve({ result: value as Record<string, unknown> });
      else resolve({ error: { code: -32603, message: 'the client did not answer this request' } });
    }
  }

  /** Ends a parked interaction: waiting server requests fail and the call is cancelled. */
  abandon(reason: string): void {
    for (const [key, resolve] of this.#waiting) {
      this.#waiting.delete(key);
      resolve({ error: { code: -32603, message: reason } });
    }
    this.controller.abort(new Error(reason));
  }

  #settle(outcome: Outcome): void {
    if (this.#settled) return;
    this.#settled = outcome;
    this.#wake?.();
  }
}

/** Parked interactions by requestState token. Tokens are one-shot, bound to a principal, and expire. */
export class InteractionParking {
  readonly #parked = new Map<string, { interaction: Interaction; timer: NodeJS.Timeout }>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #logger: Logger;

  constructor(opts: { ttlMs: number; max: number; logger: Logger }) {
    this.#ttlMs = opts.ttlMs;
    this.#max = opts.max;
    this.#logger = opts.logger;
  }

  /** Whether `state` is a token Berth minted (parked here or on another replica). */
  static isOurs(state: unknown): state is string {
    return typeof state === 'string' && state.startsWith(REQUEST_STATE_PREFIX);
  }

  get size(): number {
    return this.#parked.size;
  }

  /** Parks `interaction`; returns the token, or undefined when the parking is full. */
  park(interaction: Interaction): string | undefined {
    if (this.#parked.size >= this.#max) return undefined;
    const token = REQUEST_STATE_PREFIX + randomBytes(18).toString('base64url');
    const timer = setTimeout(() => {
      if (this.#parked.delete(token)) {
        this.#logger.info({ method: interaction.method }, 'Expired a pending client input request');
        interaction.abandon('the client did not answer in time');
      }
    }, this.#ttlMs);
    timer.unref();
    this.#parked.set(token, { interaction, timer });
    return token;
  }

  /** Takes the interaction for `token` if it belongs to `principalId` and `method`. */
  take(token: string, principalId: string, method: string, target: unknown): Interaction | undefined {
    const entry = this.#parked.get(token);
    if (!entry) return undefined;
    const i = entry.interaction;
    if (i.principalId !== principalId || i.method !== method || i.target !== target) return undefined;
    this.#parked.delete(token);
    clearTimeout(entry.timer);
    return i;
  }

  /** Abandons everything (close). */
  clear(reason: string): void {
    for (const [token, { interaction, timer }] of this.#parked) {
      clearTimeout(timer);
      this.#parked.delete(token);
      interaction.abandon(reason);
    }
  }
}

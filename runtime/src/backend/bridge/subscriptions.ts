/**
 * Resource subscriptions on a server shared by many clients: the server sees
 * one subscription per URI while any client wants it; one client's
 * unsubscribe never cancels another's.
 */
import type { PeerReply } from './peer.ts';

export type ApplySubscription = (op: 'resources/subscribe' | 'resources/unsubscribe', uri: string) => Promise<PeerReply>;

export class SubscriptionRefs {
  readonly #byUri = new Map<string, Set<string>>();
  readonly #byKey = new Map<string, Set<string>>();
  readonly #apply: ApplySubscription;

  constructor(apply: ApplySubscription) {
    this.#apply = apply;
  }

  /** URIs with at least one subscriber (re-applied to new server instances). */
  uris(): string[] {
    return [...this.#byUri.keys()];
  }

  /** Subscribes `key` to `uri`; forwards to the server only for the first subscriber. */
  async subscribe(uri: string, key: string): Promise<PeerReply> {
    const subs = this.#byUri.get(uri);
    if (!subs) {
      const reply = await this.#apply('resources/subscribe', uri);
      if ('error' in reply) return reply;
    }
    const set = this.#byUri.get(uri) ?? new Set<string>();
    set.add(key);
    this.#byUri.set(uri, set);
    const mine = this.#byKey.get(key) ?? new Set<string>();
    mine.add(uri);
    this.#byKey.set(key, mine);
    return { result: {} };
  }

  /** Removes `key`'s subscription; forwards to the server when nobody is left. */
  async unsubscribe(uri: string, key: string): Promise<PeerReply> {
    const set = this.#byUri.get(uri);
    this.#byKey.get(key)?.delete(uri);
    if (!set || !set.delete(key)) return { result: {} };
    if (set.size > 0) return { result: {} };
    this.#byUri.delete(uri);
    const reply = await this.#apply('resources/unsubscribe', uri);
    return 'error' in reply ? { result: {} } : reply;
  }

  /** Drops every subscription of `key` (session closed). */
  async dropKey(key: string): Promise<void> {
    const mine = this.#byKey.get(key);
    if (!mine) return;
    this.#byKey.delete(key);
    for (const uri of mine) await this.unsubscribe(uri, key).catch(() => undefined);
  }
}

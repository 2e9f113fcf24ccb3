/** Maps server notifications that are not tied to a request to Backend change events. */
import type { ServerChangeEvent } from '../types.ts';
import type { JsonRpcNotification } from '../../protocol/jsonrpc.ts';

/** The change event a notification announces, or undefined. */
export function toChangeEvent(n: JsonRpcNotification): ServerChangeEvent | undefined {
  switch (n.method) {
    case 'notifications/tools/list_changed':
      return { kind: 'tools_list_changed' };
    case 'notifications/prompts/list_changed':
      return { kind: 'prompts_list_changed' };
    case 'notifications/resources/list_changed':
      return { kind: 'resources_list_changed' };
    case 'notifications/resources/updated': {
      const uri = n.params?.uri;
      return typeof uri === 'string' ? { kind: 'resource_updated', uri } : undefined;
    }
    default:
      return undefined;
  }
}

/** A small listener registry for `Backend.onChange`. */
export class ChangeListeners {
  readonly #listeners = new Set<(event: ServerChangeEvent) => void>();
  readonly #onError: (err: unknown) => void;
  constructor(onError: (err: unknown) => void) {
    this.#onError = onError;
  }
  /** Adds a listener; returns its unsubscribe function. */
  add(listener: (event: ServerChangeEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  /** Delivers `event` to every listener; a throwing listener does not stop the others. */
  emit(event: ServerChangeEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (err) {
        this.#onError(err);
      }
    }
  }
}

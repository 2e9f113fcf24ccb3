/**
 * In-memory EventBus: synchronous fan-out to the listeners of this process.
 * Several apps in one process (tests simulating replicas) share one instance.
 */
import type { ServerChangeEvent } from '../../backend/types.ts';
import type { EventBus } from '../types.ts';

/** Creates an in-memory EventBus; `onError` receives listener exceptions. */
export function createMemoryEventBus(onError?: (error: unknown) => void): EventBus & { listenerCount(): number } {
  const listeners = new Set<(event: ServerChangeEvent) => void>();
  let closed = false;
  return {
    publish(event: ServerChangeEvent): void {
      if (closed) return;
      for (const listener of listeners) {
        try {
          listener(event);
        } catch (error) {
          onError?.(error);
        }
      }
    },
    subscribe(listener: (event: ServerChangeEvent) => void): () => void {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    listenerCount: () => listeners.size,
    healthy: () => !closed,
    async close(): Promise<void> {
      closed = true;
      listeners.clear();
    },
  };
}

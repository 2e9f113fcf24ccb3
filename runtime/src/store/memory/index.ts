/** In-memory stores for a single runtime process. */
export { createMemorySessionStore, type MemorySessionStoreOptions } from './session-store.ts';
export { createMemoryEventStore, parseEventId, type MemoryEventStoreOptions } from './event-store.ts';
export { createMemoryEventBus } from './event-bus.ts';
import type { McpServerSpec } from '../../config/spec.ts';
import type { EventBus, EventStore, SessionStore } from '../types.ts';
import { createMemoryEventBus } from './event-bus.ts';
import { createMemoryEventStore } from './event-store.ts';
import { createMemorySessionStore } from './session-store.ts';

/** The three in-memory stores configured from `spec.session`. */
export function createMemoryStores(spec: Pick<McpServerSpec, 'session'>): { sessions: SessionStore; events: EventStore; bus: EventBus } {
  return {
    sessions: createMemorySessionStore({ idleTimeoutSeconds: spec.session.idleTimeoutSeconds, maxSessions: spec.session.maxSessions }),
    events: createMemoryEventStore({
      maxEvents: spec.session.resumability.maxEvents,
      retentionSeconds: spec.session.resumability.retentionSeconds,
    }),
    bus: createMemoryEventBus(),
  };
}

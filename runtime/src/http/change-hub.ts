/**
 * Change events from the backend reach clients on every replica through the
 * EventBus: local backend events are published to the bus, and only events
 * consumed from the bus are delivered, so each event is delivered exactly
 * once per replica. While the bus is unhealthy, local events are delivered
 * directly so this replica's clients still hear about them.
 */
import type { Logger } from 'pino';
import type { Backend, ServerChangeEvent } from '../backend/types.ts';
import type { EventBus } from '../store/types.ts';

export type ChangeListener = (event: ServerChangeEvent) => void;

export class ChangeHub {
  private readonly listeners = new Set<ChangeListener>();
  private readonly bus: EventBus;
  private readonly backend: Backend;
  private readonly logger: Logger;
  private unsubscribers: Array<() => void> = [];

  constructor(bus: EventBus, backend: Backend, logger: Logger) {
    this.bus = bus;
    this.backend = backend;
    this.logger = logger;
  }

  start(): void {
    this.unsubscribers.push(this.bus.subscribe((event) => this.deliver(event)));
    this.unsubscribers.push(
      this.backend.onChange((event) => {
        if (this.bus.healthy()) {
          try {
            this.bus.publish(event);
            return;
          } catch (error) {
            this.logger.warn({ err: error, event: event.kind }, 'Publishing a change event failed; delivering locally');
          }
        }
        this.deliver(event);
      }),
    );
  }

  /** Registers a consumer; returns its unsubscribe function. */
  on(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  stop(): void {
    for (const u of this.unsubscribers) u();
    this.unsubscribers = [];
    this.listeners.clear();
  }

  private deliver(event: ServerChangeEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error({ err: error, event: event.kind }, 'A change event consumer failed');
      }
    }
  }
}

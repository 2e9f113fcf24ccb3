/** The per-app state shared by the HTTP plugins (built once by `buildApp`). */
import type { Logger } from 'pino';
import type { Backend, Principal } from '../backend/types.ts';
import type { McpServerSpec } from '../config/spec.ts';
import type { AppMetrics } from '../observability/metrics.ts';
import type { LegacyCluster } from '../cluster/legacy-cluster.ts';
import type { Authenticator, RequestLimiter } from '../security/types.ts';
import type { EventBus, EventStore, SessionStore } from '../store/types.ts';
import type { ChangeHub } from './change-hub.ts';
import type { ExchangeHost, ExchangeTracker } from './exchange.ts';
import type { SseHub } from './sse.ts';

export type LifecycleState = 'starting' | 'ready' | 'draining' | 'stopped';

export interface RuntimeContext {
  readonly spec: McpServerSpec;
  /** `namespace/name` of the McpServer. */
  readonly tenant: string;
  readonly replicaId: string;
  readonly backend: Backend;
  readonly sessions: SessionStore;
  readonly events: EventStore;
  readonly bus: EventBus;
  readonly auth: Authenticator;
  readonly limiter: RequestLimiter;
  readonly logger: Logger;
  readonly metrics: AppMetrics;
  readonly hub: SseHub;
  readonly tracker: ExchangeTracker;
  readonly changes: ChangeHub;
  readonly exchangeHost: ExchangeHost;
  /** Owner routing and lost-call recovery across replicas (Redis deployments only). */
  readonly cluster?: LegacyCluster;
  state: LifecycleState;
  /** Set by the drain once in-flight work is over and the backend closes: nothing new may start. */
  backendClosing?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook of the MCP routes. */
    principal: Principal | null;
  }
}

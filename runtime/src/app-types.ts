/** What `buildApp` needs: every dependency injected, so tests and replicas compose freely. */
import type { Logger } from 'pino';
import type { Backend } from './backend/types.ts';
import type { LegacyCluster } from './cluster/legacy-cluster.ts';
import type { RuntimeConfig } from './config/runtime-config.ts';
import type { Authenticator, RequestLimiter } from './security/types.ts';
import type { EventBus, EventStore, SessionStore } from './store/types.ts';

export interface AppDeps {
  config: RuntimeConfig;
  backend: Backend;
  sessions: SessionStore;
  events: EventStore;
  bus: EventBus;
  logger: Logger;
  /** Defaults to the explicit-none authenticator. */
  auth?: Authenticator;
  /** Defaults to unlimited. */
  limiter?: RequestLimiter;
  /** Serves `GET /admin/audit` (the tool-audit report the operator copies into status). */
  admin?: import('./policy/admin-plugin.ts').AdminAuditOptions;
  /** Unique id of this process among the McpServer's replicas. */
  replicaId?: string;
  /** Owner routing across replicas (createLegacyCluster); absent = single process. */
  cluster?: LegacyCluster;
  /** OpenTelemetry tracing (startTracing); absent = untraced. */
  tracing?: import('./observability/tracing.ts').Tracing;
}

export interface BerthApp {
  /** The fastify instance (use `inject` in tests, `listen` in main). */
  app: import('fastify').FastifyInstance;
  /** Starts the drain sequence; resolves when the process may exit. */
  drain(): Promise<void>;
  /** Lifecycle state for probes and metrics. */
  state(): 'starting' | 'ready' | 'draining' | 'stopped';
}

/** Prometheus metrics of the operator. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<'result'>;
  reconcileErrors: Counter<'reason'>;
  reconcileDuration: Histogram<'result'>;
  queueDepth: Gauge;
  queueAdds: Counter;
  kubeRequests: Counter<'verb' | 'code'>;
  kubeWrites: Counter<'verb' | 'resource'>;
  informerRestarts: Counter<'resource' | 'cause'>;
  leader: Gauge;
  mcpServers: Gauge<'ready'>;
  /** Sets what the McpServer gauge reports at each scrape: count per Ready status. */
  countMcpServers(fn: () => Record<string, number>): void;
}

/** A fresh registry (one per operator instance, so tests can run several). */
export function createMetrics(defaults = true): OperatorMetrics {
  const registry = new Registry();
  let counter: () => Record<string, number> = () => ({});
  if (defaults) collectDefaultMetrics({ register: registry, prefix: 'berth_operator_' });
  const registers = [registry];
  return {
    registry,
    reconciles: new Counter({ name: 'berth_operator_reconcile_total', help: 'Reconciles by result (success, requeue, error).', labelNames: ['result'], registers }),
    reconcileErrors: new Counter({ name: 'berth_operator_reconcile_errors_total', help: 'Failed reconciles by reason.', labelNames: ['reason'], registers }),
    reconcileDuration: new Histogram({
      name: 'berth_operator_reconcile_duration_seconds',
      help: 'Time per reconcile.',
      labelNames: ['result'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    queueDepth: new Gauge({ name: 'berth_operator_workqueue_depth', help: 'Keys waiting in the work queue.', registers }),
    queueAdds: new Counter({ name: 'berth_operator_workqueue_adds_total', help: 'Keys added to the work queue.', registers }),
    kubeRequests: new Counter({ name: 'berth_operator_kube_requests_total', help: 'Kubernetes API requests by verb and status code.', labelNames: ['verb', 'code'], registers }),
    kubeWrites: new Counter({ name: 'berth_operator_kube_writes_total', help: 'Kubernetes API writes by verb and resource.', labelNames: ['verb', 'resource'], registers }),
    informerRestarts: new Counter({ name: 'berth_operator_informer_restarts_total', help: 'Watch restarts by resource and cause (error, stale, gone, resync).', labelNames: ['resource', 'cause'], registers }),
    leader: new Gauge({ name: 'berth_operator_leader', help: '1 while this process is the leader.', registers }),
    mcpServers: new Gauge({
      name: 'berth_operator_mcpservers',
      help: 'McpServers in the cache by Ready condition status (True, False, Unknown).',
      labelNames: ['ready'],
      registers,
      collect() {
        this.reset();
        for (const [ready, n] of Object.entries(counter())) this.set({ ready }, n);
      },
    }),
    countMcpServers(fn) {
      counter = fn;
    },
  };
}

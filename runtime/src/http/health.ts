/**
 * Probes. `/health` (liveness): the process answers and its event loop has
 * not been blocked beyond a threshold since the previous probe. `/ready`
 * (readiness): serving, backend ready, stores reachable, not draining — with
 * the reasons when not.
 */
import type { FastifyInstance } from 'fastify';
import type { RuntimeContext } from './context.ts';

/** Event-loop delay (ms) that fails liveness: the loop was stuck this long since the last probe. */
export const EVENT_LOOP_BLOCKED_MS = 2000;

export interface HealthOptions {
  rt: RuntimeContext;
  blockedThresholdMs?: number;
}

/** Reasons the replica should not receive traffic; empty when ready. */
export function notReadyReasons(rt: RuntimeContext): string[] {
  const reasons: string[] = [];
  if (rt.state !== 'ready') reasons.push(`state is ${rt.state}`);
  const backend = rt.backend.health();
  if (!backend.ready) reasons.push(`backend not ready${backend.reason ? `: ${backend.reason}` : ''}`);
  if (!rt.sessions.healthy()) reasons.push('session store unreachable');
  if (!rt.events.healthy()) reasons.push('event store unreachable');
  if (!rt.bus.healthy()) reasons.push('event bus unreachable');
  return reasons;
}

/** Registers `/health` and `/ready`. */
export async function healthPlugin(app: FastifyInstance, options: HealthOptions): Promise<void> {
  const { rt } = options;
  const threshold = options.blockedThresholdMs ?? EVENT_LOOP_BLOCKED_MS;
  const lag = new LagSampler();
  app.addHook('onClose', async () => lag.stop());

  app.get('/health', async (_request, reply) => {
    const maxMs = lag.takeMax();
    const healthy = maxMs < threshold && rt.state !== 'stopped';
    reply.code(healthy ? 200 : 503);
    return { status: healthy ? 'ok' : 'unhealthy', state: rt.state, eventLoopDelayMaxMs: Math.round(maxMs) };
  });

  app.get('/ready', async (_request, reply) => {
    const reasons = notReadyReasons(rt);
    reply.code(reasons.length === 0 ? 200 : 503);
    return reasons.length === 0 ? { ready: true, state: rt.state } : { ready: false, state: rt.state, reasons };
  });
}

/** Samples event-loop lag: how late a 100 ms timer fires; keeps the worst since the last read. */
class LagSampler {
  private max = 0;
  private expected = performance.now() + 100;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => {
      const now = performance.now();
      const late = now - this.expected;
      if (late > this.max) this.max = late;
      this.expected = now + 100;
    }, 100);
    this.timer.unref();
  }

  /** The worst lag (ms) since the previous call, including a block still in progress. */
  takeMax(): number {
    const pending = performance.now() - this.expected;
    const max = Math.max(this.max, pending);
    this.max = 0;
    return Math.max(0, max);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** `/metrics`: Prometheus text of the app's and the process-wide registries. */
import type { FastifyInstance } from 'fastify';
import type { RuntimeContext } from './context.ts';

export async function metricsPlugin(app: FastifyInstance, options: { rt: RuntimeContext }): Promise<void> {
  const { metrics } = options.rt;
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', metrics.contentType);
    return metrics.render();
  });
}

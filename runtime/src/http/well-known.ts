/**
 * Serves the authenticator's public documents (RFC 9728 protected resource
 * metadata and the like) at their well-known paths, readable cross-origin.
 */
import type { FastifyInstance } from 'fastify';
import type { RuntimeContext } from './context.ts';

export async function wellKnownPlugin(app: FastifyInstance, options: { rt: RuntimeContext; reserved: readonly string[] }): Promise<void> {
  const { rt, reserved } = options;
  for (const [path, document] of Object.entries(rt.auth.wellKnown())) {
    if (!path.startsWith('/') || reserved.includes(path)) {
      rt.logger.warn({ path }, 'Ignored a well-known document with an unusable path');
      continue;
    }
    const body = JSON.stringify(document);
    app.get(path, async (_request, reply) => {
      reply.header('content-type', 'application/json; charset=utf-8');
      reply.header('access-control-allow-origin', '*');
      reply.header('cache-control', 'public, max-age=300');
      return body;
    });
  }
}

/**
 * `GET /admin/audit`: the tool-audit report for the operator's status and
 * for humans. `?refresh=1` re-lists the backend first. When a token is
 * configured, callers must send `Authorization: Bearer <token>`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { AuditReport } from './report.ts';

export interface AdminAuditOptions {
  report: () => AuditReport;
  refresh?: () => Promise<AuditReport>;
  /** Shared secret (e.g. the internal token); a function so a rotated file is re-read. */
  token?: string | (() => string | undefined);
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Whether `header` carries `Bearer <expected>` (constant-time). */
export function bearerMatches(header: unknown, expected: string): boolean {
  if (typeof header !== 'string') return false;
  const m = /^Bearer +(\S+) *$/i.exec(header);
  return m !== null && timingSafeEqual(digest(m[1]!), digest(expected));
}

/** Registers the admin audit route (register with the integrator's fastify instance). */
export const adminAuditPlugin: FastifyPluginAsync<AdminAuditOptions> = async (app, opts) => {
  app.get('/admin/audit', async (req, reply) => {
    const expected = typeof opts.token === 'function' ? opts.token() : opts.token;
    if (expected && !bearerMatches(req.headers.authorization, expected)) {
      return reply.code(401).header('www-authenticate', 'Bearer realm="berth-admin"').send({ error: 'unauthorized' });
    }
    const q = req.query as Record<string, string | undefined>;
    if (q['refresh'] === '1' && opts.refresh) {
      try {
        return await opts.refresh();
      } catch (err) {
        return reply.code(502).send({ error: `audit refresh failed: ${(err as Error).message}`, report: opts.report() });
      }
    }
    return opts.report();
  });
};

export default adminAuditPlugin;

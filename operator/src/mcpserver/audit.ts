/**
 * Reading the runtime's tool audit (`GET /admin/audit`) into status.tools.
 * The runtime's document is read tolerantly: unknown fields are ignored, and
 * a missing or malformed answer is "unavailable", never an error.
 */
import { request } from 'node:http';
import type { ToolFinding, ToolsStatus } from '../api/v1alpha1/status.ts';
import type { AuditObservation } from './status.ts';

const MAX_FINDINGS = 50;
const MAX_BODY = 4 * 1024 * 1024;

const str = (v: unknown, max: number): string | undefined => (typeof v === 'string' ? v.slice(0, max) : undefined);
const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined);

function finding(raw: unknown): ToolFinding | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const r = raw as Record<string, unknown>;
  const tool = str(r.tool, 256) ?? str(r.name, 256) ?? '';
  const code = str(r.rule, 128) ?? str(r.code, 128) ?? str(r.kind, 128) ?? 'finding';
  const where = str(r.field, 200);
  const message = `${str(r.message, 900) ?? ''}${where ? ` (${where})` : ''}`;
  return { tool, code, message };
}

const record = (v: unknown): Record<string, unknown> | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/**
 * Parses an /admin/audit document — the runtime's report
 * (`{listing: {digest, tools, bytes, estimatedTokens}, findings: [...]}`) —
 * into status.tools; undefined when it is not one.
 */
export function parseAudit(doc: unknown): ToolsStatus | undefined {
  const d = record(doc);
  if (!d) return undefined;
  const listing = record(d.listing) ?? record(d.tools) ?? d;
  const toolCount = count(listing.tools) ?? count(listing.count) ?? count(listing.toolCount);
  const digest = str(listing.digest, 128);
  if (toolCount === undefined || digest === undefined) return undefined;
  const rawFindings = Array.isArray(d.findings) ? d.findings : Array.isArray(listing.findings) ? listing.findings : [];
  const findings = rawFindings.map(finding).filter((f): f is ToolFinding => f !== undefined);
  const listingBytes = count(listing.bytes) ?? count(listing.listingBytes);
  const listingTokens = count(listing.estimatedTokens) ?? count(listing.listingTokens);
  return {
    count: toolCount,
    digest,
    ...(listingBytes !== undefined ? { listingBytes } : {}),
    ...(listingTokens !== undefined ? { listingTokens } : {}),
    findings: findings.slice(0, MAX_FINDINGS),
    findingsTotal: findings.length,
  };
}

/** The audit URL of one McpServer from a template with {name}, {namespace}. */
export function auditUrl(template: string, namespace: string, name: string): string {
  return template.replaceAll('{name}', name).replaceAll('{namespace}', namespace);
}

/** GETs the audit document (with the internal token); any failure becomes `unavailable` with the reason. */
export function fetchAudit(url: string, timeoutMs: number, token?: string): Promise<AuditObservation> {
  return new Promise((resolve) => {
    const done = (o: AuditObservation): void => resolve(o);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      done({ kind: 'unavailable', message: `bad audit URL ${url}` });
      return;
    }
    const req = request(u, { method: 'GET', timeout: timeoutMs, headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) {
          req.destroy();
          done({ kind: 'unavailable', message: 'audit document too large' });
        } else chunks.push(c);
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return done({ kind: 'unavailable', message: `GET ${u.pathname} answered ${res.statusCode}` });
        try {
          const tools = parseAudit(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          done(tools ? { kind: 'ok', tools } : { kind: 'unavailable', message: 'the audit document has no tool count or digest' });
        } catch {
          done({ kind: 'unavailable', message: 'the audit document is not JSON' });
        }
      });
      res.on('error', (err) => done({ kind: 'unavailable', message: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => done({ kind: 'unavailable', message: `cannot read ${u.host}${u.pathname}: ${err.message}` }));
    req.end();
  });
}

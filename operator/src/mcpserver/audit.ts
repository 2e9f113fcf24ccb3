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
  const code = str(r.code, 128) ?? str(r.kind, 128) ?? str(r.rule, 128) ?? str(r.type, 128) ?? 'finding';
  const message = str(r.message, 1024) ?? str(r.detail, 1024) ?? '';
  return { tool, code, message };
}

/** Parses an /admin/audit document; undefined when it is not one. */
export function parseAudit(doc: unknown): ToolsStatus | undefined {
  if (doc === null || typeof doc !== 'object') return undefined;
  const d = doc as Record<string, unknown>;
  const tools = d.tools !== null && typeof d.tools === 'object' && !Array.isArray(d.tools) ? (d.tools as Record<string, unknown>) : d;
  const toolCount = count(tools.count) ?? count(tools.toolCount) ?? (Array.isArray(tools.tools) ? tools.tools.length : undefined);
  const digest = str(tools.digest, 128);
  if (toolCount === undefined || digest === undefined) return undefined;
  const rawFindings = Array.isArray(tools.findings) ? tools.findings : Array.isArray(d.findings) ? d.findings : [];
  const findings = rawFindings.map(finding).filter((f): f is ToolFinding => f !== undefined);
  const listingBytes = count(tools.listingBytes);
  const listingTokens = count(tools.listingTokens);
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

/** GETs the audit document; any failure becomes `unavailable` with the reason. */
export function fetchAudit(url: string, timeoutMs: number): Promise<AuditObservation> {
  return new Promise((resolve) => {
    const done = (o: AuditObservation): void => resolve(o);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      done({ kind: 'unavailable', message: `bad audit URL ${url}` });
      return;
    }
    const req = request(u, { method: 'GET', timeout: timeoutMs, headers: { accept: 'application/json' } }, (res) => {
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

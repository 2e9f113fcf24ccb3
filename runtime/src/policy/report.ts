/** The audit report served at `GET /admin/audit` and printed by `berth audit --json`. */
import { digestOf } from './canonical.ts';
import type { Finding, ToolDef } from './audit/types.ts';
import type { ToolState, ToolStatus } from './tool-policy.ts';

export interface AuditReport {
  /** When the listing was last evaluated (ISO time), null before the first listing. */
  generatedAt: string | null;
  policy: { onFinding: 'block' | 'warn'; pin: boolean; maxDescriptionWords: number };
  tools: Array<{ name: string; state: ToolState; digest: string; pinnedDigest?: string; findings: Finding[]; notes: string[] }>;
  findings: Finding[];
  /** The listing clients are served (before per-principal scope filtering). */
  listing: {
    digest: string;
    tools: number;
    bytes: number;
    /** bytes / 4, rounded up: a rough, model-independent estimate. */
    estimatedTokens: number;
  };
}

/** Size and digest of a served listing. */
export function listingStats(tools: readonly ToolDef[]): AuditReport['listing'] {
  const bytes = Buffer.byteLength(JSON.stringify(tools), 'utf8');
  return { digest: digestOf(tools), tools: tools.length, bytes, estimatedTokens: Math.ceil(bytes / 4) };
}

/** Builds the report from evaluated statuses. */
export function buildReport(statuses: readonly ToolStatus[] | undefined, at: Date | undefined, policy: AuditReport['policy'], served: readonly ToolDef[]): AuditReport {
  const list = statuses ?? [];
  return {
    generatedAt: at ? at.toISOString() : null,
    policy,
    tools: list.map((s) => {
      const t: AuditReport['tools'][number] = { name: s.name, state: s.state, digest: s.digest, findings: s.findings, notes: s.notes };
      if (s.pinnedDigest) t.pinnedDigest = s.pinnedDigest;
      return t;
    }),
    findings: list.flatMap((s) => s.findings),
    listing: listingStats(served),
  };
}

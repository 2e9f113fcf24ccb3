/**
 * Deterministic redaction of common secret formats in text returned to the
 * client. Replacements name the kind (`[REDACTED:github-token]`) so the model
 * can still tell the user something was there.
 */

interface SecretPattern {
  kind: string;
  re: RegExp;
  /** Group to replace (the whole match when omitted). */
  group?: number;
}

const PATTERNS: readonly SecretPattern[] = [
  { kind: 'private-key', re: /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----[\s\S]*?-----END \1PRIVATE KEY\2-----/g },
  { kind: 'jwt', re: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g },
  { kind: 'aws-access-key-id', re: /\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b/g },
  { kind: 'aws-secret-access-key', re: /\baws_?secret_?access_?key\b["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])/gi, group: 1 },
  { kind: 'github-token', re: /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b/g },
  { kind: 'gitlab-token', re: /\bglpat-[A-Za-z0-9_-]{20,}\b/g },
  { kind: 'slack-token', re: /\bxox[abposre]-[A-Za-z0-9-]{10,}\b/g },
  { kind: 'slack-webhook', re: /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9_/-]{20,}/g },
  { kind: 'google-api-key', re: /\bAIza[0-9A-Za-z_-]{35}\b/g },
  { kind: 'stripe-key', re: /\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}\b/g },
  { kind: 'openai-key', re: /\bsk-(?:proj-|ant-(?:api\d+-)?)?[A-Za-z0-9_-]{32,}\b/g },
  { kind: 'npm-token', re: /\bnpm_[A-Za-z0-9]{36}\b/g },
  { kind: 'bearer-token', re: /\b(Authorization\s*:\s*(?:Bearer|Basic|Token)\s+)([A-Za-z0-9\-._~+/]{8,}=*)/gi, group: 2 },
  { kind: 'url-credentials', re: /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)(?!\[REDACTED)([^\s@/]{3,})(@)/gi, group: 2 },
  {
    kind: 'password',
    re: /\b((?:password|passwd|pwd|secret|client_?secret|api_?key|apikey|access_?token|auth_?token|private_?key)\b["']?\s*[:=]\s*["']?)(?!\[REDACTED)([^\s"',;&]{4,})/gi,
    group: 2,
  },
];

/** Replaces secrets in `text`; returns the new text and the kinds found. */
export function redactSecrets(text: string): { text: string; kinds: string[] } {
  const kinds: string[] = [];
  let out = text;
  for (const p of PATTERNS) {
    p.re.lastIndex = 0;
    if (!p.re.test(out)) continue;
    p.re.lastIndex = 0;
    out = out.replace(p.re, (...m: unknown[]) => {
      const all = m[0] as string;
      if (p.group === undefined) return `[REDACTED:${p.kind}]`;
      // Rebuild the match with only the secret group replaced.
      const groups = m.slice(1, -2) as Array<string | undefined>;
      let rebuilt = '';
      groups.forEach((g, i) => (rebuilt += i + 1 === p.group ? `[REDACTED:${p.kind}]` : (g ?? '')));
      return groups.join('') === all ? rebuilt : all.replace(groups[p.group - 1] ?? '', `[REDACTED:${p.kind}]`);
    });
    kinds.push(p.kind);
  }
  return { text: out, kinds };
}

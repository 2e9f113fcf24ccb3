/** Validation of an McpServer's spec with the runtime's own schema. */
import { McpServerSpec } from '../../../runtime/src/config/spec.ts';
import { formatIssues } from '../../../runtime/src/config/runtime-config.ts';

export type ParsedSpec = { ok: true; spec: McpServerSpec } | { ok: false; issues: string[] };

/** Parses `spec` (defaults applied); issues name each bad field as `spec.<path>: <message>`. */
export function parseSpec(spec: unknown): ParsedSpec {
  const result = McpServerSpec.safeParse(spec);
  if (result.success) return { ok: true, spec: result.data };
  return { ok: false, issues: formatIssues(result.error, ['spec']) };
}

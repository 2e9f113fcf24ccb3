/** Shapes shared by the tool-audit rules. Each rule is a pure function of one tool and the listing. */

/** A tool as listed by MCP `tools/list` (only the fields the audit reads are typed). */
export interface ToolDef {
  name: string;
  title?: string;
  description?: string;
  inputSchema?: unknown;
  outputSchema?: unknown;
  annotations?: Record<string, unknown>;
  [k: string]: unknown;
}

/**
 * `high`: evidence of poisoning; blocks the tool when `onFinding: block`.
 * `low`: a budget or hygiene problem; always reported, never blocks.
 */
export type Severity = 'high' | 'low';

export interface Finding {
  rule: string;
  tool: string;
  /** Where in the tool: `description`, `inputSchema.properties.path.description`, … */
  field: string;
  severity: Severity;
  message: string;
  /** The offending text, invisible characters made visible, at most ~120 characters. */
  excerpt?: string;
}

/** One piece of text of a tool the rules look at. */
export interface TextField {
  path: string;
  text: string;
  /** prose: names, titles, descriptions; value: enums, defaults, examples, property names. */
  kind: 'name' | 'prose' | 'value';
}

export interface RuleContext {
  /** Every tool name of the listing (for shadowing). */
  toolNames: readonly string[];
  maxDescriptionWords: number;
}

export type Rule = (tool: ToolDef, fields: readonly TextField[], ctx: RuleContext) => Finding[];

/**
 * The output pipeline applied to tool results, resource reads and prompts:
 * outputSchema check → JSON minify (tool text) → sanitize → redact →
 * size budget → spotlight (tool text). Everything returned is a new object.
 */
import type { ToolDef } from '../audit/types.ts';
import { MARKER_RESERVE, minifyJsonText, truncationMarker, utf8Length, utf8Prefix } from './budget.ts';
import { outputChecker } from './output-schema.ts';
import { redactSecrets } from './redact.ts';
import { sanitizeText, type SanitizeMode } from './sanitize.ts';
import { spotlight, spotlightNonce } from './spotlight.ts';

export interface OutputOptions {
  maxBytes: number;
  sanitize: SanitizeMode;
  spotlight: boolean;
  redactSecrets: boolean;
}

/** What the pipeline changed, for logs and metrics. */
export interface OutputReport {
  redacted: string[];
  flagged: string[];
  truncatedBytes: number;
  schemaError?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function newReport(): OutputReport {
  return { redacted: [], flagged: [], truncatedBytes: 0 };
}

function cleanText(text: string, o: OutputOptions, r: OutputReport, mode: SanitizeMode = o.sanitize): string {
  const s = sanitizeText(text, mode);
  r.flagged.push(...s.flagged);
  if (!o.redactSecrets) return s.text;
  const red = redactSecrets(s.text);
  r.redacted.push(...red.kinds);
  return red.text;
}

/** Sanitizes and redacts every string inside a JSON value (structured content: strip only, no notices). */
function cleanDeep(v: unknown, o: OutputOptions, r: OutputReport): unknown {
  if (typeof v === 'string') return cleanText(v, o, r, o.sanitize === 'off' ? 'off' : 'strip');
  if (Array.isArray(v)) return v.map((x) => cleanDeep(x, o, r));
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, cleanDeep(x, o, r)]));
  return v;
}

/** A piece of output the budget can measure and cut. */
interface Piece {
  bytes: number;
  /** Shortens the piece to `bytes` (text) or reports it can't be cut (binary). */
  cut?: (bytes: number) => void;
  drop: () => void;
}

/**
 * Fits pieces into `budget` bytes in order: a text piece that overflows is
 * cut, a binary one dropped, everything after the overflow dropped.
 * Returns the bytes removed.
 */
function fit(pieces: Piece[], budget: number): number {
  let left = budget;
  let removed = 0;
  for (const p of pieces) {
    if (p.bytes <= left) {
      left -= p.bytes;
      continue;
    }
    if (p.cut && left > 0) {
      p.cut(left);
      removed += p.bytes - left;
      left = 0;
    } else {
      p.drop();
      removed += p.bytes;
      left = 0;
    }
  }
  return removed;
}

/** An isError result replacing `original`; keeps the wire-level `resultType` of the 2026-07-28 era. */
function errorResult(text: string, original: Obj): Obj {
  const out: Obj = { content: [{ type: 'text', text }], isError: true };
  if (original['resultType'] !== undefined) out['resultType'] = original['resultType'];
  return out;
}

/** Processes a content-block array; returns the new blocks. */
function processBlocks(blocks: unknown[], o: OutputOptions, r: OutputReport, opts: { minify: boolean; reserved: number }): Obj[] {
  const out: Obj[] = [];
  for (const b of blocks) {
    if (!isObj(b)) continue;
    if (b['type'] === 'text' && typeof b['text'] === 'string') {
      out.push({ ...b, text: cleanText(opts.minify ? minifyJsonText(b['text']) : b['text'], o, r) });
    } else if (b['type'] === 'resource' && isObj(b['resource']) && typeof b['resource']['text'] === 'string') {
      out.push({ ...b, resource: { ...b['resource'], text: cleanText(b['resource']['text'], o, r) } });
    } else if (b['type'] === 'resource_link') {
      const link: Obj = { ...b };
      for (const k of ['name', 'title', 'description']) if (typeof link[k] === 'string') link[k] = cleanText(link[k] as string, o, r, o.sanitize === 'off' ? 'off' : 'strip');
      out.push(link);
    } else out.push({ ...b });
  }
  const total = out.reduce((n, b) => n + blockBytes(b), 0) + opts.reserved;
  if (total <= o.maxBytes) return out;
  const kept = new Set(out);
  const pieces: Piece[] = out.map((b) => {
    const bytes = blockBytes(b);
    const textKey = b['type'] === 'text' ? 'text' : undefined;
    return {
      bytes,
      cut: textKey ? (n: number) => void (b['text'] = utf8Prefix(b['text'] as string, n)) : undefined,
      drop: () => void kept.delete(b),
    };
  });
  const removed = fit(pieces, Math.max(0, o.maxBytes - MARKER_RESERVE - opts.reserved));
  r.truncatedBytes += removed;
  const result = out.filter((b) => kept.has(b));
  const marker = truncationMarker(removed, total, o.maxBytes);
  const last = result[result.length - 1];
  if (last && last['type'] === 'text') last['text'] = `${last['text'] as string}${marker}`;
  else result.push({ type: 'text', text: marker.trimStart() });
  return result;
}

function blockBytes(b: Obj): number {
  if (typeof b['text'] === 'string') return utf8Length(b['text']);
  if (typeof b['data'] === 'string') return b['data'].length;
  if (isObj(b['resource'])) {
    const res = b['resource'];
    return typeof res['text'] === 'string' ? utf8Length(res['text']) : typeof res['blob'] === 'string' ? res['blob'].length : 0;
  }
  return utf8Length(JSON.stringify(b));
}

/** Processes a `tools/call` result for `tool` (the listed definition, for its outputSchema: await `outputChecksReady()` first). */
export function processToolResult(result: Obj, tool: ToolDef | undefined, o: OutputOptions): { result: Obj; report: OutputReport } {
  const r = newReport();
  if (!Array.isArray(result['content'])) return { result, report: r };
  const name = tool?.name ?? 'tool';
  if (tool?.outputSchema !== undefined && result['isError'] !== true) {
    const sc = result['structuredContent'];
    const problem = sc === undefined ? 'no structuredContent although the tool declares an outputSchema' : outputChecker(tool.outputSchema)(sc);
    if (problem) {
      r.schemaError = problem;
      return { result: errorResult(`berth: the result of tool "${name}" does not match its outputSchema: ${problem}`, result), report: r };
    }
  }
  const next: Obj = { ...result };
  let structuredBytes = 0;
  if (result['structuredContent'] !== undefined) {
    next['structuredContent'] = cleanDeep(result['structuredContent'], o, r);
    structuredBytes = utf8Length(JSON.stringify(next['structuredContent']));
    if (structuredBytes > o.maxBytes - MARKER_RESERVE) {
      r.truncatedBytes = structuredBytes;
      return { result: errorResult(`berth: the result of tool "${name}" is ${structuredBytes} bytes of structured content, over output.maxBytes=${o.maxBytes}; structured content is not cut`, result), report: r };
    }
  }
  const blocks = processBlocks(result['content'] as unknown[], o, r, { minify: true, reserved: structuredBytes });
  if (o.spotlight) {
    const nonce = spotlightNonce();
    for (const b of blocks) if (b['type'] === 'text' && typeof b['text'] === 'string') b['text'] = spotlight(b['text'], nonce, name);
  }
  next['content'] = blocks;
  return { result: next, report: r };
}

/** Processes a `resources/read` result. */
export function processResourceResult(result: Obj, o: OutputOptions): { result: Obj; report: OutputReport } {
  const r = newReport();
  if (!Array.isArray(result['contents'])) return { result, report: r };
  const items: Obj[] = (result['contents'] as unknown[]).filter(isObj).map((c): Obj => (typeof c['text'] === 'string' ? { ...c, text: cleanText(c['text'], o, r) } : { ...c }));
  const total = items.reduce((n, c) => n + (typeof c['text'] === 'string' ? utf8Length(c['text']) : typeof c['blob'] === 'string' ? c['blob'].length : 0), 0);
  if (total > o.maxBytes) {
    const kept = new Set(items);
    const removed = fit(
      items.map((c) => ({
        bytes: typeof c['text'] === 'string' ? utf8Length(c['text']) : typeof c['blob'] === 'string' ? c['blob'].length : 0,
        cut: typeof c['text'] === 'string' ? (n: number) => void (c['text'] = utf8Prefix(c['text'] as string, n)) : undefined,
        drop: () => void kept.delete(c),
      })),
      o.maxBytes - MARKER_RESERVE,
    );
    r.truncatedBytes = removed;
    const out = items.filter((c) => kept.has(c));
    const marker = truncationMarker(removed, total, o.maxBytes);
    const last = out[out.length - 1];
    if (last && typeof last['text'] === 'string') last['text'] = `${last['text']}${marker}`;
    else out.push({ uri: (items[0]?.['uri'] as string | undefined) ?? 'berth:truncated', mimeType: 'text/plain', text: marker.trimStart() });
    return { result: { ...result, contents: out }, report: r };
  }
  return { result: { ...result, contents: items }, report: r };
}

/** Processes a `prompts/get` result (each message carries one content block). */
export function processPromptResult(result: Obj, o: OutputOptions): { result: Obj; report: OutputReport } {
  const r = newReport();
  if (!Array.isArray(result['messages'])) return { result, report: r };
  const messages = (result['messages'] as unknown[]).filter(isObj);
  const blocks = processBlocks(
    messages.map((m) => m['content']),
    o,
    r,
    { minify: false, reserved: 0 },
  );
  // processBlocks keeps order and may drop trailing blocks or append a marker block.
  const out: Obj[] = blocks.map((content, i) => ({ ...(messages[i] ?? { role: 'assistant' }), content }));
  return { result: { ...result, messages: out }, report: r };
}

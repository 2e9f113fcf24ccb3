/**
 * The example module server `npm start` hosts: small, genuinely useful
 * tools (time zones, arithmetic, text statistics, JSON, hashing, UUIDs), a
 * resource and a prompt. The default export is the MCP server factory Berth
 * calls for each pooled instance.
 */
import { createHash, randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { BerthFactoryContext } from '../../runtime/src/backend/module/context.ts';
import { evaluate, MAX_EXPRESSION_LENGTH } from './calc.ts';
import { select } from './json-path.ts';

const PURE = { readOnlyHint: true, idempotentHint: true, destructiveHint: false, openWorldHint: false } as const;
const MAX_TEXT = 1_000_000;

const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });
const json = (value: unknown) => ({ content: [{ type: 'text' as const, text: JSON.stringify(value, null, 2) }], structuredContent: value as Record<string, unknown> });

/** A RangeError is how the tools report bad input (Berth tells the agent to change the arguments). */
function badInput(message: string): never {
  throw new RangeError(message);
}

function zoneTime(timeZone: string, at: Date) {
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      weekday: 'long',
      timeZoneName: 'longOffset',
    }).formatToParts(at);
  } catch {
    badInput(`unknown time zone "${timeZone}"; use an IANA name such as "Europe/Paris" or "UTC" (see resource hello://time-zones)`);
  }
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const offset = get('timeZoneName').replace('GMT', '') || '+00:00';
  return {
    timeZone,
    local: `${get('year')}-${get('month')}-${get('day')}T${get('hour')}:${get('minute')}:${get('second')}`,
    utcOffset: offset,
    weekday: get('weekday'),
    instant: at.toISOString(),
  };
}

function textStats(input: string) {
  const words = input.match(/[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu) ?? [];
  const sentences = input.split(/[.!?。！？]+(?:\s|$)/u).filter((s) => /[\p{L}\p{N}]/u.test(s));
  const counts = new Map<string, number>();
  for (const w of words) counts.set(w.toLowerCase(), (counts.get(w.toLowerCase()) ?? 0) + 1);
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 5);
  return {
    characters: [...input].length,
    words: words.length,
    lines: input === '' ? 0 : input.split(/\r\n|\r|\n/).length,
    sentences: sentences.length,
    averageWordLength: words.length ? Number((words.reduce((n, w) => n + [...w].length, 0) / words.length).toFixed(2)) : 0,
    readingMinutes: Number((words.length / 230).toFixed(1)),
    topWords: top.map(([word, count]) => ({ word, count })),
  };
}

/** The MCP server factory (Berth passes `{ era, berth }`). */
export default function createHelloServer(_ctx?: BerthFactoryContext): McpServer {
  const server = new McpServer(
    { name: 'berth-hello', title: 'Berth hello tools', version: '1.0.0' },
    { instructions: 'Everyday utilities: time zones, arithmetic, text statistics, JSON querying, hashing and UUIDs. All tools are read-only.' },
  );

  server.registerTool(
    'time_in_zone',
    {
      title: 'Time in a time zone',
      description: 'Current (or given) time in an IANA time zone: local date-time, UTC offset and weekday.',
      inputSchema: z.object({
        timeZone: z.string().min(1).max(64).default('UTC').describe('IANA time zone, e.g. "America/New_York".'),
        at: z.iso.datetime({ offset: true }).optional().describe('Instant to convert (ISO 8601); defaults to now.'),
      }),
      annotations: { ...PURE, idempotentHint: true },
    },
    async ({ timeZone, at }) => json(zoneTime(timeZone, at ? new Date(at) : new Date())),
  );

  server.registerTool(
    'calculate',
    {
      title: 'Calculator',
      description: 'Evaluates an arithmetic expression exactly as written: + - * / % ^, parentheses, pi, e, and sqrt, abs, round, floor, ceil, min, max, ln, log, exp, sin, cos, tan.',
      inputSchema: z.object({ expression: z.string().min(1).max(MAX_EXPRESSION_LENGTH).describe('For example "(2 + 3) * 4 ^ 2".') }),
      annotations: PURE,
    },
    async ({ expression }) => {
      let value: number;
      try {
        value = evaluate(expression);
      } catch (error) {
        badInput(`cannot evaluate "${expression}": ${(error as Error).message}`);
      }
      return { ...text(String(value)), structuredContent: { expression, value } };
    },
  );

  server.registerTool(
    'text_stats',
    {
      title: 'Text statistics',
      description: 'Counts characters, words, lines and sentences in a text, with average word length, reading time and the most frequent words.',
      inputSchema: z.object({ text: z.string().max(MAX_TEXT).describe('The text to measure.') }),
      annotations: PURE,
    },
    async ({ text: input }) => json(textStats(input)),
  );

  server.registerTool(
    'json_query',
    {
      title: 'Query and pretty-print JSON',
      description: 'Parses a JSON document, optionally selects a part with a path like items[0].name, and returns it formatted or minified.',
      inputSchema: z.object({
        json: z.string().max(MAX_TEXT).describe('The JSON document.'),
        path: z.string().max(1000).default('').describe('Path such as a.b[0]["odd key"]; empty selects the whole document.'),
        indent: z.number().int().min(0).max(8).default(2).describe('Spaces of indentation; 0 minifies.'),
      }),
      annotations: PURE,
    },
    async ({ json: source, path, indent }) => {
      let doc: unknown;
      try {
        doc = JSON.parse(source);
      } catch (error) {
        badInput(`the document is not valid JSON: ${(error as Error).message}`);
      }
      let selected: unknown;
      try {
        selected = select(doc, path);
      } catch (error) {
        badInput((error as Error).message);
      }
      return text(JSON.stringify(selected, null, indent) ?? 'undefined');
    },
  );

  server.registerTool(
    'hash',
    {
      title: 'Hash text',
      description: 'Computes a cryptographic digest (SHA-256, SHA-512, SHA-1 or MD5) of UTF-8 text, as hex or base64.',
      inputSchema: z.object({
        text: z.string().max(MAX_TEXT).describe('The text to hash (UTF-8).'),
        algorithm: z.enum(['sha256', 'sha512', 'sha1', 'md5']).default('sha256'),
        encoding: z.enum(['hex', 'base64', 'base64url']).default('hex'),
      }),
      annotations: PURE,
    },
    async ({ text: input, algorithm, encoding }) => {
      const digest = createHash(algorithm).update(input, 'utf8').digest(encoding);
      return { ...text(digest), structuredContent: { algorithm, encoding, digest } };
    },
  );

  server.registerTool(
    'uuid',
    {
      title: 'Random UUIDs',
      description: 'Generates random version 4 UUIDs.',
      inputSchema: z.object({ count: z.number().int().min(1).max(100).default(1).describe('How many (1-100).') }),
      annotations: { readOnlyHint: true, idempotentHint: false, destructiveHint: false, openWorldHint: false },
    },
    async ({ count }) => {
      const uuids = Array.from({ length: count }, () => randomUUID());
      return { ...text(uuids.join('\n')), structuredContent: { uuids } };
    },
  );

  server.registerResource(
    'time-zones',
    'hello://time-zones',
    { title: 'Time zones', description: 'The IANA time zone names time_in_zone accepts, one per line.', mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: [...Intl.supportedValuesOf('timeZone'), 'UTC'].join('\n') }] }),
  );

  server.registerPrompt(
    'explain_json',
    {
      title: 'Explain a JSON document',
      description: 'Asks the model to describe the structure and meaning of a JSON document.',
      argsSchema: z.object({
        json: z.string().describe('The JSON document.'),
        audience: z.string().optional().describe('Who the explanation is for, e.g. "a new developer".'),
      }),
    },
    ({ json: doc, audience }) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'text',
            text: `Explain the structure and likely meaning of this JSON document${audience ? ` for ${audience}` : ''}. Name each top-level field and its type, and point out anything unusual.\n\n${doc}`,
          },
        },
      ],
    }),
  );

  return server;
}

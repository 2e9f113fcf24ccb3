// Text tools: a module MCP server small enough to live in a ConfigMap. It
// imports only what the runtime image ships (the MCP SDK and zod). The
// default export is the factory Berth calls for each pooled instance.
import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';

const PURE = { readOnlyHint: true, idempotentHint: true, destructiveHint: false, openWorldHint: false };
const text = (t) => ({ content: [{ type: 'text', text: t }] });

const UNITS = {
  length: { m: 1, km: 1000, cm: 0.01, mm: 0.001, mi: 1609.344, yd: 0.9144, ft: 0.3048, in: 0.0254 },
  mass: { kg: 1, g: 0.001, mg: 1e-6, lb: 0.45359237, oz: 0.028349523125, t: 1000 },
};

function convert(value, from, to) {
  const temps = ['c', 'f', 'k'];
  if (temps.includes(from) && temps.includes(to)) {
    const c = from === 'c' ? value : from === 'f' ? ((value - 32) * 5) / 9 : value - 273.15;
    return to === 'c' ? c : to === 'f' ? (c * 9) / 5 + 32 : c + 273.15;
  }
  for (const table of Object.values(UNITS)) {
    if (from in table && to in table) return (value * table[from]) / table[to];
  }
  throw new RangeError(`cannot convert ${from} to ${to}; units: ${[...temps, ...Object.values(UNITS).flatMap(Object.keys)].join(', ')}`);
}

export default function createTextTools() {
  const server = new McpServer({ name: 'texttools', version: '1.0.0' });
  server.registerTool(
    'slugify',
    { description: 'Turns a title into a URL slug.', inputSchema: z.object({ text: z.string().max(10_000) }), annotations: PURE },
    async ({ text: input }) => text(input.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '')),
  );
  server.registerTool(
    'word_count',
    { description: 'Counts words, lines and characters.', inputSchema: z.object({ text: z.string().max(1_000_000) }), annotations: PURE },
    async ({ text: input }) => {
      const counts = { words: (input.match(/\S+/g) ?? []).length, lines: input === '' ? 0 : input.split('\n').length, characters: [...input].length };
      return { content: [{ type: 'text', text: JSON.stringify(counts) }], structuredContent: counts };
    },
  );
  server.registerTool(
    'convert_units',
    {
      description: 'Converts a value between units of length, mass or temperature (c, f, k).',
      inputSchema: z.object({ value: z.number(), from: z.string().toLowerCase(), to: z.string().toLowerCase() }),
      annotations: PURE,
    },
    async ({ value, from, to }) => text(String(Number(convert(value, from, to).toPrecision(12)))),
  );
  return server;
}

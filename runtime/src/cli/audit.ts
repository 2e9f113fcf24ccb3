/**
 * `berth audit <url>` / `berth audit -- <command> [args…]`: connects to any
 * MCP server with the SDK client (Streamable HTTP or stdio), runs the same
 * offline rules as the runtime, prints the findings, and exits 1 when there
 * are any, 0 when clean, 2 on usage errors, 3 when the server can't be audited.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { auditTools } from '../policy/audit/rules.ts';
import type { Finding, ToolDef } from '../policy/audit/types.ts';
import { PinStore, type Pin } from '../policy/pins.ts';
import { listingStats } from '../policy/report.ts';
import { parseFlags } from './args.ts';
import { UsageError, type CliIO } from './io.ts';

export const AUDIT_USAGE = `Usage:
  berth audit [flags] <url>                 audit a Streamable HTTP MCP server
  berth audit [flags] -- <command> [args…]  audit a stdio MCP server

Flags:
  --json                 print the report as JSON
  --max-words <n>        description word budget (default 50)
  --header "Name: value" extra HTTP header (repeatable), e.g. Authorization
  --pin-file <path>      compare tools with pins saved there (rug pulls); created when missing
  --update-pins          rewrite the pin file with the current tools
  --timeout <seconds>    connect and list timeout (default 30)

Exit status: 0 no findings, 1 findings, 2 usage error, 3 server not reachable.
`;

const EXIT_UNREACHABLE = 3;

interface PinFile {
  version: 1;
  tools: Record<string, Pin>;
}

export interface AuditResult {
  target: string;
  tools: Array<{ name: string; digest: string }>;
  findings: Finding[];
  listing: ReturnType<typeof listingStats>;
}

function processIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

function parseHeaders(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf(':');
    if (i <= 0) throw new UsageError(`--header "${v}": expected "Name: value"`);
    out[v.slice(0, i).trim()] = v.slice(i + 1).trim();
  }
  return out;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what} timed out after ${ms / 1000} s`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lists every tool of the target server. */
async function listTools(target: { url?: URL; command?: string[]; headers: Record<string, string>; env: NodeJS.ProcessEnv }, timeoutMs: number): Promise<ToolDef[]> {
  // Declare the optional client features so servers that only register some tools for capable clients list them all.
  const client = new Client({ name: 'berth-audit', version: '1' }, { capabilities: { elicitation: { form: {}, url: {} }, sampling: {}, roots: { listChanged: true } } });
  let stderr = '';
  let transport;
  if (target.url) {
    transport = new StreamableHTTPClientTransport(target.url, { requestInit: { headers: target.headers } });
  } else {
    const [command, ...args] = target.command!;
    const env = Object.fromEntries(Object.entries(target.env).filter((e): e is [string, string] => typeof e[1] === 'string'));
    const stdio = new StdioClientTransport({ command: command!, args, env, stderr: 'pipe' });
    stdio.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 4096) stderr += chunk.toString('utf8');
    });
    transport = stdio;
  }
  try {
    await withTimeout(client.connect(transport), timeoutMs, 'connecting');
    const { tools } = await withTimeout(client.listTools(), timeoutMs, 'tools/list');
    return tools as unknown as ToolDef[];
  } catch (err) {
    const detail = stderr.trim() ? `\n${stderr.trim().split('\n').slice(-5).join('\n')}` : '';
    throw Object.assign(new Error(`${(err as Error).message}${detail}`), { unreachable: true });
  } finally {
    await client.close().catch(() => {});
  }
}

/** Runs the rules (and the pin comparison) over a listing. */
export function auditListing(target: string, tools: ToolDef[], opts: { maxDescriptionWords: number; pins?: PinStore }): AuditResult {
  const findings = auditTools(tools, { maxDescriptionWords: opts.maxDescriptionWords });
  const digests: AuditResult['tools'] = [];
  for (const t of tools) {
    if (opts.pins) {
      const { digest, pin, changed } = opts.pins.check(t);
      digests.push({ name: t.name, digest });
      if (changed) findings.push({ rule: 'rug-pull', tool: t.name, field: changed.join(', '), severity: 'high', message: `tool changed since it was pinned at ${pin.pinnedAt}` });
    } else {
      digests.push({ name: t.name, digest: new PinStore().check(t).digest });
    }
  }
  return { target, tools: digests, findings, listing: listingStats(tools) };
}

function formatText(r: AuditResult): string {
  const lines = [`berth audit: ${r.target}`, `  ${r.listing.tools} tools, listing ${r.listing.bytes} bytes (~${r.listing.estimatedTokens} tokens at bytes/4)`];
  for (const f of r.findings) {
    lines.push(`  ${f.severity === 'high' ? 'HIGH' : 'low '}  ${f.tool}  ${f.rule}  ${f.field}: ${f.message}`);
    if (f.excerpt) lines.push(`        ${f.excerpt}`);
  }
  const high = r.findings.filter((f) => f.severity === 'high').length;
  lines.push(r.findings.length ? `  ${r.findings.length} finding(s): ${high} high, ${r.findings.length - high} low` : '  no findings');
  return lines.join('\n') + '\n';
}

/** `berth audit`; resolves with the exit status. */
export async function runAudit(argv: string[], io: CliIO = processIO()): Promise<number> {
  const args = argv[0] === 'audit' ? argv.slice(1) : argv;
  const dash = args.indexOf('--');
  const flagArgs = dash >= 0 ? args.slice(0, dash) : args;
  const command = dash >= 0 ? args.slice(dash + 1) : undefined;
  let parsed;
  try {
    parsed = parseFlags(
      flagArgs,
      {
        json: { type: 'boolean' },
        'max-words': { type: 'string' },
        header: { type: 'string', multiple: true },
        'pin-file': { type: 'string' },
        'update-pins': { type: 'boolean' },
        timeout: { type: 'string' },
      },
      true,
    );
  } catch (err) {
    io.stderr.write(`berth audit: ${(err as Error).message}\n\n${AUDIT_USAGE}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    io.stdout.write(AUDIT_USAGE);
    return 0;
  }
  const usage = (msg: string): number => {
    io.stderr.write(`berth audit: ${msg}\n\n${AUDIT_USAGE}`);
    return 2;
  };
  const maxWords = v['max-words'] === undefined ? 50 : Number(v['max-words']);
  if (!Number.isInteger(maxWords) || maxWords < 1) return usage('--max-words must be a positive integer');
  const timeout = v.timeout === undefined ? 30 : Number(v.timeout);
  if (!(timeout > 0)) return usage('--timeout must be a positive number of seconds');
  let headers: Record<string, string>;
  try {
    headers = parseHeaders((v.header as string[] | undefined) ?? []);
  } catch (err) {
    return usage((err as Error).message);
  }
  let url: URL | undefined;
  if (command) {
    if (parsed.positionals.length) return usage('give either a URL or "-- <command>", not both');
    if (!command.length) return usage('missing command after "--"');
  } else {
    if (parsed.positionals.length !== 1) return usage('expected one server URL or "-- <command> [args…]"');
    try {
      url = new URL(parsed.positionals[0]!);
    } catch {
      return usage(`"${parsed.positionals[0]}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return usage('the URL must be http(s)');
  }

  const pinPath = v['pin-file'] ? resolve(io.cwd, v['pin-file'] as string) : undefined;
  const pins = pinPath ? new PinStore() : undefined;
  if (pinPath && pins && existsSync(pinPath) && !v['update-pins']) {
    try {
      const doc = JSON.parse(readFileSync(pinPath, 'utf8')) as PinFile;
      if (doc.version !== 1 || typeof doc.tools !== 'object') throw new Error('not a berth pin file');
      pins.load(Object.entries(doc.tools));
    } catch (err) {
      return usage(`--pin-file ${pinPath}: ${(err as Error).message}`);
    }
  }

  const target = url ? url.href : command!.join(' ');
  let tools: ToolDef[];
  try {
    tools = await listTools({ url, command, headers, env: io.env }, timeout * 1000);
  } catch (err) {
    io.stderr.write(`berth audit: cannot audit ${target}: ${(err as Error).message}\n`);
    return EXIT_UNREACHABLE;
  }
  const result = auditListing(target, tools, { maxDescriptionWords: maxWords, pins });
  if (pinPath && pins) {
    const doc: PinFile = { version: 1, tools: Object.fromEntries(pins.entries()) };
    if (!existsSync(pinPath) || v['update-pins']) writeFileSync(pinPath, JSON.stringify(doc, null, 2) + '\n');
  }
  io.stdout.write(v.json ? JSON.stringify(result, null, 2) + '\n' : formatText(result));
  return result.findings.length ? 1 : 0;
}

/** The subcommand entry the `berth` dispatcher loads. */
export const auditCommand = runAudit;

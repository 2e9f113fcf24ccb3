/**
 * SEP-2243 standard request headers on 2026-07-28 requests: every request
 * POST carries `MCP-Protocol-Version` and `Mcp-Method`, and requests naming a
 * tool, prompt, resource or task carry `Mcp-Name` mirroring the body. Mirrors
 * the SDK's (unexported) `validateStandardRequestHeaders`; mismatches answer
 * HTTP 400 with JSON-RPC code -32020.
 */
import type { McpHeaders } from './classify.ts';

export const HEADER_MISMATCH_CODE = -32020;

export interface HeaderRejection {
  cell: string;
  message: string;
  data: { mismatch: { header: string; body: string } };
}

/** Which body field `Mcp-Name` mirrors, per method. */
const NAME_SOURCE: Readonly<Record<string, string>> = Object.freeze({
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'tasks/get': 'taskId',
  'tasks/update': 'taskId',
  'tasks/cancel': 'taskId',
});

const SENTINEL_PREFIX = '=?base64?';
const SENTINEL_SUFFIX = '?=';
const BASE64_CANONICAL = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes an `Mcp-Name`/`Mcp-Param-*` value: plain, or `=?base64?…?=`; undefined when the sentinel is invalid. */
export function decodeHeaderValue(value: string): string | undefined {
  if (!(value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX))) return value;
  const b64 = value.slice(SENTINEL_PREFIX.length, value.length - SENTINEL_SUFFIX.length);
  if (!BASE64_CANONICAL.test(b64)) return undefined;
  try {
    return utf8.decode(Buffer.from(b64, 'base64'));
  } catch {
    return undefined;
  }
}

const mismatch = (cell: string, header: string, body: string): HeaderRejection => ({
  cell,
  message: `Bad Request: the request headers and body disagree: ${body}`,
  data: { mismatch: { header, body } },
});

/** Validates the standard headers of a modern request; undefined when they are fine. */
export function validateStandardHeaders(
  headers: McpHeaders,
  method: string,
  params: Record<string, unknown> | undefined,
  claimedVersion: string | undefined,
): HeaderRejection | undefined {
  if (headers.protocolVersion === undefined) {
    return mismatch(
      'version-header-missing',
      '(missing)',
      claimedVersion === undefined
        ? 'the body carries a modern per-request envelope but the required MCP-Protocol-Version header is absent'
        : `the body envelope names protocol version ${claimedVersion} but the required MCP-Protocol-Version header is absent`,
    );
  }
  if (headers.method === undefined) {
    return mismatch('method-header-missing', '(missing)', `the body names method ${method} but the required Mcp-Method header is absent`);
  }
  const field = Object.hasOwn(NAME_SOURCE, method) ? NAME_SOURCE[method] : undefined;
  if (field === undefined) return undefined;
  const raw = params?.[field];
  const bodyValue = typeof raw === 'string' ? raw : undefined;
  if (headers.name === undefined) {
    if (bodyValue === undefined) return undefined;
    return mismatch('name-header-missing', '(missing)', `the body carries params.${field}="${bodyValue}" but the required Mcp-Name header is absent`);
  }
  const header = headers.name.trim();
  const decoded = decodeHeaderValue(header);
  if (decoded === undefined) return mismatch('name-header-invalid-encoding', header, 'the Mcp-Name header carries an invalid Base64 sentinel value');
  if (bodyValue !== undefined && decoded !== bodyValue) {
    return mismatch('name-header-mismatch', header, `the body carries params.${field}="${bodyValue}" but the Mcp-Name header names "${decoded}"`);
  }
  return undefined;
}

// The exact requests each rung is loaded with, in both protocol eras.
export const MODERN = '2026-07-28';
export const LEGACY = '2025-11-25';
export const ECHO_TEXT = 'hello berth';

const envelope = {
  'io.modelcontextprotocol/protocolVersion': MODERN,
  'io.modelcontextprotocol/clientInfo': { name: 'berth-bench', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

export interface WireRequest {
  headers: Record<string, string>;
  body: string;
  expect: string;
}

/** A body with `$ID` where the load generator puts the request id. */
function withId(obj: Record<string, unknown>): string {
  return JSON.stringify({ ...obj, id: 0 }).replace('"id":0', '"id":$ID');
}

/** A plain JSON-RPC tools/call (the echo ceilings). */
export function plainCall(): WireRequest {
  return {
    headers: { 'content-type': 'application/json' },
    body: withId({ jsonrpc: '2.0', method: 'tools/call', params: { name: 'echo', arguments: { text: ECHO_TEXT } } }),
    expect: ECHO_TEXT,
  };
}

/** A 2026-07-28 tools/call: envelope in _meta, Mcp-Method/Mcp-Name headers. */
export function modernCall(extraHeaders: Record<string, string> = {}): WireRequest {
  return {
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN,
      'mcp-method': 'tools/call',
      'mcp-name': 'echo',
      ...extraHeaders,
    },
    body: withId({ jsonrpc: '2.0', method: 'tools/call', params: { name: 'echo', arguments: { text: ECHO_TEXT }, _meta: envelope } }),
    expect: ECHO_TEXT,
  };
}

/** A 2025-era tools/call without a session (stateless fallback). */
export function legacyStatelessCall(): WireRequest {
  return {
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': LEGACY },
    body: withId({ jsonrpc: '2.0', method: 'tools/call', params: { name: 'echo', arguments: { text: ECHO_TEXT } } }),
    expect: ECHO_TEXT,
  };
}

/** Opens a 2025-era session and returns the tools/call request bound to it. */
export async function legacySessionCall(
  url: string,
  extraHeaders: Record<string, string> = {},
  tool: { name: string; arguments: Record<string, unknown>; expect: string } = { name: 'echo', arguments: { text: ECHO_TEXT }, expect: ECHO_TEXT },
): Promise<WireRequest & { sessionId: string }> {
  const base = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...extraHeaders };
  const init = await fetch(url, {
    method: 'POST',
    headers: base,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 'berth-bench', version: '1.0.0' } },
    }),
  });
  const sessionId = init.headers.get('mcp-session-id');
  await init.text();
  if (!init.ok || !sessionId) throw new Error(`initialize failed: HTTP ${init.status}`);
  const headers = { ...base, 'mcp-session-id': sessionId, 'mcp-protocol-version': LEGACY };
  const ack = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await ack.text();
  return {
    sessionId,
    headers,
    body: withId({ jsonrpc: '2.0', method: 'tools/call', params: { name: tool.name, arguments: tool.arguments } }),
    expect: tool.expect,
  };
}

/**
 * Era classification of an inbound MCP request. The SDK's
 * `classifyInboundRequest` is the reference; it validates every message with
 * zod, which costs ~10-20 µs. The common, well-formed shapes (a legacy
 * `initialize` among them) are decided here with plain checks (and a cached
 * verdict per distinct `_meta` envelope) and give the SDK's exact answer;
 * anything unusual goes to the SDK itself. The SDK is imported on that first
 * unusual request: its entry point weighs about 16 MB resident, which a
 * runtime serving only well-formed legacy traffic from a stdio or remote
 * backend never pays.
 */
import type { InboundClassificationOutcome, JSONRPCNotification, JSONRPCRequest } from '@modelcontextprotocol/server';
import { PROTOCOL_VERSION_META_KEY } from './meta-keys.ts';
import { isModernVersion } from './versions.ts';

type SdkClassifier = (typeof import('@modelcontextprotocol/server'))['classifyInboundRequest'];
let sdkClassifier: SdkClassifier | undefined;
let sdkLoading: Promise<SdkClassifier> | undefined;

/** Imports the SDK's classifier (once). */
function loadSdkClassifier(): Promise<SdkClassifier> {
  return (sdkLoading ??= import('@modelcontextprotocol/server').then((sdk) => (sdkClassifier = sdk.classifyInboundRequest)));
}

export interface McpHeaders {
  /** `MCP-Protocol-Version` */
  protocolVersion?: string | undefined;
  /** `Mcp-Method` */
  method?: string | undefined;
  /** `Mcp-Name` */
  name?: string | undefined;
}

const RESERVED_PREFIX = 'io.modelcontextprotocol/';
const MAX_CACHED_ENVELOPES = 1024;
/** Envelope fingerprint → claimed version when the SDK accepts the envelope, false when it rejects it. */
const envelopeVerdicts = new Map<string, string | false>();

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const hasOws = (v: string): boolean => {
  const first = v.charCodeAt(0);
  const last = v.charCodeAt(v.length - 1);
  return first === 32 || first === 9 || last === 32 || last === 9;
};

/**
 * Classifies one request exactly like the SDK's `classifyInboundRequest`:
 * synchronously for the shapes decided here and once the SDK is loaded, else
 * after loading it.
 */
export function classify(httpMethod: string, headers: McpHeaders, body: unknown): InboundClassificationOutcome | Promise<InboundClassificationOutcome> {
  const fast = httpMethod === 'POST' ? fastClassify(headers, body) : undefined;
  if (fast) return fast;
  if (sdkClassifier) return classifyWith(sdkClassifier, httpMethod, headers, body);
  return loadSdkClassifier().then((sdk) => classifyWith(sdk, httpMethod, headers, body));
}

/** The SDK's own classifier (the reference). */
export async function sdkClassify(httpMethod: string, headers: McpHeaders, body: unknown): Promise<InboundClassificationOutcome> {
  return classifyWith(await loadSdkClassifier(), httpMethod, headers, body);
}

function classifyWith(sdk: SdkClassifier, httpMethod: string, headers: McpHeaders, body: unknown): InboundClassificationOutcome {
  return sdk({
    httpMethod,
    ...(headers.protocolVersion !== undefined && { protocolVersionHeader: headers.protocolVersion }),
    ...(headers.method !== undefined && { mcpMethodHeader: headers.method }),
    ...(headers.name !== undefined && { mcpNameHeader: headers.name }),
    ...(body !== undefined && { body }),
  });
}

/** Decides well-formed single requests/notifications; undefined defers to the SDK. */
function fastClassify(headers: McpHeaders, body: unknown): InboundClassificationOutcome | undefined {
  if (!isPlainObject(body) || body.jsonrpc !== '2.0') return undefined;
  const method = body.method;
  if (typeof method !== 'string') return undefined;
  let keys = 0;
  for (const key in body) {
    if (key !== 'jsonrpc' && key !== 'id' && key !== 'method' && key !== 'params') return undefined;
    keys++;
  }
  const hasId = 'id' in body;
  if (hasId) {
    const id = body.id;
    if (typeof id !== 'string' && !(typeof id === 'number' && Number.isSafeInteger(id))) return undefined;
  }
  if (keys !== (hasId ? 3 : 2) + ('params' in body ? 1 : 0)) return undefined;
  const params = body.params;
  if (params !== undefined && !isPlainObject(params)) return undefined;
  const headerVersion = headers.protocolVersion;
  if (headerVersion !== undefined && hasOws(headerVersion)) return undefined;
  const meta = params?._meta;
  if (method === 'initialize') {
    // The legacy handshake: the version it names is the body's, whatever the header says.
    if (!hasId || meta !== undefined || (headerVersion !== undefined && isModernVersion(headerVersion))) return undefined;
    const named = params?.protocolVersion;
    return { kind: 'legacy', reason: 'initialize', ...(typeof named === 'string' && { requestedVersion: named }) };
  }

  if (meta === undefined) {
    if (headerVersion !== undefined && isModernVersion(headerVersion)) return undefined;
    return {
      kind: 'legacy',
      reason: hasId ? 'no-claim' : 'notification',
      ...(headerVersion !== undefined && { requestedVersion: headerVersion }),
    };
  }
  if (!hasId || !isPlainObject(meta) || !(PROTOCOL_VERSION_META_KEY in meta)) return undefined;

  const claimed = envelopeVerdict(meta);
  if (claimed === undefined || claimed === false) return undefined;
  if (headerVersion !== undefined && headerVersion !== claimed) return undefined;
  const methodHeader = headers.method;
  if (methodHeader !== undefined && methodHeader !== method) return undefined;
  return {
    kind: 'modern',
    messageKind: 'request',
    message: body as unknown as JSONRPCRequest,
    classification: { era: isModernVersion(claimed) ? 'modern' : 'legacy', revision: claimed },
  };
}

/**
 * The SDK's verdict on an envelope, cached by a fingerprint of its reserved
 * keys. Undefined when the `_meta` carries keys the fingerprint can't vouch for.
 */
function envelopeVerdict(meta: Record<string, unknown>): string | false | undefined {
  const reserved: unknown[] = [];
  for (const key in meta) {
    const value = meta[key];
    if (key.startsWith(RESERVED_PREFIX)) reserved.push(key, value);
    else if (key === 'progressToken') {
      if (typeof value !== 'string' && !(typeof value === 'number' && Number.isSafeInteger(value))) return undefined;
    } else return undefined;
  }
  const fingerprint = JSON.stringify(reserved);
  const cached = envelopeVerdicts.get(fingerprint);
  if (cached !== undefined) return cached;
  // Not loaded yet: this request goes to the SDK, which loads it for the next one.
  if (!sdkClassifier) return undefined;
  const probe = classifyWith(sdkClassifier, 'POST', {}, { jsonrpc: '2.0', id: 0, method: 'ping', params: { _meta: meta } });
  const verdict = probe.kind === 'modern' && probe.classification.revision !== undefined ? probe.classification.revision : false;
  if (envelopeVerdicts.size >= MAX_CACHED_ENVELOPES) envelopeVerdicts.clear();
  envelopeVerdicts.set(fingerprint, verdict);
  return verdict;
}

export type { InboundClassificationOutcome, JSONRPCNotification, JSONRPCRequest };

/** Client capabilities a server→client request needs, and Berth's own client identity. */

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Berth's client identity when it initializes a server itself. */
export const BERTH_CLIENT_INFO = { name: 'berth', version: '0.1.0' } as const;

/**
 * The capabilities Berth declares when it initializes a shared server: it can
 * relay sampling and elicitation to whichever client a request belongs to
 * (and refuses cleanly when that client lacks them). Roots are not declared:
 * they describe one client's workspace and servers cache them per
 * connection, so a shared process would hand one client's roots to another.
 * Servers that need roots run `perSession`, initialized with the client's
 * own capabilities.
 */
export const BERTH_CLIENT_CAPABILITIES: Record<string, unknown> = Object.freeze({
  sampling: {},
  elicitation: { form: {}, url: {} },
});

/**
 * Names the capability `method` needs that `declared` lacks, or undefined
 * when the client can take the request. Mirrors the SDK's mode-aware rules.
 */
export function missingCapability(method: string, params: Record<string, unknown> | undefined, declared: Record<string, unknown> | undefined): string | undefined {
  const caps = declared ?? {};
  switch (method) {
    case 'sampling/createMessage': {
      const s = caps.sampling;
      if (!isObj(s)) return 'sampling';
      if (params && (params.tools !== undefined || params.toolChoice !== undefined) && !isObj(s.tools)) return 'sampling.tools';
      return undefined;
    }
    case 'elicitation/create': {
      const e = caps.elicitation;
      if (!isObj(e)) return 'elicitation';
      const url = params?.mode === 'url';
      if (url) return isObj(e.url) ? undefined : 'elicitation.url';
      return isObj(e.form) || (e.form === undefined && e.url === undefined) ? undefined : 'elicitation.form';
    }
    case 'roots/list':
      return isObj(caps.roots) ? undefined : 'roots';
    default:
      return undefined;
  }
}

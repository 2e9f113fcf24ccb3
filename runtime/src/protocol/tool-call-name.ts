/** The tool a single tools/call message names, if any. */
export function toolCallName(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const m = body as { method?: unknown; params?: { name?: unknown } };
  if (m.method !== 'tools/call' || m.params === null || typeof m.params !== 'object') return undefined;
  const name = m.params.name;
  return typeof name === 'string' && name ? name : undefined;
}

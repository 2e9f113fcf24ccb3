// A minimal 2025-era client side for the replica-loss figure: read a POST's
// SSE stream, and resume it with Last-Event-ID when it breaks, like a
// spec-following client does.

export interface SseEvent {
  id?: string;
  data: string;
}

/** Reads SSE events until the body ends or breaks; `onEvent` returns true to stop reading. */
export async function readSse(body: ReadableStream<Uint8Array>, onEvent: (e: SseEvent) => boolean): Promise<'stopped' | 'ended' | 'broken'> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return 'ended';
      buf += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const e: SseEvent = { data: '' };
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('id:')) e.id = line.slice(3).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        e.data = data.join('\n');
        if (e.id === undefined && e.data === '') continue;
        if (onEvent(e)) {
          await reader.cancel().catch(() => {});
          return 'stopped';
        }
      }
    }
  } catch {
    return 'broken';
  }
}

/**
 * Reads a 2025-era POST or GET SSE stream event by event, telling a stream
 * that ended from one that broke (the client then resumes with
 * Last-Event-ID). Shared by the multi-replica tests and the bench.
 */

export interface SseEvent {
  id?: string;
  data: string;
}

/** Reads SSE events from a fetch body until it ends or breaks; `onEvent` returns true to stop. */
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

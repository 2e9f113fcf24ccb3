// Closed-loop rounds: the same rung measured minutes apart, the better run kept.
import type { LoadResult } from './load-worker.ts';

/** Per concurrency, the run with the most calls/s among `own` and the earlier rounds' (a tie keeps `own`). */
export function bestOf(own: Record<number, LoadResult>, earlier: Array<Record<number, LoadResult>>): Record<number, LoadResult> {
  const best: Record<number, LoadResult> = { ...own };
  for (const round of earlier) {
    for (const [c, r] of Object.entries(round)) {
      const kept = best[Number(c)];
      if (!kept || r.requestsPerSecond > kept.requestsPerSecond) best[Number(c)] = r;
    }
  }
  return best;
}

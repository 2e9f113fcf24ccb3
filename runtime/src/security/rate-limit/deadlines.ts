/**
 * A timeout for many concurrent promises with one shared timer. Every entry
 * has the same timeout, so arrival order is deadline order: a FIFO queue and a
 * single timer armed for its head replace a timer (and a Promise.race) per
 * decision on the hot path.
 */

export interface Deadlines {
  /** Settles like `p`, or rejects once `timeoutMs` has passed without an answer. */
  <T>(p: Promise<T>): Promise<T>;
  /** Stops the timer; pending entries are left to their own promises. */
  close(): void;
}

interface Entry {
  at: number;
  /**
   * Undefined once settled: a settled entry waits in the queue until its
   * deadline, and must not keep the answer alive.
   */
  reject: ((err: Error) => void) | undefined;
}

/** Creates the shared deadline queue for `timeoutMs`. */
export function deadlines(timeoutMs: number): Deadlines {
  let queue: Entry[] = [];
  let head = 0;
  let timer: NodeJS.Timeout | undefined;

  function arm(): void {
    while (head < queue.length && queue[head]!.reject === undefined) head++;
    if (head >= queue.length) {
      queue = [];
      head = 0;
      return;
    }
    if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
    timer = setTimeout(fire, Math.max(1, queue[head]!.at - performance.now()));
    timer.unref();
  }

  function fire(): void {
    timer = undefined;
    const now = performance.now();
    while (head < queue.length && queue[head]!.at <= now) {
      const e = queue[head++]!;
      const reject = e.reject;
      if (reject) {
        e.reject = undefined;
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }
    }
    arm();
  }

  const race = (<T>(p: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const e: Entry = { at: performance.now() + timeoutMs, reject };
      queue.push(e);
      if (!timer) arm();
      p.then(
        (v) => {
          if (e.reject === undefined) return;
          e.reject = undefined;
          resolve(v);
        },
        (err: unknown) => {
          if (e.reject === undefined) return;
          e.reject = undefined;
          reject(err as Error);
        },
      );
    })) as Deadlines;
  race.close = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  return race;
}

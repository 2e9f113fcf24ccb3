/**
 * Resolves when `promise` settles or after `ms`, whichever is first; never
 * rejects. Shutdown steps use it so one that hangs cannot hold the process
 * past its deadline. `unref`: the timer alone does not keep the process alive.
 */
export function settleWithin(promise: Promise<unknown>, ms: number, opts: { unref?: boolean } = {}): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, ms));
    if (opts.unref) timer.unref();
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    promise.then(done, done);
  });
}

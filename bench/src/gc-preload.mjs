// Loaded into a measured server with `node --expose-gc --import`: on SIGUSR2
// it collects garbage twice and writes process.memoryUsage() to
// $BERTH_BENCH_MEM_FILE, so memory per idle session is measured on live
// objects rather than on whatever the collector has not reclaimed yet.
import { writeFileSync } from 'node:fs';

process.on('SIGUSR2', () => {
  globalThis.gc?.();
  globalThis.gc?.();
  if (process.env.BERTH_BENCH_MEM_FILE) writeFileSync(process.env.BERTH_BENCH_MEM_FILE, JSON.stringify(process.memoryUsage()));
});

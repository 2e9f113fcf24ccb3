// Loaded into every measured server with `node --expose-gc --import`:
// - SIGUSR2: collect garbage twice and write process.memoryUsage() to
//   $BERTH_BENCH_MEM_FILE, so memory per idle session is measured on live
//   objects rather than on whatever the collector has not reclaimed yet;
// - SIGWINCH (with $BERTH_BENCH_PROFILE_FILE): the first starts the V8 CPU
//   profiler, the second stops it and writes the .cpuprofile, so a profile
//   covers the load runs only (not start-up).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

process.on('SIGUSR2', () => {
  globalThis.gc?.();
  globalThis.gc?.();
  if (process.env.BERTH_BENCH_MEM_FILE) writeFileSync(process.env.BERTH_BENCH_MEM_FILE, JSON.stringify(process.memoryUsage()));
});

const profileFile = process.env.BERTH_BENCH_PROFILE_FILE;
if (profileFile) {
  const session = new Session();
  session.connect();
  let running = false;
  process.on('SIGWINCH', () => {
    if (!running) {
      running = true;
      session.post('Profiler.setSamplingInterval', { interval: 500 }, () => session.post('Profiler.enable', () => session.post('Profiler.start')));
      return;
    }
    running = false;
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(profileFile, JSON.stringify(result.profile));
    });
  });
}

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

// SIGTTIN / SIGTTOU (with $BERTH_BENCH_LOOP_FILE): start / stop watching the
// event loop over one window (the open-loop run): the delay histogram
// (perf_hooks.monitorEventLoopDelay: how late a timer ran, i.e. how long the
// loop was blocked), written as JSON at the stop, and V8's --trace-gc lines on
// stdout, which the harness reads (src/gc-trace.ts says why not GCProfiler).
// Off outside the window, so closed-loop CPU per call is not affected.
const loopFile = process.env.BERTH_BENCH_LOOP_FILE;
if (loopFile) {
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const { setFlagsFromString } = await import('node:v8');
  const RESOLUTION_MS = 1;
  let histogram;
  let startedAt = 0;
  process.on('SIGTTIN', () => {
    histogram?.disable();
    histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    histogram.enable();
    setFlagsFromString('--trace-gc');
    startedAt = performance.now();
  });
  process.on('SIGTTOU', () => {
    if (!histogram) return;
    setFlagsFromString('--no-trace-gc');
    histogram.disable();
    // The histogram counts how late each 1 ms timer fired (ns), resolution included.
    const ms = (ns) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
    const h = histogram;
    const round = (n) => Math.round(n * 100) / 100;
    writeFileSync(
      loopFile,
      JSON.stringify({
        seconds: round((performance.now() - startedAt) / 1000),
        loopDelayMs: { p50: round(ms(h.percentile(50))), p99: round(ms(h.percentile(99))), p999: round(ms(h.percentile(99.9))), max: round(ms(h.max)), samples: h.count },
      }),
    );
    histogram = undefined;
  });
}

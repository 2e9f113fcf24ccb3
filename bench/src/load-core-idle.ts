// Keeps the load generator's core from halting while the ladder runs.
//
// On loopback the sender's CPU runs the receiver's whole network receive
// path, wake-up included: each response the server writes ends in a wake of
// the generator's thread, charged to the server's core. When the generator's
// core is a halted virtual CPU, that wake is an inter-processor interrupt
// the hypervisor must deliver, and the server's write waits for it (`perf
// record` of berth-modern at one connection: 12.5% of the runtime's samples
// in the generator's `sock_def_readable` under the server's `write`, 1.6%
// with the generator's core polling). A client on another machine costs the
// server nothing of the kind. An idle core that polls is woken by a flag,
// without an interrupt, so the server's figures are the server's own. The
// server's core is left as found: what a call that finds the server idle
// costs it is part of what is measured.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { readSys } from './machine.ts';

/** The value of a CPU's PM QoS resume latency that allows no idle state but polling. */
export const POLL_ONLY = 'n/a';

/** sysfs file of a CPU's PM QoS resume latency limit (µs; "0" no limit, "n/a" polling only). */
export const resumeLatencyPath = (core: number): string => `/sys/devices/system/cpu/cpu${core}/power/pm_qos_resume_latency_us`;

export interface LoadCoreIdle {
  /** How the load core waited while idle during the run, for the report. */
  description: string;
  /** Puts the setting back as it was (idempotent). */
  restore(): void;
}

/** The report's wording for the outcome of asking the load core to poll when idle ("load generator to core 1, …"). */
export function describeLoadCoreIdle(outcome: { set: true } | { alreadyPolling: true } | { reason: string }): string {
  if ('set' in outcome) return `polling when idle for the run (PM QoS resume latency "${POLL_ONLY}", restored after), so the server's writes do not pay for waking a halted generator`;
  if ('alreadyPolling' in outcome) return `polling when idle as found (PM QoS resume latency "${POLL_ONLY}")`;
  return `idle as found (${outcome.reason})`;
}

/**
 * Sets `core` to poll when idle until `restore()` or the process's end. A
 * watchdog outside this process puts the old value back if it dies without
 * restoring (a signal, a crash), so a machine is never left polling.
 */
export function pollLoadCoreWhileIdle(core: number, options: { enabled: boolean; path?: string } = { enabled: true }): LoadCoreIdle {
  const path = options.path ?? resumeLatencyPath(core);
  const asFound = (reason: string): LoadCoreIdle => ({ description: describeLoadCoreIdle({ reason }), restore: () => {} });
  if (!options.enabled) return asFound('--load-core-idle as-found');
  const before = readSys(path);
  if (before === undefined) return asFound(`no ${path}`);
  if (before === POLL_ONLY) return { description: describeLoadCoreIdle({ alreadyPolling: true }), restore: () => {} };
  try {
    writeFileSync(path, POLL_ONLY);
  } catch (err) {
    return asFound(`${path} not writable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  // Polls for this process once a second; restores the old value when it is gone.
  const watchdog = spawn('sh', ['-c', 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; printf %s "$2" > "$3"', 'sh', String(process.pid), before, path], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    // Stopped first: a watchdog outliving this restore could undo a later run's setting.
    watchdog.kill('SIGKILL');
    try {
      writeFileSync(path, before);
    } catch {
      // The watchdog is gone; nothing else can put it back, so say so.
      process.stderr.write(`[bench] could not restore ${path} to "${before}"\n`);
    }
  };
  process.on('exit', restore);
  return { description: describeLoadCoreIdle({ set: true }), restore };
}

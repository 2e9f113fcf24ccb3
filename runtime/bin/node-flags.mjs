// Node/V8 flags for the long-running commands (`run`, `serve`). Plain
// JavaScript: the launcher reads it before TypeScript support is set up.
import { readFileSync } from 'node:fs';

/**
 * - `--max-semi-space-size=4`: V8 grows each of the young generation's
 *   semi-spaces to 16 MB under load and the pages stay resident. Measured on
 *   the stdio bench rung (8 then 64 concurrent calls), the runtime process
 *   peaked at about 210 MB with the default and 136 MB with 4 MB, at the same
 *   CPU per call and GC time; 2 MB collects more often and promotes more to
 *   the old generation (175 MB).
 * - `--no-allocation-site-pretenuring`: under a burst (64 concurrent calls)
 *   many per-request objects outlive two scavenges, and V8 then decides to
 *   allocate their allocation sites straight in the old generation, for good.
 *   Back at an ordinary rate, every request's result, timers and promises
 *   became old-generation garbage: half of it on a legacy session (heap
 *   sampler: 8.8 → 4.6 MB per 5 s), and the full collections it caused set
 *   the open-loop p99 (26–33 ms with two full GCs in every 5 s window; 3.7–16
 *   ms with none without pretenuring) at the same CPU per call.
 * - `--no-maglev-destroy-on-background`: when load starts, every function on
 *   the request path becomes hot at once and Maglev compiles about 120 of
 *   them. Finished jobs were handed to a background task for destruction,
 *   which a busy process runs late: `--trace-zone-stats` showed their zones
 *   piling up to 16 MB (4 MB with this flag), malloc memory that glibc may
 *   keep resident after it is freed. The runtime's peak RSS on the stdio
 *   bench rung moved less than its run-to-run spread (96–104 MB with the
 *   flag, 96–103 MB without, over 1, 8 and 64 concurrent calls): the flag
 *   bounds the warm-up's malloc peak, not the steady state. Freeing a job on
 *   the main thread costs microseconds, once per compiled function.
 * - `--no-sparkplug`: V8's baseline compiler turns every function called a
 *   few times into machine code that stays in the code space, start-up and
 *   one-off code included. A server's request path is hot enough to reach
 *   Maglev and TurboFan anyway. On the stdio bench rung the runtime's peak
 *   RSS fell by about 3 MB (101.7–102.4 → 98.3–99.5 MB), and alternating
 *   A/B runs showed no CPU cost per call (modern in-memory 0.97×, stdio
 *   0.97×, both within noise).
 */
export const SERVER_NODE_FLAGS = Object.freeze(['--max-semi-space-size=4', '--no-allocation-site-pretenuring', '--no-maglev-destroy-on-background', '--no-sparkplug']);

/**
 * Environment the launcher adds for the server (when not already set):
 * - `MALLOC_ARENA_MAX=2`: glibc gives each thread that allocates its own
 *   malloc arena, and V8's compiler and GC threads each keep one with its
 *   high-water mark resident. Two arenas (the main thread's and one shared)
 *   took about 2.5 MB off the stdio bench rung's peak RSS (99.6 MB in both
 *   runs against 101.7–102.4). Server children (stdio servers) never see it:
 *   they get an environment of their own.
 */
export const SERVER_ENV = Object.freeze({ MALLOC_ARENA_MAX: '2' });

/**
 * Added when the process may run on one CPU only (its affinity mask: a
 * pinned process, or a Kubernetes Guaranteed pod given one whole CPU by the
 * static CPU manager). V8 scavenges the young generation on the main thread
 * and helper threads together, and those helpers then wait for the one core
 * behind the main thread and whatever else runs there. Measured on the bench
 * (runs of a rung alone, alternating, 3 each): the legacy rung's scavenges
 * took 0.45–0.58 ms on average with the helpers and 0.34–0.36 ms without,
 * the longest 1.2–7.4 ms against 0.5–1.2 ms, and the three-replica rung's
 * total scavenge time halved. With two or more CPUs the helpers run in
 * parallel and stay on.
 */
export const ONE_CPU_NODE_FLAGS = Object.freeze(['--no-parallel-scavenge']);

const SERVING = new Set(['run', 'serve']);

/**
 * How many CPUs this process may run on (its affinity mask, from
 * `Cpus_allowed_list` in /proc/self/status), or undefined where that is not
 * readable. Not `os.availableParallelism()`: that also counts a CFS quota,
 * under which helper threads still run on other cores at the same time.
 */
export function allowedCpus(status = readStatus()) {
  const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status ?? '')?.[1];
  if (!list) return undefined;
  let count = 0;
  for (const range of list.split(',')) {
    const [from, to = from] = range.split('-').map(Number);
    if (!Number.isInteger(from) || !Number.isInteger(to) || to < from) return undefined;
    count += to - from + 1;
  }
  return count;
}

function readStatus() {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
}

/** The SERVER_ENV entries `env` does not set yet, for `command` (none for short commands). */
export function serverEnv(command, env = {}) {
  if (!SERVING.has(command)) return {};
  return Object.fromEntries(Object.entries(SERVER_ENV).filter(([name]) => env[name] === undefined));
}

/**
 * `--max_semi_space_size=4` → `--max-semi-space-size`, `--no-x` → `--x`: V8
 * accepts both spellings, and a flag and its negation are the same setting.
 */
const flagName = (arg) => arg.split('=')[0].replace(/_/g, '-').replace(/^--no-/, '--');

/**
 * The flags the launcher adds for `command` on `cpus` allowed CPUs (by
 * default this process's): none for short commands, and none that the user already set (on the command line
 * or in NODE_OPTIONS).
 */
export function serverNodeFlags(command, execArgv = [], nodeOptions = '', cpus) {
  if (!SERVING.has(command)) return [];
  const given = new Set([...execArgv, ...(nodeOptions ?? '').split(/\s+/)].filter((a) => a.startsWith('--')).map(flagName));
  // Read only for a server: a short command need not open /proc at start-up.
  const flags = (cpus ?? allowedCpus()) === 1 ? [...SERVER_NODE_FLAGS, ...ONE_CPU_NODE_FLAGS] : SERVER_NODE_FLAGS;
  return flags.filter((flag) => !given.has(flagName(flag)));
}

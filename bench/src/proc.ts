// Child processes of the benchmark: start pinned to a core, wait for the
// port announcement, read RSS, stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { freePort } from '../../runtime/test/helpers/free-port.ts';

/** Ports for child servers: see free-port.ts for why they come from below the ephemeral range. */
export { freePort };

export interface Started {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

const hasTaskset = (() => {
  try {
    return spawn('taskset', ['-c', '0', 'true']).pid !== undefined;
  } catch {
    return false;
  }
})();

/** A command line, pinned to `core` with taskset where available. */
export function pinned(core: number | undefined, cmd: string, args: string[]): [string, string[]] {
  return core === undefined || !hasTaskset ? [cmd, args] : ['taskset', ['-c', String(core), cmd, ...args]];
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone (at once if it already is). */
export function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    // Already gone (a replica the harness killed on purpose): nothing to wait for.
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Starts a server process and waits until `ready(port)` succeeds. */
export async function startServer(
  cmd: string,
  args: string[],
  opts: { core?: number; env?: NodeJS.ProcessEnv; port: number; ready: (port: number) => Promise<boolean>; timeoutMs?: number },
): Promise<Started> {
  const [c, a] = pinned(opts.core, cmd, args);
  const child = spawn(c, a, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => (log = (log + d).slice(-4000)));
  child.stderr!.on('data', (d) => (log = (log + d).slice(-4000)));
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${cmd} ${args.join(' ')} exited with ${child.exitCode}:\n${log}`);
    if (await opts.ready(opts.port).catch(() => false)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${cmd} ${args.join(' ')} did not become ready:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port: opts.port,
    child,
    stop: () => stopChild(child, 5000),
  };
}

/** Resident set size of a process in bytes (Linux). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Runs a child to completion, collecting stdout. */
export function runToEnd(cmd: string, args: string[], core?: number): Promise<string> {
  const [c, a] = pinned(core, cmd, args);
  return new Promise((resolve, reject) => {
    const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

/** A process and all its live descendants (Linux). */
export function treePids(pid: number): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    try {
      const children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      out.push(p);
      if (children) stack.push(...children.split(/\s+/).map(Number));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** RSS of a process and all its descendants, in bytes (Linux). */
export function treeRss(pid: number): number {
  let total = 0;
  for (const p of treePids(pid)) {
    try {
      total += rssBytes(p);
    } catch {
      // ended
    }
  }
  return total;
}

/** CPU time (user + system) a process has used, in microseconds (Linux); 0 once it is gone. */
export function cpuMicros(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  return (ticks / 100) * 1e6; // USER_HZ is 100 on Linux
}

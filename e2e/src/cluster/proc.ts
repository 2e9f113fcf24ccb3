/** Small process helpers: run a command, read a log tail, find and stop pids. */
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readlinkSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClusterError } from './errors.ts';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
}

/** Runs a command to completion; never throws for a non-zero exit. */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      file,
      args,
      { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 0, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          if (err.code === 'ENOENT') reject(err);
          else resolvePromise({ code: -1, stdout, stderr: `${stderr}${err.message}\n` });
          return;
        }
        resolvePromise({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
    // A command that exits before reading its input: its status says why, not the EPIPE.
    child.stdin?.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs a command and throws a ClusterError naming it when it fails. */
export async function runChecked(file: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(file, args, opts);
  if (r.code !== 0) {
    throw new ClusterError('E2E_COMMAND_FAILED', `${file} ${args.join(' ')} exited with ${r.code}`, {
      component: file.split('/').pop(),
      logTail: lastLines(`${r.stdout}\n${r.stderr}`, 40),
    });
  }
  return r.stdout;
}

/** A command line that can be pasted into a shell. */
export function shellLine(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}

export function lastLines(text: string, n: number): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-n).join('\n');
}

/** The last `n` lines of a log file (reads at most its last 256 KiB). */
export function tailFile(path: string, n = 40): string {
  if (!existsSync(path)) return `(no log at ${path})`;
  const size = statSync(path).size;
  const len = Math.min(size, 256 * 1024);
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return lastLines(buf.toString('utf8'), n) || '(log is empty)';
  } finally {
    closeSync(fd);
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers signal 0; treat it as gone.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z';
  } catch {
    return false;
  }
}

/** True when `pid` is alive and runs `binary` (guards against pid reuse). */
export function pidRuns(pid: number, binary: string): boolean {
  if (!pidAlive(pid)) return false;
  try {
    const exe = readlinkSync(`/proc/${pid}/exe`);
    return exe === binary || exe.startsWith(`${binary} `);
  } catch {
    return false;
  }
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL. Resolves when the pid is gone. */
export async function stopPid(pid: number, graceMs = 10_000): Promise<'terminated' | 'killed' | 'gone'> {
  if (!pidAlive(pid)) return 'gone';
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'gone';
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return 'terminated';
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return 'terminated';
  }
  for (let i = 0; i < 50 && pidAlive(pid); i++) await sleep(100);
  return 'killed';
}

/**
 * Starts a long-running process detached from this one (it survives the CLI
 * or test process that started it), with stdout and stderr appended to `logFile`.
 */
export function spawnDetached(binary: string, args: readonly string[], logFile: string, cwd: string): number {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(binary, args, { cwd, detached: true, stdio: ['ignore', fd, fd], env: process.env });
    if (child.pid === undefined) throw new Error(`spawn ${binary} returned no pid`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

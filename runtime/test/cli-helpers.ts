/** Spawning the real `berth` CLI in tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '..', '..');
export const berthBin = join(repoRoot, 'runtime', 'bin', 'berth.mjs');

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, BERTH_LOG_LEVEL: 'info' };
  return { ...env, ...extra };
}

/** Runs a short berth command to completion. */
export function runBerth(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Finished> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [berthBin, ...args], { cwd: opts.cwd ?? repoRoot, env: childEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`berth ${args.join(' ')} did not finish in time\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

export interface RunningBerth {
  url: string;
  child: ChildProcess;
  /** Every stdout/stderr line so far. */
  lines: string[];
  /** Sends a signal and waits for the exit; returns the code and how long it took. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
}

/** Starts a long-running berth command (on the `cpus` list given, as taskset takes it) and waits for its "listening" log line. */
export function startBerth(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; cpus?: string } = {}): Promise<RunningBerth> {
  return new Promise((resolveStart, reject) => {
    // taskset execs the command, so the child's pid is berth's own.
    const [cmd, argv] = opts.cpus === undefined ? [process.execPath, [berthBin, ...args]] : ['taskset', ['-c', opts.cpus, process.execPath, berthBin, ...args]];
    const child = spawn(cmd, argv, { cwd: opts.cwd ?? repoRoot, env: childEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let exited: { code: number | null } | undefined;
    const exitWaiters: Array<() => void> = [];
    const onLine = (line: string): void => {
      lines.push(line);
      if (!line.includes('Berth runtime listening')) return;
      try {
        const url = (JSON.parse(line) as { url: string }).url;
        clearTimeout(timer);
        resolveStart({
          url,
          child,
          lines,
          stop: (signal = 'SIGTERM') =>
            new Promise((done) => {
              const t0 = Date.now();
              const finish = (): void => done({ code: exited?.code ?? null, ms: Date.now() - t0 });
              if (exited) return finish();
              exitWaiters.push(finish);
              child.kill(signal);
            }),
        });
      } catch {
        /* not JSON: keep waiting */
      }
    };
    const split = (stream: NodeJS.ReadableStream): void => {
      let buffer = '';
      stream.on('data', (d: Buffer) => {
        buffer += d.toString();
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          onLine(buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
        }
      });
    };
    split(child.stdout);
    split(child.stderr);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`berth ${args.join(' ')} did not start in time:\n${lines.join('\n')}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('exit', (code) => {
      exited = { code };
      clearTimeout(timer);
      for (const w of exitWaiters.splice(0)) w();
      reject(new Error(`berth exited with ${code} before listening:\n${lines.join('\n')}`));
    });
  });
}


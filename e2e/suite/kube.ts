/** kubectl and helm against the suite's kubeconfig, and polling with a deadline. */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { helmPath, kubectlPath } from '../src/cluster/test-cluster.ts';
import type { SuiteOptions } from './options.ts';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A failed kubectl/helm command, with its arguments and output. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
}

/** Runs a command to completion (no shell); never throws for a non-zero exit. */
export function exec(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      stderr += `\n(killed after ${opts.timeoutMs} ms)`;
    }, opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new CommandError(`cannot run ${cmd}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    // A command that exits before reading its input closes the pipe under us;
    // its exit status and stderr say what went wrong, so EPIPE is not the story.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') stderr += `\n(stdin: ${err.message})`;
    });
    if (opts.input) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

export interface Kube {
  kubectlBin: string;
  helmBin: string;
  env: NodeJS.ProcessEnv;
  /** kubectl; returns stdout, throws CommandError with stderr on failure. */
  kubectl(args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** kubectl without throwing. */
  kubectlResult(args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** kubectl ... -o json, parsed. */
  json<T = any>(args: readonly string[]): Promise<T>;
  /** helm; returns stdout, throws on failure. */
  helm(args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<string>;
  helmResult(args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
}

/** kubectl and helm bound to the options' kubeconfig. */
export function kube(o: SuiteOptions): Kube {
  const kubectlBin = o.kubectl ?? kubectlPath();
  const helmBin = o.helm ?? helmPath();
  const env = { ...process.env, KUBECONFIG: o.kubeconfig };
  const checked = async (bin: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> => {
    const r = await exec(bin, args, { env, ...opts });
    if (r.code !== 0) throw new CommandError(`${bin.split('/').pop()} ${args.join(' ')} exited with ${r.code}:\n${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  };
  return {
    kubectlBin,
    helmBin,
    env,
    kubectl: (args, opts) => checked(kubectlBin, args, opts),
    kubectlResult: (args, opts) => exec(kubectlBin, args, { env, ...opts }),
    json: async (args) => JSON.parse(await checked(kubectlBin, [...args, '-o', 'json'])),
    helm: (args, opts) => checked(helmBin, args, { timeoutMs: 600_000, ...opts }),
    helmResult: (args, opts) => exec(helmBin, args, { env, timeoutMs: 600_000, ...opts }),
  };
}

/** A wait that ran out of time; `last` says what was seen last. */
export class WaitTimeout extends Error {
  override readonly name = 'WaitTimeout';
}

/**
 * Polls `check` until it returns a truthy value, which is returned. `check`
 * may call `note` with what it saw; a timeout's message repeats the last note
 * (or the last error `check` threw).
 */
export async function until<T>(
  what: string,
  timeoutMs: number,
  check: (note: (seen: string) => void) => Promise<T | undefined | null | false>,
  intervalMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let seen = '';
  const note = (s: string): void => {
    seen = s;
  };
  for (;;) {
    try {
      const v = await check(note);
      if (v) return v;
    } catch (err) {
      seen = (err as Error).message;
    }
    if (Date.now() > deadline) throw new WaitTimeout(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${seen ? `; last seen: ${seen}` : ''}`);
    await sleep(intervalMs);
  }
}

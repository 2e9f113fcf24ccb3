/**
 * Resolves a stdio source's command to an executable: a path, or a name
 * looked up in the package's `.bin` folder first and then PATH. Node
 * scripts run on the runtime's own Node (their `#!/usr/bin/env node` would
 * otherwise pick whatever `node` PATH has).
 */
import { accessSync, closeSync, constants, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';

export interface ResolvedCommand {
  file: string;
  args: string[];
  /** What the user named (for logs). */
  display: string;
}

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function isNodeScript(file: string): boolean {
  if (/\.(c|m)?js$/.test(file)) return true;
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const buf = Buffer.alloc(128);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const first = buf.subarray(0, n).toString('utf8').split('\n')[0] ?? '';
    return /^#!.*\bnode(\s|$)/.test(first);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Resolves `command[0]`; throws an Error naming what was searched when the
 * command does not exist.
 */
export function resolveCommand(command: readonly string[], args: readonly string[], opts: { binDirs: readonly string[]; pathEnv: string; baseDir: string }): ResolvedCommand {
  const [name, ...lead] = command;
  if (!name) throw new Error('spec.source.stdio.command: must name an executable');
  const rest = [...lead, ...args];
  if (name === 'node') return { file: process.execPath, args: rest, display: name };
  let file: string | undefined;
  const searched: string[] = [];
  if (name.includes('/')) {
    const p = isAbsolute(name) ? name : resolve(opts.baseDir, name);
    searched.push(p);
    if (isExecutableFile(p) || (/\.(c|m)?js$/.test(p) && statSafe(p))) file = p;
  } else {
    const dirs = [...opts.binDirs, ...opts.pathEnv.split(delimiter).filter(Boolean)];
    for (const d of dirs) {
      const p = join(d, name);
      searched.push(d);
      if (isExecutableFile(p)) {
        file = p;
        break;
      }
    }
  }
  if (!file) throw new Error(`spec.source.stdio.command: "${name}" was not found (searched ${searched.join(', ') || 'nothing'})`);
  const real = realpathSafe(file);
  if (isNodeScript(real)) return { file: process.execPath, args: [real, ...rest], display: name };
  return { file, args: rest, display: name };
}

function statSafe(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function realpathSafe(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** PATH for children: package bins, the runtime's Node, then the runtime's PATH. */
export function childPath(binDirs: readonly string[], pathEnv: string | undefined): string {
  return [...binDirs, dirname(process.execPath), ...(pathEnv ?? '').split(delimiter)].filter(Boolean).join(delimiter);
}

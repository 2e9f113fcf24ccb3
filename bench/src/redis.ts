// A real redis-server for the Redis rungs: no persistence, a free loopback
// port, a temp dir, pinned to the server core (it is part of the system under
// test), plus the few commands the harness reads (INFO, CONFIG RESETSTAT).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, pinned, stopChild } from './proc.ts';

export interface BenchRedis {
  port: number;
  url: string;
  pid: number;
  /** Sends one inline command and returns the reply text. */
  command(line: string): Promise<string>;
  /** `INFO <section>` as a field map. */
  info(section: string): Promise<Map<string, string>>;
  stop(): Promise<void>;
}

/** One inline command over RESP; resolves with the whole reply (bulk replies are read to their length). */
export function respCommand(port: number, line: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`redis ${line}: timeout`));
    }, timeoutMs);
    const complete = (): boolean => {
      if (!data.endsWith('\r\n')) return false;
      if (data[0] !== '$') return true;
      const eol = data.indexOf('\r\n');
      const len = Number(data.slice(1, eol));
      return len < 0 || Buffer.byteLength(data) >= eol + 2 + len + 2;
    };
    sock.on('connect', () => sock.write(`${line}\r\n`));
    sock.on('data', (chunk) => {
      data += chunk.toString();
      if (complete()) {
        clearTimeout(timer);
        sock.end();
        resolve(data);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Parses an INFO reply into field → value. */
export function parseInfo(reply: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of reply.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#') && !line.startsWith('$')) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/** Calls per command from `INFO commandstats` (`cmdstat_xadd:calls=3,...`). */
export function commandCalls(info: Map<string, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of info) {
    if (!k.startsWith('cmdstat_')) continue;
    const m = /calls=(\d+)/.exec(v);
    if (m) out.set(k.slice(8), Number(m[1]));
  }
  return out;
}

/** Starts redis-server pinned to `core`. */
export async function startRedis(core: number | undefined): Promise<BenchRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-redis-'));
  const [cmd, args] = pinned(core, 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
    '--protected-mode', 'no', '--daemonize', 'no', '--logfile', join(dir, 'redis.log'),
  ]);
  const child = spawn(cmd, args, { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    if ((await respCommand(port, 'PING', 500).catch(() => '')).startsWith('+PONG')) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('redis-server did not start');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid!,
    command: (line) => respCommand(port, line),
    info: async (section) => parseInfo(await respCommand(port, `INFO ${section}`)),
    async stop() {
      await stopChild(child, 3000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

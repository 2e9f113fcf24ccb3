// A real HAProxy in HTTP mode, round-robin without stickiness, in front of
// the replica rung's runtimes; health checks on /ready take a dead replica
// out, and a refused connection is retried on another server.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pinned, stopChild } from './proc.ts';

export interface BenchHaproxy {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** Starts HAProxy on `port` in front of `backends` (loopback ports), pinned to `core`. */
export async function startHaproxy(port: number, backends: number[], core: number | undefined, ready: (port: number) => Promise<boolean>): Promise<BenchHaproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-haproxy-'));
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    [
      'global',
      '  maxconn 4096',
      '  nbthread 1',
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 120s',
      '  timeout server 120s',
      '  timeout http-request 10s',
      '  timeout http-keep-alive 60s',
      '  option http-keep-alive',
      '  option redispatch',
      '  retries 3',
      '  retry-on conn-failure empty-response 503',
      'frontend mcp',
      `  bind 127.0.0.1:${port}`,
      '  default_backend replicas',
      'backend replicas',
      '  balance roundrobin',
      '  option httpchk GET /ready',
      ...backends.map((p, i) => `  server r${i} 127.0.0.1:${p} check inter 300ms fall 2 rise 1`),
      '',
    ].join('\n'),
  );
  const [cmd, args] = pinned(core, 'haproxy', ['-f', cfg, '-db']);
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const deadline = Date.now() + 15_000;
  while (!(await ready(port).catch(() => false))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`haproxy did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    pid: child.pid!,
    async stop() {
      await stopChild(child, 3000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A real HAProxy in HTTP mode, round-robin, no stickiness, in front of N
 * backends on loopback. Health checks on `/ready` take a dead or draining
 * replica out quickly; a refused connection is retried on another server.
 * Servers can be swapped at runtime via the admin socket (rolling restarts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';

export interface HaproxyProcess {
  port: number;
  url: string;
  /** Points slot `index` at a new backend port (enables it). */
  setServer(index: number, port: number): Promise<void>;
  /** Runs an admin-socket command and returns its output. */
  admin(command: string): Promise<string>;
  stop(): Promise<void>;
}

/** Starts HAProxy with `slots` server slots; `ports[i]` fills slot i. */
export async function startHaproxy(ports: number[], slots = ports.length): Promise<HaproxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-haproxy-'));
  const port = await freePort();
  const sock = join(dir, 'admin.sock');
  const servers = Array.from({ length: slots }, (_, i) => {
    const p = ports[i];
    return `  server r${i} 127.0.0.1:${p ?? 1} check inter 300ms fall 2 rise 1${p === undefined ? ' disabled' : ''}`;
  });
  writeFileSync(
    join(dir, 'haproxy.cfg'),
    [
      'global',
      `  stats socket ${sock} mode 600 level admin`,
      '  maxconn 4096',
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 120s',
      '  timeout server 120s',
      '  timeout http-request 10s',
      '  option redispatch',
      '  retries 3',
      '  retry-on conn-failure empty-response 503',
      'frontend mcp',
      `  bind 127.0.0.1:${port}`,
      '  default_backend replicas',
      'backend replicas',
      '  balance roundrobin',
      '  option httpchk GET /ready',
      ...servers,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const admin = (command: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = connect(sock);
      let out = '';
      s.on('connect', () => s.end(`${command}\n`));
      s.on('data', (d) => (out += d.toString()));
      s.on('end', () => resolve(out));
      s.on('error', reject);
    });
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await admin('show info');
      break;
    } catch {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`haproxy did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    admin,
    async setServer(index, p) {
      await admin(`set server replicas/r${index} addr 127.0.0.1 port ${p}`);
      await admin(`enable server replicas/r${index}`);
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

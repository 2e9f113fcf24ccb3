/**
 * Real redis-server processes for tests: standalone, a 6-node Cluster
 * (3 masters + 3 replicas) and a Sentinel setup, each on free loopback ports
 * in a temp dir, stopped (and the dir removed) by `stop()`.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.ts';

const exec = promisify(execFile);

/** Sends one inline command over RESP and returns the raw reply (for readiness checks without a client library). */
export function rawCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('timeout'));
    }, timeoutMs);
    sock.on('connect', () => sock.write(`${command}\r\n`));
    sock.on('data', (chunk) => {
      data += chunk.toString();
      if (data.endsWith('\r\n')) {
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

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface RedisProcess {
  port: number;
  url: string;
  dir: string;
  /** Runs redis-cli against this server and returns stdout. */
  cli(...args: string[]): Promise<string>;
  /** Stops the server (SIGTERM, then SIGKILL) without removing its dir. */
  halt(): Promise<void>;
  /** Starts it again on the same port and dir (data is gone: no persistence). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a hung server whose sockets stay open. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  port?: number;
  extraArgs?: string[];
  dir?: string;
  /** Enables Cluster mode with a bus port of its own, chosen with the data port. */
  cluster?: boolean;
}

/** The last lines of a server's log file, for an error that says why it did not start. */
function logTail(file: string, lines = 12): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log file)';
  }
}

/** Starts a standalone redis-server without persistence. */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisProcess> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'berth-redis-'));
  let port = 0;
  let args: string[] = [];
  const choosePorts = async () => {
    port = opts.port ?? (await freePort());
    const bus = opts.cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-port', String(await freePort())] : [];
    args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no', '--logfile', join(dir, `redis-${port}.log`), ...bus, ...(opts.extraArgs ?? [])];
  };
  let child: ChildProcess | undefined;
  const launch = async () => {
    const c = spawn('redis-server', args, { stdio: 'ignore' });
    child = c;
    c.unref();
    // A server that cannot bind its ports exits at once: say so with its log instead of waiting out the PING deadline.
    const died = new Promise<never>((_, reject) =>
      c.once('exit', (code, signal) => reject(new Error(`redis-server on ${port} exited (${signal ?? code}) while starting:\n${logTail(join(dir, `redis-${port}.log`))}`))),
    );
    died.catch(() => {});
    await Promise.race([died, waitFor(async () => (await rawCommand(port, 'PING')).startsWith('+PONG'), `redis-server on ${port}`)]);
  };
  const halt = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    // The child is unref'd: a test process with nothing else pending would exit while waiting here and
    // never stop the servers after this one (an orphaned redis-server).
    c.ref();
    c.kill('SIGCONT');
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };
  // Ports chosen here can still be taken before the server binds them; fresh ones get two more tries.
  for (let attempt = 1; ; attempt++) {
    await choosePorts();
    try {
      await launch();
      break;
    } catch (err) {
      await halt();
      if (opts.port !== undefined || attempt === 3) {
        if (!opts.dir) rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    cli: async (...a: string[]) => (await exec('redis-cli', ['-p', String(port), ...a])).stdout,
    halt,
    restart: launch,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async stop() {
      await halt();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisClusterProcess {
  ports: number[];
  /** `redis+cluster://127.0.0.1:p1,…` */
  url: string;
  /** Runs redis-cli -c against the first node. */
  cli(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts 6 cluster-enabled servers and joins them with `redis-cli --cluster create --cluster-replicas 1`.
 * A Cluster that does not form is started once more on fresh ports, after the first reason is written to stderr.
 */
export async function startRedisCluster(size = 6): Promise<RedisClusterProcess> {
  try {
    return await formRedisCluster(size);
  } catch (err) {
    process.stderr.write(`# the Redis Cluster did not form, starting it again on fresh ports: ${(err as Error).message}\n`);
    return formRedisCluster(size);
  }
}

async function formRedisCluster(size: number): Promise<RedisClusterProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-redis-cluster-'));
  const nodes: RedisProcess[] = [];
  try {
    for (let i = 0; i < size; i++) {
      nodes.push(
        await startRedis({
          dir,
          cluster: true,
          extraArgs: ['--cluster-node-timeout', '2000'],
        }),
      );
    }
    const ports = nodes.map((n) => n.port);
    await exec('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 60_000 });
    await waitFor(async () => {
      for (const p of ports) {
        const info = await rawCommand(p, 'CLUSTER INFO');
        if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_ok:16384')) return false;
      }
      return true;
    }, 'cluster_state:ok on every node', 30_000);
    return {
      ports,
      url: `redis+cluster://${ports.slice(0, 3).map((p) => `127.0.0.1:${p}`).join(',')}`,
      cli: async (...a: string[]) => (await exec('redis-cli', ['-c', '-p', String(ports[0]), ...a])).stdout,
      async stop() {
        await Promise.all(nodes.map((n) => n.halt()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    const cliOutput = [e.stdout, e.stderr].filter(Boolean).join('\n').trim().split('\n').slice(-15).join('\n');
    const logs = nodes.map((n) => `--- redis-${n.port}.log\n${logTail(join(dir, `redis-${n.port}.log`), 6)}`).join('\n');
    await Promise.all(nodes.map((n) => n.halt()));
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${e.message}${cliOutput ? `\nredis-cli:\n${cliOutput}` : ''}\n${logs}`, { cause: err });
  }
}

export interface SentinelProcess {
  master: RedisProcess;
  /** With `{ replica: true }`: a replica of the master, which a failover promotes. */
  replica?: RedisProcess;
  sentinelPort: number;
  /** `redis+sentinel://127.0.0.1:<sentinel>/mymaster` */
  url: string;
  stop(): Promise<void>;
}

/** Starts one master (and optionally a replica of it) and one sentinel monitoring it as `mymaster` (quorum 1). */
export async function startSentinel(opts: { replica?: boolean } = {}): Promise<SentinelProcess> {
  const master = await startRedis();
  const replica = opts.replica ? await startRedis({ extraArgs: ['--replicaof', '127.0.0.1', String(master.port)] }) : undefined;
  if (replica) await waitFor(async () => (await rawCommand(master.port, 'INFO replication')).includes('connected_slaves:1'), 'replica in sync');
  const sentinelPort = await freePort();
  const conf = join(master.dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      'protected-mode no',
      `dir ${master.dir}`,
      `logfile ${join(master.dir, 'sentinel.log')}`,
      `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
      'sentinel down-after-milliseconds mymaster 2000',
      'sentinel failover-timeout mymaster 5000',
      '',
    ].join('\n'),
  );
  const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  child.unref();
  try {
    await waitFor(async () => (await rawCommand(sentinelPort, 'SENTINEL get-master-addr-by-name mymaster')).includes(String(master.port)), 'sentinel');
  } catch (err) {
    child.kill('SIGKILL');
    await replica?.stop();
    await master.stop();
    throw err;
  }
  return {
    master,
    ...(replica ? { replica } : {}),
    sentinelPort,
    url: `redis+sentinel://127.0.0.1:${sentinelPort}/mymaster`,
    async stop() {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      if (child.exitCode === null && child.signalCode === null) {
        // The child is unref'd: without this, a test process with nothing else pending exits
        // while waiting here, and the master below is never stopped (an orphaned redis-server).
        child.ref();
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      await replica?.stop();
      await master.stop();
    },
  };
}

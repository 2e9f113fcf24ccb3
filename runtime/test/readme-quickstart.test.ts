/**
 * The local quickstart in docs/quickstart.md, run exactly as written: the
 * `PORT=… npm start` and `npx berth run -f …` commands (only the port is
 * changed to a free one) in a shell at the repository root, and the
 * documented SDK client script against each. The Helm command is rendered
 * with helm to prove the chart accepts those values.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { helmPath } from '../../e2e/src/cluster/test-cluster.ts';
import { repoRoot } from './cli-helpers.ts';
import { freePort } from './helpers/free-port.ts';

const doc = readFileSync(join(repoRoot, 'docs', 'quickstart.md'), 'utf8');

/** The fenced block right after `<!-- quickstart:<name> -->`. */
function block(name: string): string {
  const m = new RegExp(`<!-- quickstart:${name} -->\\s*\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``).exec(doc);
  assert.ok(m, `docs/quickstart.md has a quickstart:${name} block`);
  return m[1]!.trim();
}

/** The environment a user's shell has (PATH, HOME, npm's settings and TLS trust), nothing of this test's. */
function userEnv(): NodeJS.ProcessEnv {
  const keep = /^(PATH|HOME|LANG|TERM|npm_config_.*|NPM_CONFIG_.*|HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR)$/;
  // The repository's Node must not leak in: npm and npx have to find it themselves.
  const path = (process.env.PATH ?? '').split(':').filter((p) => !p.includes(join('node_modules', '.bin')) && !p.includes(join('node_modules', 'node'))).join(':');
  return { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => keep.test(k))), PATH: path, BERTH_LOG_LEVEL: 'info' };
}

interface Shell {
  child: ChildProcess;
  output: () => string;
  /** Ends the shell's whole process group (npm → sh → node). */
  stop(): Promise<void>;
}

/** Runs one documented command line in bash, in its own process group. */
function shell(command: string): Shell {
  const child = spawn('bash', ['-c', command], { cwd: repoRoot, env: userEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  // 'close', not 'exit': the output is whole only once every process of the group has closed the pipes (the runtime's last log lines are written as it exits).
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  return {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        return;
      }
      const done = await Promise.race([exited.then(() => true), sleep(5000, false, { ref: false })]);
      if (!done) {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
        await exited;
      }
    },
  };
}

async function waitReady(port: number, sh: Shell): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${port}/ready`).catch(() => undefined);
    if (res?.status === 200) return;
    if (sh.child.exitCode !== null) throw new Error(`the command exited with ${sh.child.exitCode}:\n${sh.output()}`);
    if (Date.now() > deadline) throw new Error(`nothing ready on port ${port} within 60 s:\n${sh.output()}`);
    await sleep(250);
  }
}

/** Runs the documented client script against `url`, the way the doc says (`npx node client.ts` in the repository). */
function runClient(url: string): string {
  // Inside the repository (so the SDK resolves) but not under node_modules (Node runs no TypeScript there).
  const dir = join(repoRoot, 'runtime', 'test', `.quickstart-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(join(dir, 'client.ts'), block('client'));
    const r = spawnSync('bash', ['-c', `npx node ${join(dir, 'client.ts')}`], { cwd: repoRoot, env: { ...userEnv(), MCP_URL: url }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `client.ts failed:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('PORT=… npm start serves the hello example; the documented client lists its tools and calls one', { timeout: 120_000 }, async (t) => {
  const documented = block('start');
  assert.match(documented, /^PORT=8080 npm start$/);
  const port = await freePort();
  const sh = shell(documented.replace('8080', String(port)));
  t.after(() => sh.stop());
  await waitReady(port, sh);
  // The log line goes through the logger's buffered stream and the npm wrapper's pipe: it may land just after /ready answers.
  const listening = new RegExp(`"url":"http://127\\.0\\.0\\.1:${port}/mcp".*"msg":"Berth runtime listening"`);
  for (const end = Date.now() + 5000; !listening.test(sh.output()) && Date.now() < end; ) await sleep(50);
  assert.match(sh.output(), listening);
  const out = runClient(`http://127.0.0.1:${port}/mcp`);
  assert.match(out, /^tools: .*\bcalculate\b/m);
  assert.match(out, /^6 \* 7 = 42$/m);
});

test('npx berth run -f examples/hello/mcpserver.yaml --port N serves the same', { timeout: 120_000 }, async (t) => {
  const documented = block('run');
  assert.match(documented, /^npx berth run -f examples\/hello\/mcpserver\.yaml --port 8081$/);
  const port = await freePort();
  const sh = shell(documented.replace('8081', String(port)));
  t.after(() => sh.stop());
  await waitReady(port, sh);
  assert.match(runClient(`http://127.0.0.1:${port}/mcp`), /^6 \* 7 = 42$/m);
  // Ctrl-C / SIGTERM drains and exits.
  await sh.stop();
  assert.match(sh.output(), /"Stopped"|Stopping/);
});

test('the documented helm install values render with the chart', () => {
  const documented = block('helm');
  const install = documented.split('\nkubectl')[0]!.replace(/\s*\\\n\s*/g, ' ');
  assert.match(install, /^helm install berth charts\/berth --namespace berth-system --create-namespace --set redis\.bundled\.enabled=true$/);
  const args = install.split(/\s+/).slice(1).map((a) => (a === 'install' ? 'template' : a));
  const r = spawnSync(helmPath(), args, { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /kind: Deployment\s+metadata:\s+name: berth-operator\b/);
  assert.match(r.stdout, /name: berth-operator-redis\b/);
  assert.match(documented, /rollout status deployment\/berth-operator$/m);
});

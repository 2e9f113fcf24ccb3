/** Reaching Services from this machine (kubectl port-forward) and calling MCP tools there with the SDK client. */
import { spawn } from 'node:child_process';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Kube } from './kube.ts';

export interface Forward {
  /** http://127.0.0.1:<local port> */
  base: string;
  stop(): void;
}

/**
 * `kubectl port-forward svc/<service> :<port>` (or `pod/<name>` when `target`
 * names its kind); resolves once the local port is known.
 */
export function portForward(k: Kube, namespace: string, target: string, port: number, timeoutMs = 30_000): Promise<Forward> {
  const resource = target.includes('/') ? target : `svc/${target}`;
  return new Promise((resolveForward, reject) => {
    const child = spawn(k.kubectlBin, ['-n', namespace, 'port-forward', '--address', '127.0.0.1', resource, `:${port}`], { env: k.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`port-forward to ${resource} did not start within ${timeoutMs} ms: ${out.trim()}`));
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveForward({ base: `http://127.0.0.1:${m[1]}`, stop: () => child.kill('SIGTERM') });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`port-forward to ${resource} exited with ${code}: ${out.trim()}`));
    });
  });
}

/** An SDK v2 client connected over Streamable HTTP (legacy era unless `modern`). */
export async function mcpClient(url: string, opts: { modern?: boolean; headers?: Record<string, string> } = {}): Promise<Client> {
  const client = new Client({ name: 'berth-e2e-suite', version: '1.0.0' }, opts.modern ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {});
  await client.connect(new StreamableHTTPClientTransport(new URL(url), opts.headers ? { requestInit: { headers: opts.headers } } : {}));
  return client;
}

/** Text of a tool result's content. */
export const resultText = (r: { content?: unknown }): string => (r.content as Array<{ text?: string }> | undefined)?.map((c) => c.text ?? '').join('') ?? '';

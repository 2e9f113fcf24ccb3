/**
 * `berth run -f FILE --stdio`: serves the manifest to one local client (an
 * IDE, a CLI agent) over stdin/stdout instead of HTTP, with the same backend,
 * policies and logs. stdout carries only newline-delimited JSON-RPC; logs go
 * to stderr. The connection speaks both protocol eras: a 2025-era client
 * initializes once, a 2026-07-28 client sends its envelope on every request.
 * The process exits cleanly when stdin ends (or on SIGTERM/SIGINT).
 */
import type { Logger } from 'pino';
import { createBackend } from '../backend/create.ts';
import { ClientConnection } from '../backend/bridge/client-connection.ts';
import { LineReader } from '../backend/stdio/framing.ts';
import type { Backend, Principal } from '../backend/types.ts';
import type { RuntimeConfig } from '../config/runtime-config.ts';
import { createLogger } from '../observability/logger.ts';
import type { CliIO } from './io.ts';

export interface ServeStdioOptions {
  /** Where client messages come from (default: process.stdin). */
  input?: NodeJS.ReadableStream;
  /** Writes one protocol line to the client (default: process.stdout). */
  write?: (text: string) => unknown;
  /** Where log lines go (default: process.stderr). Never stdout. */
  logTo?: { write(text: string): unknown };
  logger?: Logger;
  /** A backend to serve instead of the one the config names (tests, embedding). */
  backend?: Backend;
  /** Stops serving as if stdin had ended. */
  signal?: AbortSignal;
}

/** The local user on the other end of the pipe: trusted like any local process. */
const LOCAL: Principal = Object.freeze({ id: 'local:stdio', kind: 'anonymous', scopes: Object.freeze([]) as readonly string[] });

/** Wraps the backend with the tool/output policy pipeline when this build has it. */
async function withPolicyIfAvailable(backend: Backend, config: RuntimeConfig, logger: Logger): Promise<Backend> {
  let mod: { withPolicy?: (b: Backend, c: RuntimeConfig, deps: { logger: Logger }) => Backend };
  try {
    mod = (await import(new URL('../policy/with-policy.ts', import.meta.url).href)) as typeof mod;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return backend;
    throw error;
  }
  return typeof mod.withPolicy === 'function' ? mod.withPolicy(backend, config, { logger }) : backend;
}

/** Serves `config` over stdio until the input ends; resolves once everything is released. */
export async function serveStdio(config: RuntimeConfig, opts: ServeStdioOptions = {}): Promise<void> {
  const tenant = `${config.tenant.namespace}/${config.tenant.name}`;
  const logTo = opts.logTo ?? process.stderr;
  const logger = opts.logger ?? createLogger({ level: config.runtime.logLevel, tenant, destination: { write: (s: string) => void logTo.write(s) } });
  const write = opts.write ?? ((text: string) => process.stdout.write(text));
  const input = opts.input ?? process.stdin;
  const graceMs = Math.round(config.spec.drain.gracePeriodSeconds * 1000);

  const raw = opts.backend ?? (await createBackend(config, logger));
  const backend = await withPolicyIfAvailable(raw, config, logger);
  await backend.start();
  logger.info({ source: raw.kind }, 'Serving over stdio');

  const connection = new ClientConnection({
    backend,
    principal: LOCAL,
    tenant,
    logger,
    send: (m) => void write(JSON.stringify(m) + '\n'),
  });
  const reader = new LineReader(
    (line) => {
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        connection.parseError();
        return;
      }
      connection.receive(msg);
    },
    { maxLineBytes: config.spec.endpoint.maxBodyBytes * 4, onOverflow: (size) => logger.warn({ size }, 'Dropped an oversized message from the client') },
  );

  await new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      resolve();
    };
    (input as NodeJS.ReadableStream & { setEncoding?: (e: string) => void }).setEncoding?.('utf8');
    input.on('data', (chunk: string | Buffer) => reader.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8')));
    input.on('end', () => {
      reader.end();
      finish();
    });
    input.on('close', finish);
    input.on('error', (err) => {
      logger.warn({ err }, 'stdin failed');
      finish();
    });
    if (opts.signal) {
      if (opts.signal.aborted) finish();
      else opts.signal.addEventListener('abort', finish, { once: true });
    }
  });

  // Stop reading (a signal may end the session while stdin is still open).
  if (!opts.input) process.stdin.pause();
  const deadline = Date.now() + Math.max(graceMs, 500);
  await connection.close(deadline);
  await backend.close(Math.max(deadline, Date.now() + 500));
  if (!opts.input) process.stdin.destroy();
  logger.info('Stopped serving over stdio');
}

/** The `berth run --stdio` entry: serves until stdin ends or a signal arrives; returns the exit status. */
export async function runStdio(config: RuntimeConfig, io: CliIO): Promise<number> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    await serveStdio(config, { write: (t) => io.stdout.write(t), logTo: io.stderr, signal: controller.signal });
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

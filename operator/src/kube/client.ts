/**
 * A small Kubernetes REST client over node:http(s). @kubernetes/client-node
 * loads the kubeconfig (files, in-cluster, exec plugins); requests go through
 * one keep-alive agent so that every call, watches included, is ours to time
 * out, abort and count.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

/** An error answer of the apiserver (a metav1.Status), or a transport failure (status 0). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;
  readonly reason: string;
  readonly body: unknown;
  constructor(status: number, reason: string, message: string, body?: unknown) {
    super(message);
    this.status = status;
    this.reason = reason;
    this.body = body;
  }
}

export interface KubeRequest {
  /** Accept header (default application/json). */
  accept?: string;
  query?: Record<string, string | number | boolean | undefined> | undefined;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
}

/** Observes every request (for metrics and tests). */
export type RequestObserver = (verb: string, path: string, status: number, ms: number) => void;

/** Location of a resource collection or object. */
export interface ResourceRef {
  apiVersion: string;
  plural: string;
  namespace?: string | undefined;
  name?: string | undefined;
  subresource?: string | undefined;
}

/** `/api/v1/...` or `/apis/<group>/<version>/...` for a resource. */
export function resourcePath(ref: ResourceRef): string {
  const base = ref.apiVersion.includes('/') ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
  let path = base;
  if (ref.namespace) path += `/namespaces/${encodeURIComponent(ref.namespace)}`;
  path += `/${ref.plural}`;
  if (ref.name) path += `/${encodeURIComponent(ref.name)}`;
  if (ref.subresource) path += `/${ref.subresource}`;
  return path;
}

function queryString(query: KubeRequest['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

export class KubeClient {
  readonly server: URL;
  private readonly kc: KubeConfig;
  private agent: HttpAgent | undefined;
  private readonly observers: RequestObserver[] = [];
  private readonly defaultTimeoutMs: number;

  constructor(kc: KubeConfig, opts: { timeoutMs?: number } = {}) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    this.kc = kc;
    this.server = new URL(cluster.server);
    this.defaultTimeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  static fromDefault(kubeconfigPath?: string): KubeClient {
    const kc = new KubeConfig();
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else kc.loadFromDefault();
    return new KubeClient(kc);
  }

  /** Calls `fn` after every request. */
  observe(fn: RequestObserver): void {
    this.observers.push(fn);
  }

  private async options(method: string, path: string, headers: Record<string, string>): Promise<RequestOptions> {
    const opts: RequestOptions = { method, headers: { accept: 'application/json', 'user-agent': 'berth-operator', ...headers } };
    await this.kc.applyToHTTPSOptions(opts);
    this.agent ??=
      this.server.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, maxSockets: 64, ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: opts.rejectUnauthorized, servername: opts.servername })
        : new HttpAgent({ keepAlive: true, maxSockets: 64 });
    const url = new URL(path, this.server);
    return {
      ...opts,
      agent: this.agent,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      path: `${this.server.pathname.replace(/\/$/, '')}${url.pathname}${url.search}`,
    };
  }

  private send(method: string, path: string, req: KubeRequest): Promise<IncomingMessage> {
    const payload = req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    const headers: Record<string, string> = req.accept ? { accept: req.accept } : {};
    if (payload !== undefined) {
      headers['content-type'] = req.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    return this.options(method, path, headers).then(
      (opts) =>
        new Promise<IncomingMessage>((resolve, reject) => {
          const send = this.server.protocol === 'https:' ? httpsRequest : httpRequest;
          const r = send({ ...opts, signal: req.signal } as RequestOptions, resolve);
          r.on('error', (err) => reject(req.signal?.aborted ? req.signal.reason ?? err : new ApiError(0, 'TransportError', `${method} ${path}: ${err.message}`)));
          if (req.timeoutMs !== 0) {
            r.setTimeout(req.timeoutMs ?? this.defaultTimeoutMs, () => r.destroy(new Error(`no answer within ${req.timeoutMs ?? this.defaultTimeoutMs} ms`)));
          }
          if (payload !== undefined) r.write(payload);
          r.end();
        }),
    );
  }

  /** One request; the parsed JSON answer, or an ApiError. */
  async request<T = unknown>(method: string, path: string, req: KubeRequest = {}): Promise<T> {
    const started = performance.now();
    const full = `${path}${queryString(req.query)}`;
    let status = 0;
    try {
      const res = await this.send(method, full, req);
      status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      if (status >= 400) {
        const st = (body ?? {}) as { reason?: string; message?: string };
        throw new ApiError(status, st.reason ?? `HTTP${status}`, `${method} ${path}: ${status} ${st.message ?? text.slice(0, 300)}`, body);
      }
      return body as T;
    } finally {
      const ms = performance.now() - started;
      for (const o of this.observers) o(method, path, status, ms);
    }
  }

  /** Opens a streaming GET (a watch); the caller reads lines and aborts via `signal`. */
  async stream(path: string, query: KubeRequest['query'], signal: AbortSignal): Promise<IncomingMessage> {
    const full = `${path}${queryString(query)}`;
    const started = performance.now();
    const res = await this.send('GET', full, { signal, timeoutMs: 0 });
    for (const o of this.observers) o('WATCH', path, res.statusCode ?? 0, performance.now() - started);
    if ((res.statusCode ?? 0) >= 400) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      let st: { reason?: string; message?: string } = {};
      try {
        st = JSON.parse(text);
      } catch {
        // not JSON
      }
      throw new ApiError(res.statusCode ?? 0, st.reason ?? `HTTP${res.statusCode}`, `WATCH ${path}: ${res.statusCode} ${st.message ?? text.slice(0, 300)}`, st);
    }
    return res;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }
}

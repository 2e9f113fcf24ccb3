/**
 * An in-process wire: the transport one pooled server instance is served
 * over. The SDK's `serveStdio` entry owns it (era pinning, envelope checks,
 * `server/discover`); Berth pushes client messages in with `deliver` and
 * receives everything the instance writes through the `onOutbound` callback,
 * together with the SDK's `relatedRequestId` routing hint.
 */
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/server';
import type { JsonRpcMessage } from '../../protocol/jsonrpc.ts';

export type OutboundHandler = (message: JsonRpcMessage, options: TransportSendOptions | undefined) => void;

export class InProcessWire implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport['onmessage'];
  #closed = false;
  readonly #onOutbound: OutboundHandler;
  readonly #onClosed: () => void;

  constructor(onOutbound: OutboundHandler, onClosed: () => void) {
    this.#onOutbound = onOutbound;
    this.#onClosed = onClosed;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async start(): Promise<void> {}

  /** Client → instance. Dropped once the wire is closed. */
  deliver(message: JsonRpcMessage): void {
    if (this.#closed) return;
    (this.onmessage as ((m: JsonRpcMessage) => void) | undefined)?.(message);
  }

  /** Instance → Berth. */
  async send(message: Parameters<Transport['send']>[0], options?: TransportSendOptions): Promise<void> {
    if (this.#closed) return;
    this.#onOutbound(message as JsonRpcMessage, options);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.onclose?.();
    } finally {
      this.#onClosed();
    }
  }
}

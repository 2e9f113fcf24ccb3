// TCP readiness probe shared by the harness entry points.
import { connect } from 'node:net';

/** Resolves true when something accepts TCP connections on the loopback port. */
export function tcpReadyPort(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

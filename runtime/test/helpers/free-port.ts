/**
 * Free loopback ports for servers that a test starts in a child process.
 *
 * The port is chosen here and bound later by the child, so something else can
 * take it in between. A port from the kernel's ephemeral range (32768–60999)
 * loses that race to any outgoing connection or `listen(0)` of the other test
 * files running at the same time; a port below it can only be taken by another
 * picker like this one, which checks that it is free first.
 */
import { createServer } from 'node:net';

const LOW = 20_000;
const HIGH = 30_000; // below the NodePort range too (30000–32767)
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A loopback port below the ephemeral range that is free now and not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free loopback port between ${LOW} and ${HIGH}`);
}

/**
 * A TCP forwarder: `node tcp-forward.ts LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT`.
 *
 * Pods reach the apiserver through it: the control plane listens on
 * 127.0.0.1 only, which a pod's network namespace cannot reach, so the
 * `kubernetes` Service's endpoint is the node IP, and this process carries
 * the bytes (TLS end to end, untouched) to the apiserver's loopback port.
 */
import { createConnection, createServer } from 'node:net';

const [listenHost, listenPort, targetHost, targetPort] = process.argv.slice(2);
if (!listenHost || !listenPort || !targetHost || !targetPort) {
  process.stderr.write('usage: tcp-forward.ts LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT\n');
  process.exit(2);
}

const server = createServer((client) => {
  const upstream = createConnection({ host: targetHost, port: Number(targetPort) });
  client.pipe(upstream);
  upstream.pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
});
server.listen(Number(listenPort), listenHost, () => {
  process.stdout.write(`forwarding ${listenHost}:${listenPort} -> ${targetHost}:${targetPort}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => server.close(() => process.exit(0)));

/** Self-contained kubeconfig files (certificates embedded, so they can be copied). */
import { readFileSync, writeFileSync } from 'node:fs';

export const CONTEXT = 'berth-e2e';

function b64(path: string): string {
  return readFileSync(path).toString('base64');
}

export function writeKubeconfig(path: string, opts: { server: string; caCert: string; cert: string; key: string; user: string }): void {
  const text = `apiVersion: v1
kind: Config
clusters:
- name: ${CONTEXT}
  cluster:
    server: ${opts.server}
    certificate-authority-data: ${b64(opts.caCert)}
users:
- name: ${opts.user}
  user:
    client-certificate-data: ${b64(opts.cert)}
    client-key-data: ${b64(opts.key)}
contexts:
- name: ${CONTEXT}
  context:
    cluster: ${CONTEXT}
    user: ${opts.user}
current-context: ${CONTEXT}
`;
  writeFileSync(path, text, { mode: 0o600 });
}

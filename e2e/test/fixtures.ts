/** Objects shared by the e2e tests. */
import type { V1Deployment, V1Pod, V1PodSpec } from '@kubernetes/client-node';

/** A pod spec that passes Pod Security "restricted". kwok never runs the image. */
export function restrictedPodSpec(): V1PodSpec {
  return {
    securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      {
        name: 'app',
        image: 'registry.invalid/berth/e2e:never-pulled',
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        resources: { requests: { cpu: '10m', memory: '16Mi' } },
      },
    ],
  };
}

export function restrictedPod(name: string): V1Pod {
  return { metadata: { name }, spec: restrictedPodSpec() };
}

export function deployment(name: string, replicas: number): V1Deployment {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: restrictedPodSpec() },
    },
  };
}

/**
 * The status code and the Status message of a failed API call (the client
 * gives the body as a JSON string).
 */
export function apiError(err: unknown): { code: number | undefined; text: string } {
  const e = err as { code?: unknown; body?: unknown; message?: string };
  let text = typeof e.body === 'string' ? e.body : JSON.stringify(e.body ?? e.message ?? '');
  try {
    const status = JSON.parse(text) as { message?: string };
    if (typeof status.message === 'string') text = status.message;
  } catch {
    // not JSON: keep the raw text
  }
  return { code: typeof e.code === 'number' ? e.code : undefined, text };
}

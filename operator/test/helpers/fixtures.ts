/** McpServer objects for unit tests: one per source kind. */
import type { McpServerObject } from '../../src/mcpserver/names.ts';

export function mcpServer(name: string, spec: Record<string, unknown>, extra: Partial<McpServerObject['metadata']> = {}): McpServerObject {
  return {
    apiVersion: 'berth.dev/v1alpha1',
    kind: 'McpServer',
    metadata: { name, namespace: 'team-a', uid: `uid-${name}`, generation: 1, ...extra },
    spec,
  };
}

export const stdioSpec = {
  source: {
    stdio: {
      command: ['mcp-server-memory'],
      package: '@modelcontextprotocol/server-memory@2026.8.31',
      env: [
        { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'memory-token', key: 'token' } } },
        { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'memory-settings', key: 'mode', optional: true } } },
        { name: 'PLAIN', value: 'x' },
      ],
    },
  },
  replicas: 2,
  auth: { apiKeys: { secretRef: { name: 'memory-keys' } } },
};

export const moduleSpec = {
  source: { module: { package: '@acme/weather-mcp@1.4.2' } },
  replicas: 1,
  auth: { none: {} },
};

export const moduleConfigMapSpec = {
  source: { module: { configMapRef: { name: 'weather-code', key: 'server.mjs' } } },
  auth: { none: {} },
};

export const modulePathSpec = {
  source: { module: { path: '/opt/tenant/server.mjs' } },
  replicas: 3,
  auth: { oauth: { issuer: 'https://idp.example.com/realms/acme', audience: 'https://mcp.example.com/mcp' } },
};

export const remoteSpec = {
  source: {
    remote: {
      url: 'https://tools.internal:8443/mcp',
      headers: [{ name: 'Authorization', valueFrom: { secretKeyRef: { name: 'upstream-auth', key: 'header' } } }],
    },
  },
  replicas: 2,
  endpoint: { path: '/tools/mcp' },
  auth: { none: {} },
};

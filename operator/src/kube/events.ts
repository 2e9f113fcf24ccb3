/** Kubernetes Events about McpServers (best effort: a failed event never fails a reconcile). */
import type { Logger } from 'pino';
import { FIELD_MANAGER } from '../api/v1alpha1/names.ts';
import { resourcePath, type KubeClient } from './client.ts';
import type { KubeObject } from './types.ts';

export interface EventRecorder {
  record(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

/** Writes core/v1 Events (what `kubectl describe` and `kubectl events` show). */
export function eventRecorder(client: KubeClient, identity: string, log: Logger): EventRecorder {
  return {
    async record(obj, type, reason, message) {
      const now = new Date().toISOString();
      const namespace = obj.metadata.namespace ?? 'default';
      try {
        await client.request('POST', resourcePath({ apiVersion: 'v1', plural: 'events', namespace }), {
          body: {
            apiVersion: 'v1',
            kind: 'Event',
            metadata: { generateName: `${obj.metadata.name}.`, namespace },
            involvedObject: {
              apiVersion: obj.apiVersion,
              kind: obj.kind,
              name: obj.metadata.name,
              namespace,
              uid: obj.metadata.uid,
              resourceVersion: obj.metadata.resourceVersion,
            },
            type,
            reason,
            message: message.slice(0, 1024),
            source: { component: FIELD_MANAGER },
            reportingComponent: `berth.dev/${FIELD_MANAGER}`,
            reportingInstance: identity.slice(0, 128),
            action: 'Reconcile',
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
          timeoutMs: 5000,
        });
      } catch (err) {
        log.debug({ err: (err as Error).message, reason }, 'Could not record an event');
      }
    },
  };
}

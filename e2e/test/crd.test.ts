/**
 * CustomResourceDefinitions: server-side apply of a CRD with a CEL rule and a
 * status subresource, Established, then custom objects that pass and fail it.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { ApiextensionsV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ensureCluster, freshNamespace, type TestCluster, waitFor } from '../src/cluster/test-cluster.ts';
import { apiError } from './fixtures.ts';

const GROUP = 'e2e.berth.dev';
const PLURAL = 'widgets';
const CRD_NAME = `${PLURAL}.${GROUP}`;

const crdYaml = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${CRD_NAME}
spec:
  group: ${GROUP}
  scope: Namespaced
  names: { plural: ${PLURAL}, singular: widget, kind: Widget, listKind: WidgetList }
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources:
      status: {}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [replicas, maxReplicas]
            x-kubernetes-validations:
            - rule: self.replicas <= self.maxReplicas
              message: replicas must not exceed maxReplicas
            properties:
              replicas: { type: integer, minimum: 0 }
              maxReplicas: { type: integer, minimum: 1 }
          status:
            type: object
            properties:
              observedGeneration: { type: integer }
`;

let cluster: TestCluster;

before(async () => {
  cluster = await ensureCluster();
});

test('a CRD applied server-side becomes Established', async () => {
  await cluster.kubectl(['apply', '--server-side', '--field-manager=berth-e2e', '-f', '-'], { input: crdYaml });
  const ext = cluster.kubeConfig().makeApiClient(ApiextensionsV1Api);
  const crd = await waitFor(`${CRD_NAME} Established`, async () => {
    const c = await ext.readCustomResourceDefinition({ name: CRD_NAME });
    return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True') ? c : undefined;
  });
  assert.equal(crd.spec.versions[0]?.name, 'v1alpha1');
  const managers = crd.metadata?.managedFields?.map((f) => f.manager) ?? [];
  assert.ok(managers.includes('berth-e2e'), `field managers: ${managers.join(', ')}`);
  // Discovery serves the new resource.
  const resources = await cluster.kubectl(['api-resources', `--api-group=${GROUP}`, '-o', 'name']);
  assert.match(resources, new RegExp(`^${PLURAL}\\.${GROUP.replaceAll('.', '\\.')}$`, 'm'));
});

test('custom objects: server-side apply, CEL validation, status subresource', async () => {
  await cluster.kubectl(['apply', '--server-side', '--field-manager=berth-e2e', '-f', '-'], { input: crdYaml });
  const ns = await freshNamespace('crd');
  const api = cluster.kubeConfig().makeApiClient(CustomObjectsApi);
  const widget = (replicas: number) => ({
    apiVersion: `${GROUP}/v1alpha1`,
    kind: 'Widget',
    metadata: { name: 'w1', namespace: ns },
    spec: { replicas, maxReplicas: 3 },
  });
  const apply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
  const patchArgs = { group: GROUP, version: 'v1alpha1', namespace: ns, plural: PLURAL, name: 'w1', fieldManager: 'berth-e2e' };

  // The first apply may race the CRD's establishment in a fresh process: retry briefly.
  const created = (await waitFor('the first apply of w1', () => api.patchNamespacedCustomObject({ ...patchArgs, body: widget(2) }, apply))) as {
    metadata: { generation: number };
    spec: { replicas: number };
  };
  assert.equal(created.spec.replicas, 2);

  await assert.rejects(api.patchNamespacedCustomObject({ ...patchArgs, body: widget(5) }, apply), (err: unknown) => {
    const { code, text } = apiError(err);
    assert.equal(code, 422, text);
    assert.match(text, /replicas must not exceed maxReplicas/);
    return true;
  });

  const statusApply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
  const withStatus = (await api.patchNamespacedCustomObjectStatus(
    {
      ...patchArgs,
      fieldManager: 'berth-e2e-status',
      body: { apiVersion: `${GROUP}/v1alpha1`, kind: 'Widget', metadata: { name: 'w1', namespace: ns }, status: { observedGeneration: created.metadata.generation } },
    },
    statusApply,
  )) as { metadata: { generation: number }; status: { observedGeneration: number } };
  assert.equal(withStatus.status.observedGeneration, created.metadata.generation);
  // Status writes don't bump the generation.
  assert.equal(withStatus.metadata.generation, created.metadata.generation);
});

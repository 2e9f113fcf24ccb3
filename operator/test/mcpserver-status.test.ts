import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Condition, McpServerStatus } from '../src/api/v1alpha1/status.ts';
import type { Deployment, Pod } from '../src/kube/types.ts';
import { parseAudit } from '../src/mcpserver/audit.ts';
import type { McpServerObject } from '../src/mcpserver/names.ts';
import { parseSpec } from '../src/mcpserver/spec.ts';
import { computeStatus, podFailure, transitionEvents, type StatusInput } from '../src/mcpserver/status.ts';
import { mcpServer, moduleSpec, stdioSpec } from './helpers/fixtures.ts';

const T0 = new Date('2026-01-01T00:00:00Z');
const T1 = new Date('2026-01-01T00:01:00Z');
const HASH = 'sha256:abc';

function deployment(opts: { desired?: number; replicas?: number; ready?: number; updated?: number; available?: number; generation?: number; observed?: number; hash?: string; deadline?: boolean }): Deployment {
  const desired = opts.desired ?? 2;
  const available = opts.available ?? opts.ready ?? 0;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'memory', namespace: 'team-a', generation: opts.generation ?? 1 },
    spec: { replicas: desired, template: { metadata: { annotations: { 'berth.dev/config-hash': opts.hash ?? HASH } } } },
    status: {
      observedGeneration: opts.observed ?? opts.generation ?? 1,
      replicas: opts.replicas ?? desired,
      readyReplicas: opts.ready ?? 0,
      updatedReplicas: opts.updated ?? desired,
      availableReplicas: available,
      conditions: [
        { type: 'Available', status: available > 0 ? 'True' : 'False' },
        opts.deadline
          ? { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }
          : { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
      ],
    },
  };
}

function pod(name: string, containerStatuses: Pod['status']): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'team-a' }, status: containerStatuses };
}

function status(mcp: McpServerObject, over: Partial<StatusInput> = {}): McpServerStatus {
  const parsed = parseSpec(mcp.spec);
  return computeStatus({ mcp, spec: parsed.ok ? parsed.spec : undefined, pods: [], problems: [], configHash: HASH, now: T0, ...over });
}

const c = (s: McpServerStatus, type: string): Condition => s.conditions!.find((x) => x.type === type)!;

test('a fully rolled-out Deployment makes the server Ready, with url, selector and counts', () => {
  const mcp = mcpServer('memory', stdioSpec, { generation: 4 });
  const s = status(mcp, { deployment: deployment({ ready: 2 }) });
  assert.equal(s.observedGeneration, 4);
  assert.equal(s.url, 'http://memory.team-a.svc:8080/mcp');
  assert.equal(s.selector, 'app.kubernetes.io/name=berth-runtime,app.kubernetes.io/instance=memory');
  assert.deepEqual([s.replicas, s.readyReplicas, s.updatedReplicas], [2, 2, 2]);
  assert.deepEqual(
    s.conditions!.map((x) => [x.type, x.status, x.reason]),
    [
      ['Ready', 'True', 'Ready'],
      ['Available', 'True', 'MinimumReplicasAvailable'],
      ['Progressing', 'False', 'RolloutComplete'],
      ['Degraded', 'False', 'AsExpected'],
      ['Authenticated', 'True', 'ApiKeys'],
      ['ToolsAudited', 'Unknown', 'AuditPending'],
    ],
  );
  for (const cond of s.conditions!) {
    assert.equal(cond.observedGeneration, 4);
    assert.equal(cond.lastTransitionTime, '2026-01-01T00:00:00Z');
  }
});

test('a rollout in progress is Available but not Ready', () => {
  const s = status(mcpServer('memory', stdioSpec), { deployment: deployment({ ready: 2, updated: 1, replicas: 3 }) });
  assert.deepEqual([c(s, 'Ready').status, c(s, 'Ready').reason], ['False', 'RollingOut']);
  assert.equal(c(s, 'Available').status, 'True');
  assert.deepEqual([c(s, 'Progressing').status, c(s, 'Progressing').reason], ['True', 'RollingOut']);
});

test('a Deployment that has not seen its newest generation, or runs an old config, is not Ready', () => {
  const stale = status(mcpServer('memory', stdioSpec), { deployment: deployment({ ready: 2, generation: 3, observed: 2 }) });
  assert.equal(c(stale, 'Ready').status, 'False');
  const oldConfig = status(mcpServer('memory', stdioSpec), { deployment: deployment({ ready: 2, hash: 'sha256:old' }) });
  assert.equal(c(oldConfig, 'Ready').status, 'False');
});

test('pod failures name their reason: ImagePullBackOff, CrashLoopBackOff, Unschedulable', () => {
  const pull = pod('memory-1', { containerStatuses: [{ name: 'runtime', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "nope:1"' } } }] });
  const s = status(mcpServer('memory', stdioSpec), { deployment: deployment({ ready: 0 }), pods: [pull] });
  assert.deepEqual([c(s, 'Degraded').status, c(s, 'Degraded').reason], ['True', 'ImagePullBackOff']);
  assert.match(c(s, 'Degraded').message, /memory-1.*runtime.*nope:1/);
  assert.deepEqual([c(s, 'Ready').status, c(s, 'Ready').reason], ['False', 'ImagePullBackOff']);
  assert.deepEqual([c(s, 'Available').status, c(s, 'Available').reason], ['False', 'MinimumReplicasUnavailable']);

  const crash = pod('memory-2', {
    initContainerStatuses: [
      { name: 'install-package', restartCount: 4, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, reason: 'Error', message: 'E404 not found' } } },
    ],
  });
  const f = podFailure([crash]);
  assert.equal(f?.reason, 'CrashLoopBackOff');
  assert.match(f!.message, /init container install-package.*exit 1.*E404/);

  const unsched = pod('memory-3', { conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available' }] });
  assert.equal(podFailure([unsched])?.reason, 'Unschedulable');
  const deleting: Pod = { ...pull, metadata: { ...pull.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } };
  assert.equal(podFailure([deleting]), undefined, 'terminating pods are ignored');
});

test('a stuck rollout is Degraded with ProgressDeadlineExceeded', () => {
  const s = status(mcpServer('memory', stdioSpec), { deployment: deployment({ ready: 2, updated: 1, replicas: 3, deadline: true }) });
  assert.deepEqual([c(s, 'Progressing').status, c(s, 'Progressing').reason], ['False', 'ProgressDeadlineExceeded']);
  assert.deepEqual([c(s, 'Degraded').status, c(s, 'Degraded').reason], ['True', 'ProgressDeadlineExceeded']);
});

test('reconcile problems come first: invalid spec, apply failure', () => {
  const s = status(mcpServer('memory', { source: {}, auth: { none: {} } }), {
    problems: [{ reason: 'InvalidSpec', message: 'spec.source: exactly one of module, stdio, remote is required' }],
  });
  assert.deepEqual([c(s, 'Ready').status, c(s, 'Ready').reason], ['False', 'InvalidSpec']);
  assert.deepEqual([c(s, 'Degraded').status, c(s, 'Degraded').reason], ['True', 'InvalidSpec']);
  assert.equal(c(s, 'Authenticated').status, 'Unknown');
  assert.equal(s.url, undefined);
});

test('scaled to zero is reported, not mistaken for a failure', () => {
  const s = status(mcpServer('memory', { ...stdioSpec, replicas: 0 }), { deployment: deployment({ desired: 0, replicas: 0, ready: 0, updated: 0 }) });
  assert.deepEqual([c(s, 'Ready').reason, c(s, 'Available').reason, c(s, 'Degraded').status], ['ScaledToZero', 'ScaledToZero', 'False']);
});

test('auth.none is reported as AuthDisabled', () => {
  const s = status(mcpServer('weather', moduleSpec), { deployment: deployment({ desired: 1, ready: 1 }) });
  assert.deepEqual([c(s, 'Authenticated').status, c(s, 'Authenticated').reason], ['False', 'AuthDisabled']);
});

test('lastTransitionTime changes only when the status flips', () => {
  const mcp = mcpServer('memory', stdioSpec);
  const first = status(mcp, { deployment: deployment({ ready: 0, available: 0 }) });
  mcp.status = first;
  const second = status(mcp, { deployment: deployment({ ready: 1, updated: 1, available: 1 }), now: T1 });
  assert.equal(c(second, 'Ready').lastTransitionTime, c(first, 'Ready').lastTransitionTime, 'Ready stayed False');
  assert.notEqual(c(second, 'Ready').message, c(first, 'Ready').message);
  assert.equal(c(second, 'Available').lastTransitionTime, '2026-01-01T00:01:00Z', 'Available flipped to True');
  mcp.status = second;
  const third = status(mcp, { deployment: deployment({ ready: 1, updated: 1, available: 1 }), now: new Date('2026-01-01T00:05:00Z') });
  assert.deepEqual(third, second, 'nothing new observed: the same status, so no write');
});

test('the tool audit: findings, no findings, unavailable (keeping what was known)', () => {
  const mcp = mcpServer('memory', stdioSpec);
  // The runtime's report (GET /admin/audit).
  const clean = parseAudit({
    generatedAt: '2026-01-01T00:00:00.000Z',
    policy: { onFinding: 'block', pin: true, maxDescriptionWords: 50 },
    tools: [{ name: 'search', state: 'allowed', digest: 'sha256:s', findings: [], notes: [] }],
    findings: [],
    listing: { digest: 'sha256:t', tools: 9, bytes: 4000, estimatedTokens: 1850 },
  })!;
  const s1 = status(mcp, { deployment: deployment({ ready: 2 }), audit: { kind: 'ok', tools: clean } });
  assert.deepEqual([c(s1, 'ToolsAudited').status, c(s1, 'ToolsAudited').reason], ['True', 'NoFindings']);
  assert.deepEqual(s1.tools, { count: 9, digest: 'sha256:t', listingBytes: 4000, listingTokens: 1850, findings: [], findingsTotal: 0 });

  mcp.status = s1;
  const s2 = status(mcp, { deployment: deployment({ ready: 2 }), audit: { kind: 'unavailable', message: 'connection refused' }, now: T1 });
  assert.deepEqual(s2.tools, s1.tools, 'a failed read keeps the last audit');
  assert.equal(c(s2, 'ToolsAudited').status, 'True');

  const dirty = parseAudit({
    findings: [{ rule: 'hidden-instructions', tool: 'search', field: 'description', severity: 'high', message: 'zero-width characters' }],
    listing: { digest: 'sha256:u', tools: 2, bytes: 300, estimatedTokens: 75 },
  })!;
  assert.deepEqual(dirty.findings, [{ tool: 'search', code: 'hidden-instructions', message: 'zero-width characters (description)' }]);
  const s3 = status(mcp, { deployment: deployment({ ready: 2 }), audit: { kind: 'ok', tools: dirty }, now: T1 });
  assert.deepEqual([c(s3, 'ToolsAudited').status, c(s3, 'ToolsAudited').reason], ['False', 'FindingsPresent']);
  assert.match(c(s3, 'ToolsAudited').message, /1 finding: search: hidden-instructions/);
  assert.equal(c(s3, 'Ready').status, 'True', 'findings do not make the server unready');

  const fresh = status(mcpServer('x', stdioSpec), { audit: { kind: 'unavailable', message: 'no route' } });
  assert.deepEqual([c(fresh, 'ToolsAudited').status, c(fresh, 'ToolsAudited').reason], ['Unknown', 'AuditUnavailable']);
  const unreachable = mcpServer('x', stdioSpec);
  unreachable.status = fresh;
  const again = status(unreachable, { audit: { kind: 'unavailable', message: 'no answer within 2000 ms' }, now: T1 });
  assert.deepEqual(again, fresh, 'another failure with other words is no change to write');
  assert.equal(parseAudit({ nothing: true }), undefined);
  assert.equal(parseAudit('nope'), undefined);
});

test('events are emitted for notable transitions only', () => {
  const mcp = mcpServer('memory', stdioSpec);
  const failing = status(mcp, {
    deployment: deployment({ ready: 0 }),
    pods: [pod('p', { containerStatuses: [{ name: 'runtime', state: { waiting: { reason: 'CrashLoopBackOff' } } }] })],
  });
  assert.deepEqual(transitionEvents(undefined, failing).map((e) => `${e.type}/${e.reason}`), ['Warning/CrashLoopBackOff']);
  assert.deepEqual(transitionEvents(failing, failing), []);
  const healthy = status(mcp, { deployment: deployment({ ready: 2 }) });
  assert.deepEqual(transitionEvents(failing, healthy).map((e) => `${e.type}/${e.reason}`), ['Normal/Ready', 'Normal/Recovered']);
  const open = status(mcpServer('weather', moduleSpec), { deployment: deployment({ desired: 1, ready: 1 }) });
  assert.ok(transitionEvents(undefined, open).some((e) => e.reason === 'AuthDisabled'));
});

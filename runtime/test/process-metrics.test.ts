/** The runtime's process metrics: prom-client's default collectors, all but the per-GC histogram. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { collectProcessMetrics, PROCESS_COLLECTORS } from '../src/observability/process-metrics.ts';

test('every default collector but the GC histogram is registered, under the prefix', async () => {
  // A prom-client upgrade that adds or renames a collector fails here rather than silently dropping it.
  assert.deepEqual([...PROCESS_COLLECTORS].sort(), collectDefaultMetrics.metricsList.filter((n) => n !== 'gc').sort());
  const registry = new Registry();
  collectProcessMetrics(registry, 'test_pm_');
  const text = await registry.metrics();
  for (const name of ['test_pm_process_cpu_user_seconds_total', 'test_pm_process_resident_memory_bytes', 'test_pm_nodejs_eventloop_lag_p99_seconds', 'test_pm_nodejs_heap_space_size_used_bytes', 'test_pm_nodejs_version_info', 'test_pm_nodejs_active_handles_total']) {
    assert.match(text, new RegExp(`^${name}`, 'm'), name);
  }
  assert.doesNotMatch(text, /gc_duration/);
});

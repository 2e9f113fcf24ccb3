/** The runtime's process metrics: prom-client's default set by name, help and type, all but the per-GC histogram, with live values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as promClient from 'prom-client';
import { collectProcessMetrics, maxOpenFiles, procStatus } from '../src/observability/process-metrics.ts';
import { Registry } from '../src/observability/prometheus.ts';

/** HELP and TYPE lines, and the label names each metric's samples carry. */
function shape(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      out.set(`${meta[2]} ${meta[1]}`, meta[3]!);
      continue;
    }
    const sample = /^(\w+)(?:\{(.*)\})? /.exec(line);
    if (sample) out.set(`${sample[1]} labels`, [...(sample[2] ?? '').matchAll(/(\w+)="/g)].map((m) => m[1]).sort().join(','));
  }
  return out;
}

function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  assert.ok(line, `${name}${labels} in\n${text}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('the same metrics as prom-client\'s default collectors, but the GC histogram: names, help, types and label names', async () => {
  const reference = new promClient.Registry();
  promClient.collectDefaultMetrics({ register: reference, prefix: 'ref_' });
  const registry = new Registry();
  collectProcessMetrics(registry, 'ref_');
  const expected = shape(await reference.metrics());
  const actual = shape(await registry.metrics());
  for (const key of [...expected.keys()]) if (key.startsWith('ref_nodejs_gc_duration_seconds')) expected.delete(key);
  assert.ok(expected.size > 60, `prom-client reported ${expected.size} lines of shape`);
  assert.deepEqual(Object.fromEntries([...actual].sort()), Object.fromEntries([...expected].sort()));
});

test('values are live: memory from /proc, file descriptors, CPU since start, heap spaces, version, event-loop delay', async () => {
  const registry = new Registry();
  collectProcessMetrics(registry, 'live_');
  // The delay monitor measures between its own ticks, from its second one.
  await new Promise((resolve) => setTimeout(resolve, 30));
  const cpuBefore = process.cpuUsage();
  const blockUntil = Date.now() + 60;
  while (Date.now() < blockUntil) {
    // Hold the event loop so the delay monitor records a stall (on its next tick).
  }
  await new Promise((resolve) => setTimeout(resolve, 25));
  const text = await registry.metrics();
  const rss = process.memoryUsage.rss();
  assert.ok(Math.abs(sample(text, 'live_process_resident_memory_bytes') - rss) < rss * 0.2, 'resident memory matches process.memoryUsage.rss()');
  assert.ok(sample(text, 'live_process_virtual_memory_bytes') > rss);
  assert.ok(sample(text, 'live_process_open_fds') >= 3);
  assert.equal(sample(text, 'live_process_max_fds'), maxOpenFiles(readFileSync('/proc/self/limits', 'utf8')));
  assert.ok(sample(text, 'live_process_cpu_seconds_total') >= (cpuBefore.user + cpuBefore.system) / 1e6, 'CPU time counts from the process start');
  assert.ok(Math.abs(sample(text, 'live_process_cpu_seconds_total') - sample(text, 'live_process_cpu_user_seconds_total') - sample(text, 'live_process_cpu_system_seconds_total')) < 1e-6);
  const started = Date.now() / 1000 - process.uptime();
  assert.ok(Math.abs(sample(text, 'live_process_start_time_seconds') - started) <= 1, 'start time, rounded to the second');
  assert.ok(sample(text, 'live_nodejs_eventloop_lag_max_seconds') >= 0.04, 'the 60 ms stall shows in the delay maximum');
  assert.ok(sample(text, 'live_nodejs_heap_space_size_used_bytes', 'space="old"') > 0);
  assert.ok(sample(text, 'live_nodejs_active_handles_total') >= 0);
  const [major, minor, patch] = process.version.slice(1).split('.');
  assert.equal(sample(text, 'live_nodejs_version_info', `version="${process.version}",major="${major}",minor="${minor}",patch="${patch}"`), 1);
  // The delay monitor starts over after each scrape.
  assert.ok(sample(await registry.metrics(), 'live_nodejs_eventloop_lag_max_seconds') < 0.04);
});

test('the /proc parsers read the fields they need and ignore the rest', () => {
  assert.deepEqual(procStatus('Name:\tnode\nVmSize:\t  1000 kB\nVmRSS:\t   200 kB\nVmData:\t 50 kB\nVmSwap:\t 7 kB\n'), { VmSize: 1024000, VmRSS: 204800, VmData: 51200 });
  assert.deepEqual(procStatus('garbage'), {});
  assert.equal(maxOpenFiles('Limit                     Soft Limit           Hard Limit           Units\nMax open files            1048576              1048576              files\n'), 1048576);
  assert.equal(maxOpenFiles('nothing here'), undefined);
});

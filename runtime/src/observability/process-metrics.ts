/**
 * prom-client's default process and Node.js collectors, registered one by
 * one so that its GC histogram (`nodejs_gc_duration_seconds`) can be left
 * out. That histogram observes every garbage collection through
 * perf_hooks, and Node builds a performance entry (with deprecated getters)
 * for each one: measured on the bench's modern call path at about 8,000
 * calls/s, those entries were two-thirds of everything that lived on into
 * the old generation, and so of the full collections that stall requests.
 * GC pauses still show where they matter, in the event-loop lag collector.
 */
import { createRequire } from 'node:module';
import type { Registry } from 'prom-client';

/** The default collectors registered (prom-client's own names, from lib/metrics). */
export const PROCESS_COLLECTORS = [
  'processCpuTotal',
  'processStartTime',
  'osMemoryHeap',
  'processOpenFileDescriptors',
  'processMaxFileDescriptors',
  'eventLoopLag',
  'processResources',
  'processHandles',
  'processRequests',
  'heapSizeAndUsed',
  'heapSpacesSizeAndUsed',
  'version',
] as const;

type Collector = (registry: Registry, config: { prefix: string; eventLoopMonitoringPrecision: number }) => void;

/** Registers the default collectors but the GC histogram on `registry`, their names prefixed. */
export function collectProcessMetrics(registry: Registry, prefix: string): void {
  const require = createRequire(import.meta.url);
  for (const name of PROCESS_COLLECTORS) {
    const collector = require(`prom-client/lib/metrics/${name}.js`) as Collector;
    collector(registry, { prefix, eventLoopMonitoringPrecision: 10 });
  }
}

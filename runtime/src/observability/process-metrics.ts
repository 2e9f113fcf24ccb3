/**
 * Process and Node.js metrics under the names, help texts and types of
 * prom-client's default collectors, so dashboards built for those work
 * (a test compares the two). One is left out on purpose: the per-GC duration
 * histogram. It observes every garbage collection through perf_hooks, and
 * Node builds a performance entry for each one; on the bench's modern call
 * path at about 8,000 calls/s those entries were two-thirds of everything
 * that lived on into the old generation. GC pauses still show where they
 * matter, in the event-loop delay gauges.
 *
 * Two values differ from prom-client's by design: CPU time counts from the
 * process's start (prom-client counts from registration), and the event-loop
 * lag is measured during the scrape (prom-client reports the previous one).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { Counter, Gauge, type Registry } from './prometheus.ts';

const START_SECONDS = Math.round(Date.now() / 1000 - process.uptime());

/** `/proc/self/status` fields in bytes (`VmRSS`, `VmSize`, `VmData`); empty off Linux. */
export function procStatus(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(VmRSS|VmSize|VmData):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]!] = Number(m[2]) * 1024;
  }
  return out;
}

/** The soft "Max open files" limit from `/proc/self/limits` text. */
export function maxOpenFiles(text: string): number | undefined {
  const m = /^Max open files\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** This process's open-files limit, if /proc says. */
function readMaxOpenFiles(): number | undefined {
  try {
    return maxOpenFiles(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}

function countBy(items: readonly unknown[], name: (item: unknown) => string | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) {
    const key = name(item);
    if (key !== undefined) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

function constructorName(item: unknown): string | undefined {
  return (item as { constructor?: { name?: string } } | null)?.constructor?.name;
}

function setCounts(gauge: Gauge<'type'>, counts: Map<string, number>): void {
  gauge.reset();
  for (const [type, n] of counts) gauge.set({ type }, n);
}

type Internals = NodeJS.Process & { _getActiveHandles?(): unknown[]; _getActiveRequests?(): unknown[] };

/** Registers the process and Node.js metrics on `registry`, their names prefixed. */
export function collectProcessMetrics(registry: Registry, prefix: string): void {
  const registers = [registry];
  const gauge = <L extends string = never>(name: string, help: string, collect?: (this: Gauge<L>) => void | Promise<void>, labelNames?: readonly L[]) =>
    new Gauge<L>({ name: prefix + name, help, registers, ...(labelNames && { labelNames }), ...(collect && { collect }) });

  let cpuSeen = { user: 0, system: 0 };
  const cpuUser = new Counter({
    name: `${prefix}process_cpu_user_seconds_total`,
    help: 'Total user CPU time spent in seconds.',
    registers,
    collect() {
      const now = process.cpuUsage();
      const user = (now.user - cpuSeen.user) / 1e6;
      const system = (now.system - cpuSeen.system) / 1e6;
      cpuSeen = now;
      cpuUser.inc(user);
      cpuSystem.inc(system);
      cpuTotal.inc(user + system);
    },
  });
  const cpuSystem = new Counter({ name: `${prefix}process_cpu_system_seconds_total`, help: 'Total system CPU time spent in seconds.', registers });
  const cpuTotal = new Counter({ name: `${prefix}process_cpu_seconds_total`, help: 'Total user and system CPU time spent in seconds.', registers });

  gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', function () {
    this.set(START_SECONDS);
  });

  const linux = process.platform === 'linux';
  const rss: Gauge = gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', (): void => {
    if (!linux) {
      rss.set(process.memoryUsage.rss());
      return;
    }
    let status: Record<string, number>;
    try {
      // /proc is kernel state, not disk: reading it synchronously never blocks.
      status = procStatus(readFileSync('/proc/self/status', 'utf8'));
    } catch {
      return;
    }
    if (status['VmRSS'] !== undefined) rss.set(status['VmRSS']);
    if (status['VmSize'] !== undefined) virtual?.set(status['VmSize']);
    if (status['VmData'] !== undefined) heap?.set(status['VmData']);
  });
  const virtual = linux ? gauge('process_virtual_memory_bytes', 'Virtual memory size in bytes.') : undefined;
  const heap = linux ? gauge('process_heap_bytes', 'Process heap size in bytes.') : undefined;

  if (linux) {
    gauge('process_open_fds', 'Number of open file descriptors.', function () {
      try {
        // Less the descriptor readdirSync itself held.
        this.set(readdirSync('/proc/self/fd').length - 1);
      } catch {
        // Out of descriptors, say: the scrape keeps the last value rather than failing.
      }
    });
    const maxFds = readMaxOpenFiles();
    if (maxFds !== undefined) {
      gauge('process_max_fds', 'Maximum number of open file descriptors.', function () {
        this.set(maxFds);
      });
    }
  }

  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const lag = gauge('nodejs_eventloop_lag_seconds', 'Lag of event loop in seconds.', async () => {
    const start = process.hrtime.bigint();
    await new Promise<void>((resolve) => setImmediate(resolve));
    lag.set(Number(process.hrtime.bigint() - start) / 1e9);
    for (const [stat, read] of delayStats) stat.set(read() / 1e9);
    delay.reset();
  });
  const delayStats = (
    [
      ['min', 'The minimum recorded event loop delay.', () => delay.min],
      ['max', 'The maximum recorded event loop delay.', () => delay.max],
      ['mean', 'The mean of the recorded event loop delays.', () => delay.mean],
      ['stddev', 'The standard deviation of the recorded event loop delays.', () => delay.stddev],
      ['p50', 'The 50th percentile of the recorded event loop delays.', () => delay.percentile(50)],
      ['p90', 'The 90th percentile of the recorded event loop delays.', () => delay.percentile(90)],
      ['p99', 'The 99th percentile of the recorded event loop delays.', () => delay.percentile(99)],
    ] as const
  ).map(([stat, help, read]) => [gauge(`nodejs_eventloop_lag_${stat}_seconds`, help), read] as const);

  const internals = process as Internals;
  /** A gauge per type of what `list` returns, and one of its length. */
  const byType = (name: string, help: string, totalHelp: string, list: () => readonly unknown[], typeOf: (item: unknown) => string | undefined): void => {
    gauge(
      name,
      help,
      function () {
        setCounts(this, countBy(list(), typeOf));
      },
      ['type'] as const,
    );
    gauge(`${name}_total`, totalHelp, function () {
      this.set(list().length);
    });
  };
  byType(
    'nodejs_active_resources',
    'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.',
    'Total number of active resources.',
    () => process.getActiveResourcesInfo(),
    (r) => r as string,
  );
  const libuv = [
    ['handles', 'handle', internals._getActiveHandles],
    ['requests', 'request', internals._getActiveRequests],
  ] as const;
  for (const [kind, one, list] of libuv) {
    if (typeof list !== 'function') continue;
    byType(
      `nodejs_active_${kind}`,
      `Number of active libuv ${kind} grouped by ${one} type. Every ${one} type is C++ class name.`,
      `Total number of active ${kind}.`,
      () => list.call(process),
      constructorName,
    );
  }

  const heapTotal = gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', () => {
    const usage = process.memoryUsage();
    heapTotal.set(usage.heapTotal);
    heapUsed.set(usage.heapUsed);
    external.set(usage.external);
  });
  const heapUsed = gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.');
  const external = gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.');

  const spaceGauge = (kind: 'total' | 'used' | 'available', collect?: (this: Gauge<'space'>) => void) =>
    gauge(`nodejs_heap_space_size_${kind}_bytes`, `Process heap space size ${kind} from Node.js in bytes.`, collect, ['space'] as const);
  const spaceTotal = spaceGauge('total', () => {
    for (const space of getHeapSpaceStatistics()) {
      const name = space.space_name.slice(0, space.space_name.indexOf('_space'));
      spaceTotal.set({ space: name }, space.space_size);
      spaceUsed.set({ space: name }, space.space_used_size);
      spaceAvailable.set({ space: name }, space.space_available_size);
    }
  });
  const spaceUsed = spaceGauge('used');
  const spaceAvailable = spaceGauge('available');

  const [major, minor, patch] = process.version.slice(1).split('.').map(Number);
  gauge(
    'nodejs_version_info',
    'Node.js version info.',
    function () {
      this.set({ version: process.version, major: major!, minor: minor!, patch: patch! }, 1);
    },
    ['version', 'major', 'minor', 'patch'] as const,
  );
}

// Facts about the machine a benchmark ran on, printed beside every result.
import { readFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
  /** 1/5/15-minute load averages when the run started (other work on the machine). */
  loadAverage?: string;
  /** How an idle CPU waits (Linux cpuidle), where readable: it sets what a call that finds the server idle costs. */
  cpuIdle?: string;
  /** How the load generator's core waited while idle during the ladder (load-core-idle.ts). */
  loadCoreIdle?: string;
}

/**
 * Describes Linux cpuidle from its sysfs values: the driver, and for a KVM
 * guest's haltpoll driver whether it polls before halting. With polling off
 * every idle moment halts the virtual CPU (an exit to the host), so each call
 * that arrives at an idle server pays for a wake-up.
 */
export function describeCpuIdle(driver: string | undefined, governor: string | undefined, haltPollNs: string | undefined): string | undefined {
  if (!driver) return undefined;
  const base = `cpuidle ${driver}${governor && governor !== driver ? ` (governor ${governor})` : ''}`;
  if (driver !== 'haltpoll' || haltPollNs === undefined) return base;
  const ns = Number(haltPollNs);
  return ns > 0 ? `${base}, guest polls up to ${ns / 1000} µs before halting` : `${base}, guest halt polling off (every idle halts the vCPU)`;
}

/** A sysfs (or any small text) file's trimmed content; undefined where it cannot be read. */
export function readSys(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** CPU model, core count, memory, Node version, OS, load average, cpuidle. */
export function machineFacts(): MachineFacts {
  const list = cpus();
  return {
    cpuModel: list[0]?.model ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    os: `${platform()} ${release()}`,
    loadAverage: loadavg().map((l) => l.toFixed(2)).join(' / '),
    cpuIdle: describeCpuIdle(
      readSys('/sys/devices/system/cpu/cpuidle/current_driver'),
      readSys('/sys/devices/system/cpu/cpuidle/current_governor') ?? readSys('/sys/devices/system/cpu/cpuidle/current_governor_ro'),
      readSys('/sys/module/haltpoll/parameters/guest_halt_poll_ns'),
    ),
  };
}

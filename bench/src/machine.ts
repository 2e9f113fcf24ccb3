// Facts about the machine a benchmark ran on, printed beside every result.
import { cpus, loadavg, platform, release, totalmem } from 'node:os';

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
  /** 1/5/15-minute load averages when the run started (other work on the machine). */
  loadAverage?: string;
}

/** CPU model, core count, memory, Node version, OS, load average. */
export function machineFacts(): MachineFacts {
  const list = cpus();
  return {
    cpuModel: list[0]?.model ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    os: `${platform()} ${release()}`,
    loadAverage: loadavg().map((l) => l.toFixed(2)).join(' / '),
  };
}

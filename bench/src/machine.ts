// Facts about the machine a benchmark ran on, printed beside every result.
import { cpus, totalmem, platform, release } from 'node:os';

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
}

/** CPU model, core count, memory, Node version, OS. */
export function machineFacts(): MachineFacts {
  const list = cpus();
  return {
    cpuModel: list[0]?.model ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    os: `${platform()} ${release()}`,
  };
}

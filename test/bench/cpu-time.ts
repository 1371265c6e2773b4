/**
 * CPU time from /proc (Linux only): what a load cost, independent of how fast the
 * machine happened to be (a shared VM's throughput swings by a fifth between runs;
 * the CPU a request costs does not). Steal and idle time are not counted.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds the whole machine has spent working (user, nice, system, irq, softirq). */
export function machineCpuSeconds(): number {
  const [user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq) / TICKS_PER_SECOND;
}

/** CPU seconds (user + system) one process has used. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

export interface CpuCost {
  /** CPU milliseconds per 1000 successful requests: the whole machine (load generator, database, Redis, subscriber included). */
  machineMsPer1000: number;
  /** The same for the registry process alone. */
  registryMsPer1000: number;
}

/** Runs `load` and charges the CPU it took to its successful requests. */
export async function measureCpu<T extends { ok: number }>(registryPid: number, load: () => Promise<T>): Promise<T & { cpu: CpuCost | null }> {
  const machine = machineCpuSeconds();
  const registry = processCpuSeconds(registryPid);
  const result = await load();
  if (result.ok === 0) return { ...result, cpu: null };
  const per1000 = (seconds: number) => Math.round((seconds * 1000 * 1000) / result.ok);
  return {
    ...result,
    cpu: { machineMsPer1000: per1000(machineCpuSeconds() - machine), registryMsPer1000: per1000(processCpuSeconds(registryPid) - registry) },
  };
}

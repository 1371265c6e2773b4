/**
 * Memory of a server and its descendants, from /proc (Linux only). A server may
 * start helpers (a database child process, say), so every figure is summed over
 * its whole process tree, found through /proc/<pid>/task/<tid>/children.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { MiB } from './config.js';

export interface RssReport {
  /**
   * Sum over the tree of each process's VmHWM at the end of the window (reset at
   * its start): the kernel's own peaks, so no spike is missed between samples. An
   * upper bound of the tree's peak when its processes peak at different moments.
   */
  peakHwmMiB: number | null;
  /** Largest sum of VmRSS over the tree seen by the 100 ms sampler (a lower bound of the peak). */
  maxSampledRssMiB: number | null;
  /**
   * Largest sum of Pss over the tree seen by the sampler: each shared page (the PostgreSQL
   * binary and libraries every server process maps, its shared buffers) divided among the
   * processes that map it, so the tree's real footprint, which a sum of RSS overstates.
   */
  maxSampledPssMiB: number | null;
  samples: number;
  /** Most processes seen in the tree at once (1: the server alone). */
  processes: number;
  /** Whether VmHWM was reset at the window start for every process; if not it also covers earlier activity. */
  hwmResetAtStart: boolean;
}

function readStatusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
    return match ? Number(match[1]) : null;
  } catch {
    return null; // process gone, or not Linux
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return []; // process gone, or a kernel without CONFIG_PROC_CHILDREN
  }
}

/** `pid` and all its descendants. */
export function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...childrenOf(tree[i]));
  return tree;
}

/** Sum of `field` over the tree, or null when not even the root could be read. */
function treeKiB(pids: number[], field: 'VmRSS' | 'VmHWM'): number | null {
  const values = pids.map((pid) => readStatusKiB(pid, field)).filter((v): v is number => v !== null);
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0);
}

/** Sum of Pss (smaps_rollup, Linux >= 4.14) over the tree, or null when not even the root could be read. */
function treePssKiB(pids: number[]): number | null {
  const values = pids
    .map((pid) => {
      try {
        const match = /^Pss:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
        return match ? Number(match[1]) : null;
      } catch {
        return null;
      }
    })
    .filter((v): v is number => v !== null);
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0);
}

const toMiB = (kib: number | null) => (kib === null ? null : Math.round((kib * 1024 * 10) / MiB) / 10);

/** Sum of VmRSS over the process tree now, in MiB (null when not even the root could be read). */
export function treeRssMiB(pid: number): number | null {
  return toMiB(treeKiB(processTree(pid), 'VmRSS'));
}

export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private maxRssKiB: number | null = null;
  private maxPssKiB: number | null = null;
  private samples = 0;
  private processes = 0;
  private hwmReset = false;

  constructor(private readonly pid: number) {}

  /**
   * Starts the window. Writing "5" to clear_refs resets VmHWM to the current
   * RSS (Linux >= 4.0), so the peak covers only this window.
   */
  start(intervalMs = 100): void {
    this.hwmReset = processTree(this.pid).every((pid) => {
      try {
        writeFileSync(`/proc/${pid}/clear_refs`, '5');
        return true;
      } catch {
        return false;
      }
    });
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): RssReport {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    return {
      peakHwmMiB: toMiB(treeKiB(processTree(this.pid), 'VmHWM')),
      maxSampledRssMiB: toMiB(this.maxRssKiB),
      maxSampledPssMiB: toMiB(this.maxPssKiB),
      samples: this.samples,
      processes: this.processes,
      hwmResetAtStart: this.hwmReset,
    };
  }

  private sample(): void {
    const tree = processTree(this.pid);
    const rss = treeKiB(tree, 'VmRSS');
    if (rss === null) return;
    this.samples++;
    this.processes = Math.max(this.processes, tree.length);
    this.maxRssKiB = Math.max(this.maxRssKiB ?? 0, rss);
    const pss = treePssKiB(tree);
    if (pss !== null) this.maxPssKiB = Math.max(this.maxPssKiB ?? 0, pss);
  }
}

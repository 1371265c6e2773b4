/** Memory watching for a server child process, via /proc/<pid>/status (Linux only). */
import { readFileSync, writeFileSync } from 'node:fs';
import { MiB } from './config.js';

export interface RssReport {
  /** VmHWM at the end of the window: the kernel's own peak, so no spike is missed between samples. */
  peakHwmMiB: number | null;
  /** Largest VmRSS seen by the 100 ms sampler (cross-check for the VmHWM figure). */
  maxSampledRssMiB: number | null;
  samples: number;
  /** Whether VmHWM was reset at the window start; if not it also covers start-up and warm-up. */
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

const toMiB = (kib: number | null) => (kib === null ? null : Math.round((kib * 1024 * 10) / MiB) / 10);

export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private maxRssKiB: number | null = null;
  private samples = 0;
  private hwmReset = false;

  constructor(private readonly pid: number) {}

  /**
   * Starts the window. Writing "5" to clear_refs resets VmHWM to the current
   * RSS (Linux >= 4.0), so the peak covers only steps 1-3, not start-up.
   */
  start(intervalMs = 100): void {
    try {
      writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
      this.hwmReset = true;
    } catch {
      this.hwmReset = false;
    }
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): RssReport {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    return {
      peakHwmMiB: toMiB(readStatusKiB(this.pid, 'VmHWM')),
      maxSampledRssMiB: toMiB(this.maxRssKiB),
      samples: this.samples,
      hwmResetAtStart: this.hwmReset,
    };
  }

  private sample(): void {
    const rss = readStatusKiB(this.pid, 'VmRSS');
    if (rss === null) return;
    this.samples++;
    this.maxRssKiB = Math.max(this.maxRssKiB ?? 0, rss);
  }
}

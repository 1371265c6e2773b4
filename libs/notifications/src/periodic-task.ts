import type { Logger } from '@nestjs/common';

/**
 * Runs a background job every `intervalMs`, one run at a time, and sooner when
 * triggered. A failing run is reported once per distinct error (a database or Redis
 * outage would otherwise log every tick) and its recovery once. Timers are unref'd
 * and cleared on stop, so a closed application leaves nothing behind.
 */
export class PeriodicTask {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private rerun = false;
  private stopped = true;
  private failure?: string;

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly work: () => Promise<unknown>,
    private readonly logger: Logger,
  ) {}

  start(initialDelayMs = 0): void {
    this.stopped = false;
    this.schedule(initialDelayMs);
  }

  /** Runs as soon as possible: now, or right after the run under way. */
  trigger(): void {
    if (this.stopped) return;
    if (this.running) this.rerun = true;
    else this.schedule(0);
  }

  /** Waits for the run under way, so nothing touches a closing database or queue. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), delayMs);
    this.timer.unref();
  }

  private run(): void {
    if (this.stopped || this.running) return;
    this.running = this.attempt().finally(() => {
      this.running = undefined;
      const again = this.rerun;
      this.rerun = false;
      if (!this.stopped) this.schedule(again ? 0 : this.intervalMs);
    });
  }

  private async attempt(): Promise<void> {
    try {
      await this.work();
      if (this.failure !== undefined) this.logger.log(`${this.name} works again`);
      this.failure = undefined;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message !== this.failure) this.logger.warn(`${this.name} failed: ${message}; retrying every ${this.intervalMs} ms`);
      this.failure = message;
    }
  }
}

/**
 * A Berth entry point (apps/registry or apps/worker) run from source as its own
 * process, through the loader that keeps Nest's decorator metadata
 * (test/support/register-ts.mjs): what a replica or a worker is in production, without
 * a build. Its output is kept (the tail) for failure messages.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../support/ports.js';
export { freePort } from '../support/ports.js';

const OUTPUT_TAIL = 32 * 1024;

export class SourceProcess {
  private tail = '';
  private readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  private constructor(
    readonly label: string,
    entry: string,
    env: Record<string, string>,
  ) {
    this.child = spawn(process.execPath, ['--import', './test/support/register-ts.mjs', entry], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => {
      this.tail = (this.tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Starts apps/registry/src/main.ts on `port` and waits until /health/ready answers 200. */
  static async registry(label: string, port: number, env: Record<string, string>): Promise<SourceProcess> {
    const started = new SourceProcess(label, 'apps/registry/src/main.ts', { ...env, PORT: String(port), HOST: '127.0.0.1' });
    await started.waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined))?.status === 200);
    return started;
  }

  /** Starts apps/worker/src/main.ts and waits until it says it started (a line at level `log`). */
  static async worker(label: string, env: Record<string, string>): Promise<SourceProcess> {
    const started = new SourceProcess(label, 'apps/worker/src/main.ts', { ...env, LOG_LEVEL: 'log' });
    await started.waitUntil(async () => started.tail.includes('worker started'));
    return started;
  }

  output(lines = 40): string {
    return this.tail.trim().split('\n').slice(-lines).join('\n');
  }

  /** SIGTERM (a graceful stop), then SIGKILL if it takes longer than `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = sleep(graceMs).then(() => 'timeout' as const);
    if ((await Promise.race([this.exited, timer])) === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }

  private async waitUntil(ready: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await ready())) {
      if (this.child.exitCode !== null) throw new Error(`${this.label} exited at start-up:\n${this.output()}`);
      if (Date.now() > deadline) {
        await this.stop(1000);
        throw new Error(`${this.label} did not start within ${timeoutMs / 1000}s:\n${this.output()}`);
      }
      await sleep(200);
    }
  }
}


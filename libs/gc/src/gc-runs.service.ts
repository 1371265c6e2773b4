import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { GarbageCollector } from './garbage-collector.js';
import { GcLock } from './gc-lock.js';
import { GcRunStore } from './gc-run.store.js';
import { type GcOptions, emptyResult } from './gc-result.js';
import { GcAlreadyRunningError, GcReadOnlyError, type GcRun, type GcTrigger } from './gc-run.js';

export interface StartedRun {
  run: GcRun;
  /** Settles with the finished row (succeeded or failed); never rejects. */
  done: Promise<GcRun>;
}

export interface RunPage {
  items: GcRun[];
  page: number;
  perPage: number;
  total: number;
}

/** A run that has just recorded its end releases the lock a moment later: how long a start waits for that. */
const FINISHING_WAIT_MS = 2000;
const FINISHING_POLL_MS = 50;

/**
 * Garbage collection runs: started by the admin API, the CLI or the schedule, one at a
 * time, each recorded in gc_runs with what it freed. A run goes on in the background;
 * at shutdown it stops between two deletions and is recorded as failed.
 */
@Injectable()
export class GcRunService implements OnModuleDestroy {
  private readonly logger = new Logger('GC');
  private readonly running = new Set<{ abort: AbortController; done: Promise<GcRun> }>();

  constructor(
    @Inject(BerthConfig) private readonly config: BerthConfig,
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(GcLock) private readonly lock: GcLock,
    @Inject(GarbageCollector) private readonly collector: GarbageCollector,
    @Inject(GcRunStore) private readonly store: GcRunStore,
  ) {}

  /** Throws GcAlreadyRunningError when a run is going on anywhere, GcReadOnlyError for a real run in read-only mode. */
  async start(trigger: GcTrigger, options: GcOptions, requestedBy?: string): Promise<StartedRun> {
    if (this.config.readOnly && !options.dryRun) throw new GcReadOnlyError();
    const release = await this.acquire();
    if (!release) throw new GcAlreadyRunningError();
    let run: GcRun;
    try {
      await this.store.failInterrupted(this.dataSource.manager);
      run = await this.store.insert(this.dataSource.manager, trigger, options.dryRun, options.deleteUntagged, requestedBy ?? null);
    } catch (err) {
      await release();
      throw err;
    }
    const abort = new AbortController();
    const entry = { abort, done: this.execute(run, options, abort.signal).finally(release) };
    this.running.add(entry);
    void entry.done.finally(() => this.running.delete(entry));
    return { run, done: entry.done };
  }

  async list(page: number, perPage: number): Promise<RunPage> {
    const { items, total } = await this.store.page(this.dataSource.manager, page, perPage);
    return { items, page, perPage, total };
  }

  async get(id: string): Promise<GcRun | null> {
    if (!/^[0-9]{1,18}$/.test(id)) return null;
    return this.store.get(this.dataSource.manager, id);
  }

  /**
   * The lock, or null while a run holds it. A run records its end just before it lets the
   * lock go, so a client that saw it finish and starts the next one at once could find the
   * lock still held: with no run recorded as running, the start waits up to two seconds.
   */
  private async acquire(): Promise<(() => Promise<void>) | null> {
    const deadline = Date.now() + FINISHING_WAIT_MS;
    for (;;) {
      const release = await this.lock.tryAcquire();
      if (release || Date.now() >= deadline || (await this.store.anyRunning(this.dataSource.manager))) return release;
      await new Promise((resolve) => setTimeout(resolve, FINISHING_POLL_MS));
    }
  }

  /** A running collection stops at its next step, while the database is still open; its row says so. */
  async onModuleDestroy(): Promise<void> {
    await this.interrupt();
  }

  /** Stops the running collections at their next step (recorded as failed), and waits for them. */
  async interrupt(): Promise<void> {
    for (const entry of this.running) entry.abort.abort(new Error('interrupted: the process is shutting down'));
    await Promise.all([...this.running].map((entry) => entry.done));
  }

  private async execute(run: GcRun, options: GcOptions, signal: AbortSignal): Promise<GcRun> {
    const mode = `${options.dryRun ? 'dry run' : 'run'}${options.deleteUntagged ? ', untagged manifests too' : ''}`;
    this.logger.log(`garbage collection ${run.id} started (${mode}, from ${run.trigger})`);
    const result = emptyResult();
    try {
      await this.collector.collect(options, signal, result);
      const row = await this.store.finish(this.dataSource.manager, run.id, result, null);
      this.logger.log(
        `garbage collection ${run.id} ${options.dryRun ? 'would free' : 'freed'} ${result.bytesFreed} bytes: ` +
          `${result.blobsDeleted} blobs, ${result.manifestsDeleted} manifests, ${result.linksDeleted} links, ${result.orphanFilesDeleted} orphan files`,
      );
      return row;
    } catch (err) {
      const message = signal.aborted ? String((signal.reason as Error)?.message ?? 'interrupted') : (err as Error).message;
      this.logger.error(`garbage collection ${run.id} failed: ${message}`);
      return this.store.finish(this.dataSource.manager, run.id, result, message).catch(() => ({ ...run, status: 'failed' as const, error: message, finishedAt: new Date() }));
    }
  }
}

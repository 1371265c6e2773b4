import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { GarbageCollector } from './garbage-collector.js';
import { GcLock } from './gc-lock.js';
import { type GcOptions, type GcResult, emptyResult } from './gc-result.js';
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

const COLUMNS = `id, status, trigger, dry_run AS "dryRun", delete_untagged AS "deleteUntagged", requested_by AS "requestedBy",
  started_at AS "startedAt", finished_at AS "finishedAt", manifests_deleted AS "manifestsDeleted", links_deleted AS "linksDeleted",
  blobs_deleted AS "blobsDeleted", orphan_files_deleted AS "orphanFilesDeleted", bytes_freed AS "bytesFreed", error, sample`;

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
  ) {}

  /** Throws GcAlreadyRunningError when a run is going on anywhere, GcReadOnlyError for a real run in read-only mode. */
  async start(trigger: GcTrigger, options: GcOptions, requestedBy?: string): Promise<StartedRun> {
    if (this.config.readOnly && !options.dryRun) throw new GcReadOnlyError();
    const release = await this.lock.tryAcquire();
    if (!release) throw new GcAlreadyRunningError();
    let run: GcRun;
    try {
      // Holding the lock, any row still `running` belongs to a process that died.
      await this.dataSource.query(
        `UPDATE gc_runs SET status = 'failed', finished_at = now(), error = 'interrupted: the process running it stopped' WHERE status = 'running'`,
      );
      const [row]: GcRun[] = await this.dataSource.query(
        `INSERT INTO gc_runs (status, trigger, dry_run, delete_untagged, requested_by) VALUES ('running', $1, $2, $3, $4) RETURNING ${COLUMNS}`,
        [trigger, options.dryRun, options.deleteUntagged, requestedBy ?? null],
      );
      run = numbers(row);
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
    const [{ total }]: { total: string }[] = await this.dataSource.query('SELECT count(*) AS total FROM gc_runs');
    const rows: GcRun[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM gc_runs ORDER BY id DESC LIMIT $1 OFFSET $2`, [
      perPage,
      (page - 1) * perPage,
    ]);
    return { items: rows.map(numbers), page, perPage, total: Number(total) };
  }

  async get(id: string): Promise<GcRun | null> {
    if (!/^[0-9]{1,18}$/.test(id)) return null;
    const rows: GcRun[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM gc_runs WHERE id = $1`, [id]);
    return rows.length ? numbers(rows[0]) : null;
  }

  /** A running collection stops at its next step, while the database is still open; its row says so. */
  async onModuleDestroy(): Promise<void> {
    for (const entry of this.running) entry.abort.abort(new Error('interrupted: the process is shutting down'));
    await Promise.all([...this.running].map((entry) => entry.done));
  }

  private async execute(run: GcRun, options: GcOptions, signal: AbortSignal): Promise<GcRun> {
    const mode = `${options.dryRun ? 'dry run' : 'run'}${options.deleteUntagged ? ', untagged manifests too' : ''}`;
    this.logger.log(`garbage collection ${run.id} started (${mode}, from ${run.trigger})`);
    const result = emptyResult();
    try {
      await this.collector.collect(options, signal, result);
      const row = await this.finish(run.id, result, null);
      this.logger.log(
        `garbage collection ${run.id} ${options.dryRun ? 'would free' : 'freed'} ${result.bytesFreed} bytes: ` +
          `${result.blobsDeleted} blobs, ${result.manifestsDeleted} manifests, ${result.linksDeleted} links, ${result.orphanFilesDeleted} orphan files`,
      );
      return row;
    } catch (err) {
      const message = signal.aborted ? String((signal.reason as Error)?.message ?? 'interrupted') : (err as Error).message;
      this.logger.error(`garbage collection ${run.id} failed: ${message}`);
      return this.finish(run.id, result, message).catch(() => ({ ...run, status: 'failed' as const, error: message, finishedAt: new Date() }));
    }
  }

  /** Records the outcome with what was freed (also by a run that failed half-way). */
  private async finish(id: string, result: GcResult, error: string | null): Promise<GcRun> {
    const [[row]]: [GcRun[], number] = await this.dataSource.query(
      `UPDATE gc_runs SET status = $2, error = $3, finished_at = now(), manifests_deleted = $4, links_deleted = $5, blobs_deleted = $6,
              orphan_files_deleted = $7, bytes_freed = $8, sample = $9 WHERE id = $1 RETURNING ${COLUMNS}`,
      [
        id,
        error === null ? 'succeeded' : 'failed',
        error,
        result.manifestsDeleted,
        result.linksDeleted,
        result.blobsDeleted,
        result.orphanFilesDeleted,
        result.bytesFreed,
        JSON.stringify(result.sample),
      ],
    );
    return numbers(row);
  }
}

/** bigint columns arrive as strings. */
function numbers(row: GcRun): GcRun {
  return { ...row, id: String(row.id), bytesFreed: Number(row.bytesFreed) };
}

import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { GcResult } from './gc-result.js';
import type { GcRun, GcTrigger } from './gc-run.js';

const COLUMNS = `id, status, trigger, dry_run AS "dryRun", delete_untagged AS "deleteUntagged", requested_by AS "requestedBy",
  started_at AS "startedAt", finished_at AS "finishedAt", manifests_deleted AS "manifestsDeleted", links_deleted AS "linksDeleted",
  blobs_deleted AS "blobsDeleted", orphan_files_deleted AS "orphanFilesDeleted", bytes_freed AS "bytesFreed", error, sample`;

/** The gc_runs rows: one per collection, with what it freed. */
@Injectable()
export class GcRunStore {
  /** Called holding the lock: any row still `running` belongs to a process that died. */
  async failInterrupted(m: EntityManager): Promise<void> {
    await m.query(`UPDATE gc_runs SET status = 'failed', finished_at = now(), error = 'interrupted: the process running it stopped' WHERE status = 'running'`);
  }

  async anyRunning(m: EntityManager): Promise<boolean> {
    const [{ running }]: { running: boolean }[] = await m.query(`SELECT EXISTS (SELECT 1 FROM gc_runs WHERE status = 'running') AS running`);
    return running;
  }

  async insert(m: EntityManager, trigger: GcTrigger, dryRun: boolean, deleteUntagged: boolean, requestedBy: string | null): Promise<GcRun> {
    const [row]: GcRun[] = await m.query(
      `INSERT INTO gc_runs (status, trigger, dry_run, delete_untagged, requested_by) VALUES ('running', $1, $2, $3, $4) RETURNING ${COLUMNS}`,
      [trigger, dryRun, deleteUntagged, requestedBy],
    );
    return numbers(row);
  }

  async page(m: EntityManager, page: number, perPage: number): Promise<{ items: GcRun[]; total: number }> {
    const [{ total }]: { total: string }[] = await m.query('SELECT count(*) AS total FROM gc_runs');
    const rows: GcRun[] = await m.query(`SELECT ${COLUMNS} FROM gc_runs ORDER BY id DESC LIMIT $1 OFFSET $2`, [perPage, (page - 1) * perPage]);
    return { items: rows.map(numbers), total: Number(total) };
  }

  async get(m: EntityManager, id: string): Promise<GcRun | null> {
    const rows: GcRun[] = await m.query(`SELECT ${COLUMNS} FROM gc_runs WHERE id = $1`, [id]);
    return rows.length ? numbers(rows[0]) : null;
  }

  /** Records the outcome with what was freed (also by a run that failed half-way). */
  async finish(m: EntityManager, id: string, result: GcResult, error: string | null): Promise<GcRun> {
    const [[row]]: [GcRun[], number] = await m.query(
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

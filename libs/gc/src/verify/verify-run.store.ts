import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { FindingKind, FindingOutcome, VerifyFinding, VerifyPhase, VerifyRun } from './verify-run.js';

const RUN_COLUMNS = `id::text, status, repair, started_at AS "startedAt", finished_at AS "finishedAt", phase, cursor,
  blobs_checked::float8 AS "blobsChecked", blobs_ok::float8 AS "blobsOk", bytes_checked::float8 AS "bytesChecked",
  files_checked::float8 AS "filesChecked", error`;

const FINDING_COLUMNS = `digest, kind, expected_size::float8 AS "expectedSize", actual_size::float8 AS "actualSize",
  actual_digest AS "actualDigest", outcome`;

/** What one step of a run did, added to its counters as its cursor moves. */
export interface VerifyStep {
  phase: VerifyPhase;
  cursor: string | null;
  blobsChecked?: number;
  blobsOk?: number;
  bytesChecked?: number;
  filesChecked?: number;
}

export interface FindingCount {
  kind: FindingKind;
  outcome: FindingOutcome;
  count: number;
}

/** verify_runs and their verify_findings. */
@Injectable()
export class VerifyRunStore {
  /** Rows still `running` while the caller holds the verify lock belong to a process that died. */
  async interruptDead(m: EntityManager): Promise<void> {
    await m.query(`UPDATE verify_runs SET status = 'interrupted', updated_at = now(), error = 'the process running it stopped' WHERE status = 'running'`);
  }

  async latestInterrupted(m: EntityManager): Promise<VerifyRun | null> {
    const rows: VerifyRun[] = await m.query(`SELECT ${RUN_COLUMNS} FROM verify_runs WHERE status = 'interrupted' ORDER BY id DESC LIMIT 1`);
    return rows[0] ?? null;
  }

  /** Every interrupted run is given up: a new one starts from the beginning. */
  async abandonInterrupted(m: EntityManager): Promise<void> {
    await m.query(`UPDATE verify_runs SET status = 'abandoned', updated_at = now() WHERE status = 'interrupted'`);
  }

  async create(m: EntityManager, repair: boolean): Promise<VerifyRun> {
    const [row]: VerifyRun[] = await m.query(`INSERT INTO verify_runs (status, repair) VALUES ('running', $1) RETURNING ${RUN_COLUMNS}`, [repair]);
    return row;
  }

  async resume(m: EntityManager, id: string): Promise<VerifyRun> {
    const [[row]]: [VerifyRun[], number] = await m.query(
      `UPDATE verify_runs SET status = 'running', error = NULL, updated_at = now() WHERE id = $1 RETURNING ${RUN_COLUMNS}`,
      [id],
    );
    return row;
  }

  /** Moves the cursor and adds the step's counts, in one statement, so a resume counts nothing twice. */
  async advance(m: EntityManager, id: string, step: VerifyStep): Promise<VerifyRun> {
    const [[row]]: [VerifyRun[], number] = await m.query(
      `UPDATE verify_runs SET phase = $2, cursor = $3, updated_at = now(),
              blobs_checked = blobs_checked + $4, blobs_ok = blobs_ok + $5, bytes_checked = bytes_checked + $6, files_checked = files_checked + $7
        WHERE id = $1 RETURNING ${RUN_COLUMNS}`,
      [id, step.phase, step.cursor, step.blobsChecked ?? 0, step.blobsOk ?? 0, step.bytesChecked ?? 0, step.filesChecked ?? 0],
    );
    return row;
  }

  async finish(m: EntityManager, id: string, error: string | null): Promise<VerifyRun> {
    const [[row]]: [VerifyRun[], number] = await m.query(
      `UPDATE verify_runs SET status = $2, error = $3, updated_at = now(), finished_at = CASE WHEN $3::text IS NULL THEN now() END
        WHERE id = $1 RETURNING ${RUN_COLUMNS}`,
      [id, error === null ? 'finished' : 'interrupted', error],
    );
    return row;
  }

  /** Records a finding; one checked again after a resume replaces it, unless it was already repaired. */
  async record(m: EntityManager, runId: string, finding: VerifyFinding): Promise<void> {
    await m.query(
      `INSERT INTO verify_findings (run_id, digest, kind, expected_size, actual_size, actual_digest, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (run_id, digest) DO UPDATE SET kind = EXCLUDED.kind, expected_size = EXCLUDED.expected_size, actual_size = EXCLUDED.actual_size,
              actual_digest = EXCLUDED.actual_digest, outcome = EXCLUDED.outcome, found_at = now()
        WHERE verify_findings.outcome <> 'repaired'`,
      [runId, finding.digest, finding.kind, finding.expectedSize, finding.actualSize, finding.actualDigest, finding.outcome],
    );
  }

  async countFindings(m: EntityManager, runId: string): Promise<FindingCount[]> {
    return m.query(`SELECT kind, outcome, count(*)::int AS count FROM verify_findings WHERE run_id = $1 GROUP BY kind, outcome ORDER BY kind, outcome`, [runId]);
  }

  /** Problems left: all findings but repaired orphans and files cut to length (see onlyTrailingBytes); a repaired bad blob still has to be pushed again. */
  async remaining(m: EntityManager, runId: string): Promise<number> {
    const [{ count }]: { count: number }[] = await m.query(
      `SELECT count(*)::int AS count FROM verify_findings
        WHERE run_id = $1 AND NOT (outcome = 'repaired' AND (kind = 'orphan' OR (kind = 'size_mismatch' AND actual_digest IS NOT DISTINCT FROM digest)))`,
      [runId],
    );
    return count;
  }

  async findings(m: EntityManager, runId: string, limit: number): Promise<VerifyFinding[]> {
    return m.query(`SELECT ${FINDING_COLUMNS} FROM verify_findings WHERE run_id = $1 ORDER BY kind, digest LIMIT $2`, [runId, limit]);
  }
}

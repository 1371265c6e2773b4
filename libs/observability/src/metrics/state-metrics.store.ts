import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/**
 * Open deliveries by status. Only the open states are counted: the partial index
 * webhook_deliveries_open_idx holds just those rows, so a scrape reads what is still
 * waiting rather than the whole history (a GROUP BY over 3M rows took 0.4 s).
 */
export const OPEN_DELIVERY_COUNTS_SQL = `SELECT status, count(*)::int AS count FROM webhook_deliveries WHERE status IN ('pending', 'failed') GROUP BY status`;

/** Runs per status; bytes freed by real runs; end of the last successful one. gc_runs has a row per run: small. */
const GC_RUN_TOTALS_SQL = `SELECT status, count(*)::int AS runs,
        coalesce(sum(bytes_freed) FILTER (WHERE NOT dry_run), 0)::text AS bytes_freed,
        extract(epoch FROM max(finished_at) FILTER (WHERE status = 'succeeded'))::float8 AS last_success
   FROM gc_runs GROUP BY status`;

export interface GcRunTotals {
  status: string;
  runs: number;
  bytes_freed: string;
  last_success: number | null;
}

/** The last finished integrity check, with its findings by kind. */
const LAST_VERIFY_SQL = `SELECT extract(epoch FROM r.finished_at)::float8 AS finished, r.blobs_ok::text AS ok,
        count(*) FILTER (WHERE f.kind = 'missing')::int AS missing, count(*) FILTER (WHERE f.kind = 'corrupt')::int AS corrupt,
        count(*) FILTER (WHERE f.kind = 'size_mismatch')::int AS size_mismatch, count(*) FILTER (WHERE f.kind = 'orphan')::int AS orphan
   FROM (SELECT id, finished_at, blobs_ok FROM verify_runs WHERE status = 'finished' ORDER BY id DESC LIMIT 1) r
   LEFT JOIN verify_findings f ON f.run_id = r.id
  GROUP BY r.id, r.finished_at, r.blobs_ok`;

export interface VerifyFindings {
  finished: number;
  ok: string;
  missing: number;
  corrupt: number;
  size_mismatch: number;
  orphan: number;
}

/** The queries behind the figures /metrics reads from PostgreSQL at scrape time. */
@Injectable()
export class StateMetricsStore {
  openDeliveryCounts(manager: EntityManager): Promise<{ status: string; count: number }[]> {
    return manager.query(OPEN_DELIVERY_COUNTS_SQL);
  }

  gcRunTotals(manager: EntityManager): Promise<GcRunTotals[]> {
    return manager.query(GC_RUN_TOTALS_SQL);
  }

  lastVerifyFindings(manager: EntityManager): Promise<VerifyFindings[]> {
    return manager.query(LAST_VERIFY_SQL);
  }
}

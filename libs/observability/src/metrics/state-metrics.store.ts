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

/** The queries behind the figures /metrics reads from PostgreSQL at scrape time. */
@Injectable()
export class StateMetricsStore {
  openDeliveryCounts(manager: EntityManager): Promise<{ status: string; count: number }[]> {
    return manager.query(OPEN_DELIVERY_COUNTS_SQL);
  }

  gcRunTotals(manager: EntityManager): Promise<GcRunTotals[]> {
    return manager.query(GC_RUN_TOTALS_SQL);
  }
}

import { Injectable, Logger } from '@nestjs/common';
import { Counter, Gauge, Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { NotificationsStatus } from '@berth/notifications';
import { StateMetricsStore } from './state-metrics.store.js';

/** How long a scrape waits for one source before leaving its series out: /metrics never hangs. */
const SOURCE_TIMEOUT_MS = 2000;
const OPEN_STATUSES = ['pending', 'failed'];

/**
 * Figures read at scrape time from shared state (Postgres, the Redis queue), so they
 * are right whichever process did the work: open webhook deliveries by status, the
 * delivery queue by job state, garbage-collection runs and the bytes they freed, and
 * what the last integrity check found.
 * A source that fails or is slow is left out of that scrape (and logged at debug).
 */
@Injectable()
export class StateMetrics {
  private readonly logger = new Logger('Metrics');
  private readonly deliveries: Gauge<'status'>;
  private readonly queue: Gauge<'state'>;
  private readonly gcRuns: Gauge<'status'>;
  private readonly gcBytesFreed: Counter;
  private readonly gcLastSuccess: Gauge;
  private readonly verifyLastRun: Gauge;
  private readonly verifyBlobs: Gauge<'result'>;

  constructor(
    registry: Registry,
    private readonly dataSource: DataSource,
    private readonly notifications: NotificationsStatus,
    private readonly store: StateMetricsStore,
  ) {
    const registers = [registry];
    this.deliveries = new Gauge({ name: 'berth_webhook_deliveries', help: 'Webhook deliveries still open (pending: first attempt to come; failed: a retry to come), by status', labelNames: ['status'], registers });
    this.queue = new Gauge({ name: 'berth_webhook_queue_jobs', help: 'Jobs in the webhook delivery queue, by state (Redis configured and reachable)', labelNames: ['state'], registers });
    this.gcRuns = new Gauge({ name: 'berth_gc_runs', help: 'Garbage-collection runs recorded, by status', labelNames: ['status'], registers });
    this.gcBytesFreed = new Counter({ name: 'berth_gc_bytes_freed_total', help: 'Bytes freed by garbage collection (dry runs excluded)', registers });
    this.gcLastSuccess = new Gauge({ name: 'berth_gc_last_success_timestamp_seconds', help: 'When the last successful garbage-collection run finished', registers });
    this.verifyLastRun = new Gauge({ name: 'berth_verify_last_run_timestamp_seconds', help: 'When the last complete integrity check (verify) finished', registers });
    this.verifyBlobs = new Gauge({
      name: 'berth_verify_blobs',
      help: 'What the last complete integrity check found: blobs ok, missing, corrupt or of the wrong size, and orphan files',
      labelNames: ['result'],
      registers,
    });
  }

  /** Reads every source (concurrently) into the gauges before the registry renders them. */
  async refresh(): Promise<void> {
    await Promise.all([
      this.read('webhook deliveries', [this.deliveries], () => this.readDeliveries()),
      this.read('webhook queue', [this.queue], () => this.readQueue()),
      this.read('gc runs', [this.gcRuns, this.gcBytesFreed, this.gcLastSuccess], () => this.readGc()),
      this.read('verify runs', [this.verifyLastRun, this.verifyBlobs], () => this.readVerify()),
    ]);
  }

  private async readDeliveries(): Promise<void> {
    const rows = await this.store.openDeliveryCounts(this.dataSource.manager);
    // Both open states always have a series: none waiting is 0, not a gap.
    for (const status of OPEN_STATUSES) this.deliveries.set({ status }, 0);
    for (const row of rows) this.deliveries.set({ status: row.status }, row.count);
  }

  private async readQueue(): Promise<void> {
    const counts = await this.notifications.queueCounts();
    if (!counts) return;
    for (const [state, count] of Object.entries(counts)) this.queue.set({ state }, count);
  }

  private async readGc(): Promise<void> {
    const rows = await this.store.gcRunTotals(this.dataSource.manager);
    let freed = 0;
    for (const row of rows) {
      this.gcRuns.set({ status: row.status }, row.runs);
      freed += Number(row.bytes_freed);
      if (row.last_success !== null) this.gcLastSuccess.set(row.last_success);
    }
    this.gcBytesFreed.inc(freed);
  }

  /** The last finished run; every result is a series (0 when none was found), so alerts need no absent(). */
  private async readVerify(): Promise<void> {
    const rows = await this.store.lastVerifyFindings(this.dataSource.manager);
    if (!rows.length) return;
    const [row] = rows;
    this.verifyLastRun.set(row.finished);
    this.verifyBlobs.set({ result: 'ok' }, Number(row.ok));
    for (const result of ['missing', 'corrupt', 'size_mismatch', 'orphan'] as const) this.verifyBlobs.set({ result }, row[result]);
  }

  /** Clears the source's series first, so that a failed read leaves them out rather than stale. */
  private async read(source: string, metrics: { reset(): void }[], fn: () => Promise<void>): Promise<void> {
    for (const metric of metrics) metric.reset();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${SOURCE_TIMEOUT_MS} ms`)), SOURCE_TIMEOUT_MS);
    });
    try {
      await Promise.race([fn(), timeout]);
    } catch (err) {
      this.logger.debug(`${source} left out of this scrape: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

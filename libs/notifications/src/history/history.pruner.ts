import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { NOTIFICATIONS_OPTIONS, type ResolvedNotificationsOptions } from '../notifications-options.js';
import { PeriodicTask } from '../periodic-task.js';

/** Rows deleted per statement: short transactions, no long locks on a busy table. */
const CHUNK = 5000;

export interface PrunedCounts {
  attempts: number;
  deliveries: number;
  outbox: number;
}

/**
 * Deletes history older than WEBHOOK_HISTORY_DAYS: attempts, finished deliveries
 * (succeeded or dead; a delivery still under way is kept however old) with their
 * attempts, and relayed outbox rows. Runs in every worker process; concurrent runs
 * delete disjoint chunks or nothing, so no coordination is needed.
 */
@Injectable()
export class HistoryPruner {
  private readonly logger = new Logger('Notifications');
  private readonly task: PeriodicTask;

  constructor(
    private readonly dataSource: DataSource,
    private readonly config: BerthConfig,
    @Inject(NOTIFICATIONS_OPTIONS) options: ResolvedNotificationsOptions,
  ) {
    this.task = new PeriodicTask('history pruning', options.pruneIntervalMs, () => this.prune(), this.logger);
  }

  /** The first run waits a minute: start-up has better things to do. */
  start(): void {
    this.task.start(60_000);
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  async prune(): Promise<PrunedCounts> {
    const days = this.config.webhooks.historyDays;
    const counts = {
      attempts: await this.deleteAll(`SELECT id FROM webhook_attempts WHERE at < now() - $1 * interval '1 day' LIMIT ${CHUNK}`, 'webhook_attempts', days),
      deliveries: await this.deleteAll(
        `SELECT id FROM webhook_deliveries WHERE status IN ('succeeded', 'dead') AND updated_at < now() - $1 * interval '1 day' LIMIT ${CHUNK}`,
        'webhook_deliveries',
        days,
      ),
      outbox: await this.deleteAll(
        `SELECT id FROM event_outbox WHERE relayed_at IS NOT NULL AND relayed_at < now() - $1 * interval '1 day' LIMIT ${CHUNK}`,
        'event_outbox',
        days,
      ),
    };
    if (counts.attempts || counts.deliveries || counts.outbox) {
      this.logger.log(`pruned webhook history older than ${days} days: ${counts.deliveries} deliveries, ${counts.attempts} attempts, ${counts.outbox} outbox events`);
    }
    return counts;
  }

  private async deleteAll(select: string, table: string, days: number): Promise<number> {
    let total = 0;
    for (;;) {
      const [, deleted]: [unknown, number] = await this.dataSource.query(`DELETE FROM ${table} WHERE id IN (${select})`, [days]);
      total += deleted;
      if (deleted < CHUNK) return total;
    }
  }
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { NOTIFICATIONS_OPTIONS, type ResolvedNotificationsOptions } from '../notifications-options.js';
import { PeriodicTask } from '../periodic-task.js';
import { BullmqDeliveryQueue, type DeliveryJob } from '../queue/bullmq-delivery-queue.js';
import type { RegistryEvent } from '../registry-event.js';
import { PendingDeliveries } from './pending-deliveries.js';

/** Outbox rows per transaction. */
const BATCH_SIZE = 1000;

/**
 * Moves push, mount and delete events from the outbox to deliveries (pull events
 * skip the outbox: see PullEventBuffer): in one transaction it takes the oldest
 * unrelayed rows (SKIP LOCKED, so several processes relay side by side), writes the
 * pending deliveries they make (one per event and matching subscription, see
 * PendingDeliveries) and marks the rows relayed; after the commit it queues a job per
 * new delivery, in one addBulk.
 *
 * Nothing is lost at any step. While Redis is unreachable no row is taken: events
 * wait in the outbox. A crash before the commit leaves the rows unrelayed (a second
 * run names the same deliveries: their ids derive from webhook and first event). A crash or
 * a Redis failure between the commit and the queueing leaves pending deliveries
 * without a job, which the sweeper queues. Queueing outside the transaction keeps
 * row locks (and, on the embedded database, its only connection) from waiting on Redis.
 *
 * It runs every `relayIntervalMs` and at once when the outbox says a transaction
 * with events committed.
 */
@Injectable()
export class OutboxRelay {
  private readonly logger = new Logger('Notifications');
  private readonly task: PeriodicTask;

  constructor(
    private readonly dataSource: DataSource,
    private readonly queue: BullmqDeliveryQueue,
    private readonly deliveries: PendingDeliveries,
    @Inject(NOTIFICATIONS_OPTIONS) options: ResolvedNotificationsOptions,
  ) {
    this.task = new PeriodicTask('the outbox relay', options.relayIntervalMs, () => this.drain(), this.logger);
  }

  start(): void {
    this.task.start();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  /** New events committed: relay them now rather than at the next tick. */
  wake(): void {
    this.task.trigger();
  }

  /** Relays until the outbox is empty (or Redis goes away). */
  async drain(): Promise<void> {
    while ((await this.relayBatch()) === BATCH_SIZE);
  }

  /** Relays one batch; returns how many outbox rows it took. */
  async relayBatch(): Promise<number> {
    if (!this.queue.ready) return 0;
    let jobs: DeliveryJob[] = [];
    const taken = await this.dataSource.transaction(async (manager) => {
      const rows: { id: string; payload: RegistryEvent }[] = await manager.query(
        `SELECT id, payload FROM event_outbox WHERE relayed_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [BATCH_SIZE],
      );
      if (!rows.length) return 0;
      jobs = await this.deliveries.write(manager, rows.map((r) => r.payload));
      await manager.query(`UPDATE event_outbox SET relayed_at = now() WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
      return rows.length;
    });
    try {
      await this.queue.add(jobs);
    } catch (err) {
      this.logger.warn(`could not queue ${jobs.length} deliveries (${err.message}): the sweeper queues them once Redis answers`);
    }
    return taken;
  }
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { NOTIFICATIONS_OPTIONS, type ResolvedNotificationsOptions } from '../notifications-options.js';
import { PeriodicTask } from '../periodic-task.js';
import { BullmqDeliveryQueue, type DeliveryJob } from '../queue/bullmq-delivery-queue.js';
import type { RegistryEvent } from '../registry-event.js';
import { deliveryId } from './delivery-id.js';
import { planDeliveries } from './delivery-plan.js';
import { type Subscription, SubscriptionMatcher } from './subscription-matcher.js';

/**
 * Outbox rows per transaction. Large, so that a steady pull load (written by the pull
 * buffer in flushes of up to as many events) becomes a few deliveries of up to
 * MAX_EVENTS_PER_DELIVERY events each.
 */
const BATCH_SIZE = 1000;

const ENABLED_SUBSCRIPTIONS = `
  SELECT w.id, n.name AS namespace, w.actions, w.ignored_media_types AS "ignoredMediaTypes",
         w.repository_pattern AS "repositoryPattern", w.max_attempts AS "maxAttempts"
    FROM webhooks w LEFT JOIN namespaces n ON n.id = w.namespace_id
   WHERE w.enabled`;

/**
 * Moves events from the outbox to deliveries: in one transaction it takes the oldest
 * unrelayed rows (SKIP LOCKED, so several processes relay side by side), writes the
 * pending deliveries they make (see planDeliveries: a push, mount or delete event is
 * one delivery per matching subscription; the pull events of the batch are one
 * delivery per subscription, of up to 500 events) in one INSERT and marks the rows
 * relayed; after the commit it queues a job per new delivery, in one addBulk.
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
      const matchers = ((await manager.query(ENABLED_SUBSCRIPTIONS)) as Subscription[]).map((s) => new SubscriptionMatcher(s));
      const planned = planDeliveries(rows.map((r) => r.payload), matchers).map((d) => ({ ...d, id: deliveryId(d.webhookId, d.events[0].id) }));
      if (planned.length) {
        // One statement for the whole batch. A delivery is named after its subscription
        // and its first event: a relay that runs again over the same rows names it again.
        const inserted: { id: string }[] = await manager.query(
          `INSERT INTO webhook_deliveries (id, webhook_id, event_id, action, payload, status, next_attempt_at)
           SELECT d.id, d.webhook_id, d.event_id, d.action, d.payload, 'pending', now()
             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::jsonb[]) AS d(id, webhook_id, event_id, action, payload)
           ON CONFLICT (webhook_id, event_id) DO NOTHING
           RETURNING id`,
          [
            planned.map((d) => d.id),
            planned.map((d) => d.webhookId),
            planned.map((d) => d.events[0].id),
            planned.map((d) => d.events[0].action),
            planned.map((d) => JSON.stringify(d.batch ? d.events : d.events[0])),
          ],
        );
        const created = new Set(inserted.map((d) => d.id));
        jobs = planned.filter((d) => created.has(d.id)).map((d) => ({ deliveryId: d.id, attempts: d.maxAttempts }));
      }
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

import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { NOTIFICATIONS_OPTIONS, type ResolvedNotificationsOptions } from '../notifications-options.js';
import { PeriodicTask } from '../periodic-task.js';
import { BullmqDeliveryQueue, type DeliveryJob } from '../queue/bullmq-delivery-queue.js';
import type { RegistryEvent } from '../registry-event.js';
import { deliveryId } from './delivery-id.js';
import { type Subscription, SubscriptionMatcher } from './subscription-matcher.js';

const BATCH_SIZE = 100;

const ENABLED_SUBSCRIPTIONS = `
  SELECT w.id, n.name AS namespace, w.actions, w.ignored_media_types AS "ignoredMediaTypes",
         w.repository_pattern AS "repositoryPattern", w.max_attempts AS "maxAttempts"
    FROM webhooks w LEFT JOIN namespaces n ON n.id = w.namespace_id
   WHERE w.enabled`;

/**
 * Moves events from the outbox to deliveries: in one transaction it takes the oldest
 * unrelayed rows (SKIP LOCKED, so several processes relay side by side), writes one
 * pending delivery per matching subscription and marks the rows relayed; after the
 * commit it queues a job per new delivery.
 *
 * Nothing is lost at any step. While Redis is unreachable no row is taken: events
 * wait in the outbox. A crash before the commit leaves the rows unrelayed (a second
 * run names the same deliveries: their ids derive from webhook and event). A crash or
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
      const matches = rows.flatMap(({ payload: event }) => matchers.filter((m) => m.matches(event)).map((m) => ({ event, subscription: m.subscription })));
      if (matches.length) {
        const inserted: { id: string; webhook_id: string }[] = await manager.query(
          `INSERT INTO webhook_deliveries (id, webhook_id, event_id, action, payload, status, next_attempt_at)
           SELECT d.id, d.webhook_id, d.event_id, d.action, d.payload, 'pending', now()
             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::jsonb[]) AS d(id, webhook_id, event_id, action, payload)
           ON CONFLICT (webhook_id, event_id) DO NOTHING
           RETURNING id, webhook_id`,
          [
            matches.map((m) => deliveryId(m.subscription.id, m.event.id)),
            matches.map((m) => m.subscription.id),
            matches.map((m) => m.event.id),
            matches.map((m) => m.event.action),
            matches.map((m) => JSON.stringify(m.event)),
          ],
        );
        const budget = new Map(matchers.map((m) => [m.subscription.id, m.subscription.maxAttempts]));
        jobs = inserted.map((d) => ({ deliveryId: d.id, attempts: budget.get(d.webhook_id) as number }));
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

import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { DeliveryJob } from '../queue/bullmq-delivery-queue.js';
import type { RegistryEvent } from '../registry-event.js';
import { deliveryId } from './delivery-id.js';
import { planDeliveries } from './delivery-plan.js';
import { type Subscription, SubscriptionMatcher } from './subscription-matcher.js';

const ENABLED_SUBSCRIPTIONS = `
  SELECT w.id, n.name AS namespace, w.actions, w.ignored_media_types AS "ignoredMediaTypes",
         w.repository_pattern AS "repositoryPattern", w.max_attempts AS "maxAttempts"
    FROM webhooks w LEFT JOIN namespaces n ON n.id = w.namespace_id
   WHERE w.enabled`;

/**
 * Turns events into pending delivery rows, for the outbox relay (push, mount and
 * delete events) and the pull buffer (pull events, which skip the outbox). A
 * delivery is named after its subscription and its first event, so writing the same
 * events twice (a relay that runs again after a crash) names the same deliveries and
 * inserts nothing new. Returns the jobs to queue for the deliveries it created.
 */
@Injectable()
export class PendingDeliveries {
  async write(manager: EntityManager, events: RegistryEvent[]): Promise<DeliveryJob[]> {
    if (!events.length) return [];
    const matchers = ((await manager.query(ENABLED_SUBSCRIPTIONS)) as Subscription[]).map((s) => new SubscriptionMatcher(s));
    const planned = planDeliveries(events, matchers).map((d) => ({ ...d, id: deliveryId(d.webhookId, d.events[0].id) }));
    if (!planned.length) return [];
    // One statement for all of them.
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
    return planned.filter((d) => created.has(d.id)).map((d) => ({ deliveryId: d.id, attempts: d.maxAttempts }));
  }
}

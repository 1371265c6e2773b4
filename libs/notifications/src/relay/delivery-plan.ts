import type { RegistryEvent } from '../registry-event.js';
import type { SubscriptionMatcher } from './subscription-matcher.js';

/** Pull events sent together in one delivery (one POST `{"events":[…]}`) at most. */
export const MAX_EVENTS_PER_DELIVERY = 500;

/** The action whose events are batched: one delivery per subscription per relayed batch. */
export const BATCHED_ACTION = 'pull';

/** One delivery the relay writes: a subscription and the events it carries, oldest first. */
export interface PlannedDelivery {
  webhookId: string;
  maxAttempts: number;
  /** What it carries, oldest first; the delivery's `event_id` and `action` are the first event's. */
  events: RegistryEvent[];
  /** A batch of pull events: its payload is the array of them (even of one); any other payload is the one event itself. */
  batch: boolean;
}

/**
 * Which deliveries a batch of outbox events (oldest first) makes. A push, mount or
 * delete event is a delivery of its own for each subscription that takes it, so its
 * ordering and per-event retries are unchanged. The pull events that one subscription
 * takes are gathered into deliveries of up to MAX_EVENTS_PER_DELIVERY events: a
 * steady pull load costs a few large POSTs rather than one per pull. Deliveries are
 * listed in the order of their first event.
 */
export function planDeliveries(events: RegistryEvent[], matchers: SubscriptionMatcher[], maxPerDelivery = MAX_EVENTS_PER_DELIVERY): PlannedDelivery[] {
  const planned: PlannedDelivery[] = [];
  const openBatches = new Map<string, PlannedDelivery>();
  for (const event of events) {
    for (const { subscription } of matchers.filter((m) => m.matches(event))) {
      if (event.action !== BATCHED_ACTION) {
        planned.push({ webhookId: subscription.id, maxAttempts: subscription.maxAttempts, events: [event], batch: false });
        continue;
      }
      let batch = openBatches.get(subscription.id);
      if (!batch || batch.events.length >= maxPerDelivery) {
        batch = { webhookId: subscription.id, maxAttempts: subscription.maxAttempts, events: [], batch: true };
        openBatches.set(subscription.id, batch);
        planned.push(batch);
      }
      batch.events.push(event);
    }
  }
  return planned;
}

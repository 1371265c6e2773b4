import type { EntityManager } from 'typeorm';
import type { EventContext, EventDraft } from './registry-event.js';

/**
 * The contract the registry's services use to emit events (implemented in this library).
 * `record` writes push/mount/delete events in the caller's transaction (the outbox);
 * `recordPull` queues a pull event off the request path. Both do nothing when
 * notifications are off (no REDIS_URL).
 */
export abstract class EventOutbox {
  abstract readonly enabled: boolean;
  abstract record(manager: EntityManager, context: EventContext, drafts: EventDraft[]): Promise<void>;
  abstract recordPull(context: EventContext, draft: EventDraft): void;
}

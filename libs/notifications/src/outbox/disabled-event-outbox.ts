import { EventOutbox } from '../event-outbox.js';

/** Notifications are off (no REDIS_URL): events cost nothing and are not kept. */
export class DisabledEventOutbox extends EventOutbox {
  readonly enabled = false;

  async record(): Promise<void> {}

  recordPull(): void {}
}

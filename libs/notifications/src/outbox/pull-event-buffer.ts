import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { OutboxRelay } from '../relay/outbox.relay.js';
import type { RegistryEvent } from '../registry-event.js';

const FLUSH_AFTER_MS = 250;
/** As many as the relay takes in one batch: a full flush is relayed as one batch (see OutboxRelay). */
const FLUSH_AT_EVENTS = 1000;
/** Events waiting for a slow or absent database beyond this are dropped, not hoarded. */
const MAX_WAITING_EVENTS = 10_000;

/**
 * Pull events, written to the outbox off the request path: buffered and inserted in
 * one statement every 250 ms or 1000 events (the relay then sends them to each
 * subscription together, in deliveries of up to 500 events). A pull never waits for
 * this and never fails because of it; a failed insert is logged and its events are dropped.
 *
 * The trade-off, accepted for pulls only: a process that dies loses the pull events
 * of its last flush window (at most 250 ms). Pushes and deletes are written in the
 * transaction of the change itself.
 *
 * Rows are written only while some enabled subscription takes pull events, so a
 * registry whose subscribers ignore pulls does not store one row per pull.
 */
@Injectable()
export class PullEventBuffer {
  private readonly logger = new Logger('Notifications');
  private events: RegistryEvent[] = [];
  private waiting = 0;
  private timer?: NodeJS.Timeout;
  private writes: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly relay: OutboxRelay,
  ) {}

  push(event: RegistryEvent): void {
    if (this.closed || this.waiting + this.events.length >= MAX_WAITING_EVENTS) return;
    this.events.push(event);
    if (this.events.length >= FLUSH_AT_EVENTS) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_AFTER_MS);
      this.timer.unref();
    }
  }

  /** Writes what is buffered; resolves once every write so far has finished. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.events;
    this.events = [];
    if (batch.length) {
      this.waiting += batch.length;
      this.writes = this.writes.then(() => this.write(batch)).finally(() => (this.waiting -= batch.length));
    }
    return this.writes;
  }

  /** At shutdown: writes what is buffered; pulls served after this are not recorded. */
  close(): Promise<void> {
    this.closed = true;
    return this.flush();
  }

  private async write(batch: RegistryEvent[]): Promise<void> {
    try {
      await this.dataSource.query(
        `INSERT INTO event_outbox (event_id, payload)
         SELECT e.event_id, e.payload FROM unnest($1::uuid[], $2::jsonb[]) AS e(event_id, payload)
          WHERE EXISTS (SELECT 1 FROM webhooks WHERE enabled AND (actions IS NULL OR 'pull' = ANY (actions)))`,
        [batch.map((e) => e.id), batch.map((e) => JSON.stringify(e))],
      );
      this.relay.wake();
    } catch (err) {
      this.logger.warn(`dropped ${batch.length} pull events: ${err.message}`);
    }
  }
}

import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BullmqDeliveryQueue, type DeliveryJob } from '../queue/bullmq-delivery-queue.js';
import type { RegistryEvent } from '../registry-event.js';
import { PendingDeliveries } from '../relay/pending-deliveries.js';

const FLUSH_AFTER_MS = 250;
/** Two full deliveries (MAX_EVENTS_PER_DELIVERY) per subscription that takes every pull. */
const FLUSH_AT_EVENTS = 1000;
/** Events waiting for a slow or absent database beyond this are dropped, not hoarded. */
const MAX_WAITING_EVENTS = 10_000;

/**
 * Pull events, recorded off the request path and outside the outbox: buffered, then
 * every 250 ms (or 1000 events) written straight as pending deliveries, one per
 * subscription that takes them, of up to 500 events each (one INSERT), and queued.
 * A pull never waits for this and never fails because of it. Skipping the outbox
 * spares every pull an outbox row, a relay read and a relayed update: a busy
 * registry serves thousands of pulls a second.
 *
 * The trade-off, accepted for pulls only: a process that dies loses the pull events
 * not yet written (its last flush window, more while the database is slow), a failed
 * write (database down) is logged and its events dropped, and beyond 10,000 waiting
 * events new ones are dropped and counted in the log. Pushes and deletes are written
 * in the transaction of the change itself. Once written, a pull delivery is as safe
 * as any other: if Redis does not take its job, the sweeper queues it later; the
 * queueing is not waited for, so a slow Redis never holds up the next write.
 *
 * Without an enabled subscription that takes pulls, a flush writes nothing.
 */
@Injectable()
export class PullEventBuffer {
  private readonly logger = new Logger('Notifications');
  private events: RegistryEvent[] = [];
  private waiting = 0;
  /** Events refused since the last flush because too many were waiting. */
  private dropped = 0;
  private timer?: NodeJS.Timeout;
  private writes: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly deliveries: PendingDeliveries,
    private readonly queue: BullmqDeliveryQueue,
  ) {}

  push(event: RegistryEvent): void {
    if (this.closed) return;
    if (this.waiting + this.events.length >= MAX_WAITING_EVENTS) this.dropped++;
    else this.events.push(event);
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
    if (this.dropped) {
      this.logger.warn(`dropped ${this.dropped} pull events: ${MAX_WAITING_EVENTS} were waiting for the database`);
      this.dropped = 0;
    }
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
    let jobs: DeliveryJob[];
    try {
      jobs = await this.deliveries.write(this.dataSource.manager, batch);
    } catch (err) {
      this.logger.warn(`dropped ${batch.length} pull events: ${err.message}`);
      return;
    }
    // While Redis is away the deliveries wait in Postgres for the sweeper.
    if (!this.queue.ready) return;
    this.queue.add(jobs).catch((err: Error) => {
      this.logger.warn(`could not queue ${jobs.length} pull deliveries (${err.message}): the sweeper queues them once Redis answers`);
    });
  }
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { NOTIFICATIONS_OPTIONS, type ResolvedNotificationsOptions } from '../notifications-options.js';
import { PeriodicTask } from '../periodic-task.js';
import { BullmqDeliveryQueue } from '../queue/bullmq-delivery-queue.js';

const PAGE_SIZE = 500;
const PAGES_PER_SWEEP = 10;

/**
 * Queues again the deliveries that are due but have no job that will run: the relay
 * or a redelivery committed and then failed to queue (crash, Redis outage), or Redis
 * lost its data (restarted without persistence), or a job ran out of attempts
 * without its row being told (the database was down then). Jobs are named after
 * their delivery, so queueing a delivery that does have a job changes nothing; the
 * sweeper still asks first, to leave running jobs and their attempt budgets alone.
 *
 * A re-created job gets the attempts the delivery has left, at least one: its row
 * counts every attempt ever made, including those of earlier redeliveries.
 */
@Injectable()
export class DeliverySweeper {
  private readonly logger = new Logger('Notifications');
  private readonly task: PeriodicTask;
  /** Where the next page starts: a long backlog is walked through over several sweeps. */
  private cursor = '00000000-0000-0000-0000-000000000000';

  constructor(
    private readonly dataSource: DataSource,
    private readonly queue: BullmqDeliveryQueue,
    @Inject(NOTIFICATIONS_OPTIONS) private readonly options: ResolvedNotificationsOptions,
  ) {
    this.task = new PeriodicTask('the delivery sweeper', options.sweepIntervalMs, () => this.sweep(), this.logger);
  }

  start(): void {
    this.task.start(this.options.sweepIntervalMs);
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  /** Returns how many deliveries it queued again. */
  async sweep(): Promise<number> {
    let requeued = 0;
    for (let page = 0; page < PAGES_PER_SWEEP && this.queue.ready; page++) {
      const due: { id: string; attempts: number; max_attempts: number }[] = await this.dataSource.query(
        `SELECT d.id, d.attempts, w.max_attempts FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
          WHERE d.status IN ('pending', 'failed') AND d.id > $1
            AND COALESCE(d.next_attempt_at, d.updated_at) < now() - $2 * interval '1 millisecond'
          ORDER BY d.id LIMIT $3`,
        [this.cursor, this.options.sweepGraceMs, PAGE_SIZE],
      );
      this.cursor = due.length === PAGE_SIZE ? due[due.length - 1].id : '00000000-0000-0000-0000-000000000000';
      const live = await Promise.all(due.map((d) => this.queue.hasLiveJob(d.id)));
      const orphans = due.filter((_, i) => !live[i]);
      await this.queue.add(
        orphans.map((d) => ({ deliveryId: d.id, attempts: Math.max(1, d.max_attempts - d.attempts) })),
        { replace: true },
      );
      requeued += orphans.length;
      if (due.length < PAGE_SIZE) break;
    }
    if (requeued) this.logger.log(`queued ${requeued} due deliveries that had no job`);
    return requeued;
  }
}

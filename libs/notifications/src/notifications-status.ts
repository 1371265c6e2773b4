import { Inject, Injectable, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { NOTIFICATIONS_OPTIONS, type ResolvedNotificationsOptions } from './notifications-options.js';
import { BullmqDeliveryQueue, type QueueCounts } from './queue/bullmq-delivery-queue.js';

/** What the admin API shows of the notifications runtime. */
export interface NotificationsStatusView {
  enabled: boolean;
  /** Why notifications are off; absent when they are on. */
  reason?: string;
  /** Whether this process sends deliveries (RUN_WORKERS, or the worker app). */
  workers: boolean;
  /** The rest only when on. */
  redis?: 'reachable' | 'unreachable';
  /** BullMQ job counts; absent while Redis is unreachable. */
  queue?: QueueCounts;
  /** Events not yet relayed to deliveries. */
  outboxBacklog?: number;
  deliveries?: { pending: number; failed: number; dead: number };
}

@Injectable()
export class NotificationsStatus {
  constructor(
    private readonly config: BerthConfig,
    @Inject(NOTIFICATIONS_OPTIONS) private readonly options: ResolvedNotificationsOptions,
    private readonly dataSource: DataSource,
    @Optional() private readonly queue?: BullmqDeliveryQueue,
  ) {}

  /** BullMQ job counts; undefined without REDIS_URL or while Redis is unreachable. */
  async queueCounts(): Promise<QueueCounts | undefined> {
    return this.queue?.ready ? this.queue.counts().catch(() => undefined) : undefined;
  }

  /** Throws unless Redis answers PING; only meaningful with REDIS_URL set. */
  async pingRedis(): Promise<void> {
    if (!this.queue) throw new Error('notifications are off: REDIS_URL is not set');
    await this.queue.ping();
  }

  async read(): Promise<NotificationsStatusView> {
    if (!this.config.redisUrl || !this.queue) {
      return { enabled: false, reason: 'REDIS_URL is not set: events are not recorded and webhooks are not delivered', workers: false };
    }
    const [[backlog], byStatus, queue] = await Promise.all([
      this.dataSource.query(`SELECT count(*)::int AS count FROM event_outbox WHERE relayed_at IS NULL`) as Promise<{ count: number }[]>,
      this.dataSource.query(`SELECT status, count(*)::int AS count FROM webhook_deliveries WHERE status <> 'succeeded' GROUP BY status`) as Promise<
        { status: string; count: number }[]
      >,
      this.queue.ready ? this.queue.counts().catch(() => undefined) : undefined,
    ]);
    const count = (status: string) => byStatus.find((r) => r.status === status)?.count ?? 0;
    return {
      enabled: true,
      workers: this.options.workers,
      redis: queue ? 'reachable' : 'unreachable',
      ...(queue ? { queue } : {}),
      outboxBacklog: backlog.count,
      deliveries: { pending: count('pending'), failed: count('failed'), dead: count('dead') },
    };
  }
}

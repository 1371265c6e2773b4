import { Inject, Injectable, Logger } from '@nestjs/common';
import { type JobState, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { DeliveryQueue } from '../delivery-queue.js';
import { NOTIFICATIONS_OPTIONS, type ResolvedNotificationsOptions } from '../notifications-options.js';
import { DELIVERY_BACKOFF_TYPE, DELIVERY_JOB_NAME, DELIVERY_QUEUE_NAME, type DeliveryJobData } from './delivery-job.js';
import { closeRedisClient, createRedisClient } from './redis-client.js';

/** One job to create: which delivery, and how many attempts it may make. */
export interface DeliveryJob {
  deliveryId: string;
  attempts: number;
}

export type QueueCounts = Record<'waiting' | 'active' | 'delayed' | 'completed' | 'failed', number>;

/** Job states in which a job will still run: its delivery needs no new job. */
const LIVE_STATES = new Set<JobState | 'unknown'>(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * The BullMQ producer. A job id is the delivery id, so queueing a delivery twice
 * makes one job; only a redelivery (or the sweeper replacing a finished job) makes
 * a new one. Finished jobs are kept a while for inspection only: the history lives
 * in Postgres.
 */
@Injectable()
export class BullmqDeliveryQueue extends DeliveryQueue {
  readonly enabled = true;
  private readonly logger = new Logger('Notifications');
  private client?: Redis;
  private queue?: Queue<DeliveryJobData>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly config: BerthConfig,
    @Inject(NOTIFICATIONS_OPTIONS) private readonly options: ResolvedNotificationsOptions,
  ) {
    super();
  }

  open(): void {
    // Commands fail at once (or after 5 s on a hung link) while Redis is away instead of
    // piling up in memory: the callers keep the truth in Postgres and come back later.
    this.client = createRedisClient(this.config.redisUrl as string, 'queue', this.logger, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 5000,
    });
    this.queue = new Queue<DeliveryJobData>(DELIVERY_QUEUE_NAME, { connection: this.client });
    // The client already reports outages, once each.
    this.queue.on('error', () => undefined);
  }

  async close(): Promise<void> {
    await this.queue?.close().catch(() => undefined);
    if (this.client) await closeRedisClient(this.client);
    this.queue = undefined;
    this.client = undefined;
  }

  /** Whether Redis answers now; the relay takes outbox rows only then. */
  get ready(): boolean {
    return this.client?.status === 'ready';
  }

  /**
   * Never fails for want of Redis: the deliveries stay pending in Postgres and the
   * sweeper queues them once Redis answers again.
   */
  async enqueue(deliveryIds: string[], options: { redelivery?: boolean } = {}): Promise<void> {
    if (!deliveryIds.length) return;
    const redelivery = options.redelivery === true;
    const rows: { id: string; attempts: number; max_attempts: number }[] = redelivery
      ? (
          await this.dataSource.query(
            `UPDATE webhook_deliveries d SET status = 'pending', next_attempt_at = now(), updated_at = now()
               FROM webhooks w WHERE w.id = d.webhook_id AND d.id = ANY($1::uuid[])
             RETURNING d.id, d.attempts, w.max_attempts`,
            [deliveryIds],
          )
        )[0]
      : await this.dataSource.query(
          `SELECT d.id, d.attempts, w.max_attempts FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = ANY($1::uuid[])`,
          [deliveryIds],
        );
    // A redelivery gets a fresh attempt budget; otherwise the budget is what is left.
    const jobs = rows.map((r) => ({ deliveryId: r.id, attempts: redelivery ? r.max_attempts : Math.max(1, r.max_attempts - r.attempts) }));
    try {
      await this.add(jobs, { replace: redelivery });
    } catch (err) {
      this.logger.warn(`could not queue ${jobs.length} deliveries (${err.message}): they stay pending until Redis answers`);
    }
  }

  /**
   * Creates the jobs. With `replace`, a finished job of the same delivery is removed
   * first so that the new one is not taken for a duplicate of it; while an attempt is
   * running, the new job gets an id of its own.
   */
  async add(jobs: DeliveryJob[], { replace = false }: { replace?: boolean } = {}): Promise<void> {
    if (!jobs.length) return;
    const queue = this.requireQueue();
    const jobIds = replace ? await Promise.all(jobs.map((job) => this.freeJobId(queue, job.deliveryId))) : jobs.map((job) => job.deliveryId);
    await queue.addBulk(
      jobs.map((job, i) => ({
        name: DELIVERY_JOB_NAME,
        data: { deliveryId: job.deliveryId },
        opts: {
          jobId: jobIds[i],
          attempts: job.attempts,
          backoff: { type: DELIVERY_BACKOFF_TYPE, delay: this.options.retryBaseDelayMs },
          removeOnComplete: { age: 24 * 3600, count: 1000 },
          removeOnFail: { age: 7 * 24 * 3600, count: 5000 },
        },
      })),
    );
  }

  /** Whether the delivery's job will still run (the sweeper asks before replacing it). */
  async hasLiveJob(deliveryId: string): Promise<boolean> {
    return LIVE_STATES.has(await this.requireQueue().getJobState(deliveryId));
  }

  async counts(): Promise<QueueCounts> {
    const counts = await this.requireQueue().getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
    return { waiting: counts.waiting ?? 0, active: counts.active ?? 0, delayed: counts.delayed ?? 0, completed: counts.completed ?? 0, failed: counts.failed ?? 0 };
  }

  private async freeJobId(queue: Queue<DeliveryJobData>, deliveryId: string): Promise<string> {
    await queue.remove(deliveryId);
    return (await queue.getJobState(deliveryId)) === 'unknown' ? deliveryId : `${deliveryId}-r${Date.now()}`;
  }

  /** BullMQ would wait for a connection that is not there; fail at once instead. */
  private requireQueue(): Queue<DeliveryJobData> {
    if (!this.queue || !this.ready) throw new Error('Redis is unreachable');
    return this.queue;
  }
}

import { InjectQueue, getQueueToken } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, type Provider } from '@nestjs/common';
import { type JobState, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import type { BerthConfig } from '@berth/config';
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
  private readonly client: Redis;

  constructor(
    @InjectQueue(DELIVERY_QUEUE_NAME) private readonly queue: Queue<DeliveryJobData>,
    private readonly dataSource: DataSource,
    @Inject(NOTIFICATIONS_OPTIONS) private readonly options: ResolvedNotificationsOptions,
  ) {
    super();
    // The client that deliveryQueueConnection() made for BullModule: the queue shares
    // it (and leaves it open), its state says whether Redis answers, and it is ours to close.
    const { connection } = queue.opts;
    if (!(connection instanceof Redis)) throw new Error('the delivery queue was not given its Redis client (see deliveryQueueConnection)');
    this.client = connection;
  }

  /**
   * Lets the queue go (before @nestjs/bullmq would at application shutdown, which
   * then has nothing left to do), then its client.
   */
  async close(): Promise<void> {
    await this.queue.close().catch(() => undefined);
    await closeRedisClient(this.client);
  }

  /** Whether Redis answers now; the relay takes outbox rows only then. */
  get ready(): boolean {
    return this.client.status === 'ready';
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

  /** Throws unless Redis answers PING on the queue's client (the readiness probe). */
  async ping(): Promise<void> {
    if (!this.ready) throw new Error('Redis is unreachable');
    await this.client.ping();
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
    if (!this.ready) throw new Error('Redis is unreachable');
    return this.queue;
  }
}

/**
 * The shared BullMQ configuration (BullModule.forRootAsync): the queue's client.
 * Commands fail at once (or after 5 s on a hung link) while Redis is away instead of
 * piling up in memory: the callers keep the truth in Postgres and come back later.
 * The delivery worker has a client of its own (see webhookDeliveryProcessor).
 */
export function deliveryQueueConnection(config: BerthConfig): { connection: Redis } {
  return {
    connection: createRedisClient(config.redisUrl as string, 'queue', new Logger('Notifications'), {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 5000,
    }),
  };
}

/**
 * Silences the queue's 'error' events (its client already reports outages, once
 * each) from the moment BullModule creates it: BullmqDeliveryQueue is created only
 * once the database is ready, and BullMQ prints an error event nobody listens to.
 */
export const DELIVERY_QUEUE_ERRORS: Provider = {
  provide: Symbol('DELIVERY_QUEUE_ERRORS'),
  inject: [getQueueToken(DELIVERY_QUEUE_NAME)],
  useFactory: (queue: Queue) => queue.on('error', () => undefined),
};

import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { BerthConfig } from '@berth/config';
import { closeRedisClient, createRedisClient } from '@berth/notifications';
import { MAINTENANCE_QUEUE, MAINTENANCE_TASKS } from './maintenance-job.js';
import { MaintenanceTasks } from './maintenance-tasks.js';

const RETRY_MS = 30_000;

/**
 * Keeps the BullMQ job schedulers in step with the configuration, from start-up on
 * (retrying while Redis is away): one repeatable job per task (upsertJobScheduler is
 * idempotent, so every worker process may do it), removed when its schedule is `off`.
 * BullMQ creates each occurrence once, and one worker takes it.
 */
@Injectable()
export class MaintenanceScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('GC');
  private readonly client: Redis;
  private retry?: NodeJS.Timeout;
  private closed = false;

  constructor(
    @InjectQueue(MAINTENANCE_QUEUE) private readonly queue: Queue,
    @Inject(MaintenanceTasks) private readonly tasks: MaintenanceTasks,
  ) {
    const { connection } = queue.opts;
    if (!(connection instanceof Redis)) throw new Error('the maintenance queue was not given its Redis client (see maintenanceQueueConnection)');
    this.client = connection;
    // The client reports outages, once each.
    queue.on('error', () => undefined);
  }

  /** Not awaited: start-up must not wait for Redis. */
  onApplicationBootstrap(): void {
    this.client.connect().catch(() => undefined);
    void this.apply();
  }

  /** Lets the queue go (before @nestjs/bullmq would, which then has nothing left to do), then its client. */
  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    await this.queue.close().catch(() => undefined);
    await closeRedisClient(this.client);
  }

  private async apply(): Promise<void> {
    try {
      const schedules = this.tasks.schedules();
      for (const task of MAINTENANCE_TASKS) {
        const pattern = schedules[task];
        if (pattern === null) await this.queue.removeJobScheduler(task);
        else {
          await this.queue.upsertJobScheduler(
            task,
            { pattern, tz: 'UTC' },
            { name: task, data: {}, opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
          );
        }
      }
    } catch (err) {
      if (this.closed) return;
      this.logger.warn(`could not set the maintenance schedule (${(err as Error).message}); retrying in ${RETRY_MS / 1000} s`);
      this.retry = setTimeout(() => void this.apply(), RETRY_MS);
      this.retry.unref();
    }
  }
}

/**
 * The maintenance queue's configuration (BullModule.forRootAsync under its own key): a
 * client of its own whose commands fail at once while Redis is away instead of piling
 * up; the scheduler retries.
 */
export function maintenanceQueueConnection(config: BerthConfig): { connection: Redis } {
  return {
    connection: createRedisClient(config.redisUrl as string, 'maintenance-queue', new Logger('GC'), {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 5000,
    }),
  };
}

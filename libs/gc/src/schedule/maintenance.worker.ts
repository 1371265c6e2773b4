import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { BerthConfig } from '@berth/config';
import { closeRedisClient, closeWorker, createRedisClient } from '@berth/notifications';
import { MAINTENANCE_QUEUE, MAINTENANCE_TASKS, type MaintenanceTask } from './maintenance-job.js';
import { MaintenanceTasks } from './maintenance-tasks.js';

/** How long a running job may go on at shutdown (an interrupted collection ends well before). */
const CLOSE_GRACE_MS = 10_000;

/**
 * The BullMQ worker of the maintenance queue, where workers run: one job at a time.
 * Made here rather than by a @nestjs/bullmq @Processor so that it has a client of its
 * own (BullMQ workers wait on Redis indefinitely) and so that closing, before the
 * database goes, lets a running job finish (a collection stops at its next step) and
 * never waits for a Redis that is gone.
 */
@Injectable()
export class MaintenanceWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('GC');
  private readonly client: Redis;
  private worker?: Worker;

  constructor(
    @Inject(BerthConfig) config: BerthConfig,
    @Inject(MaintenanceTasks) private readonly tasks: MaintenanceTasks,
  ) {
    this.client = createRedisClient(config.redisUrl as string, 'maintenance-worker', this.logger, { lazyConnect: true, maxRetriesPerRequest: null });
  }

  onApplicationBootstrap(): void {
    this.worker = new Worker(
      MAINTENANCE_QUEUE,
      async (job) => {
        if (!(MAINTENANCE_TASKS as readonly string[]).includes(job.name)) throw new Error(`unknown maintenance job ${job.name}`);
        return this.tasks.run(job.name as MaintenanceTask);
      },
      { connection: this.client, concurrency: 1 },
    );
    // The client reports outages, once each.
    this.worker.on('error', () => undefined);
  }

  async onModuleDestroy(): Promise<void> {
    // Nest destroys this worker before the GC service: stop a scheduled collection first, so its job ends now.
    await this.tasks.interrupt();
    if (this.worker) await closeWorker(this.worker, this.client, CLOSE_GRACE_MS);
    await closeRedisClient(this.client);
  }
}

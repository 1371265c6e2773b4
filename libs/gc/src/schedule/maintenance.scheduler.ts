import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { MAINTENANCE_QUEUE, MAINTENANCE_TASKS } from './maintenance-job.js';
import { MaintenanceTasks } from './maintenance-tasks.js';

/**
 * Keeps the BullMQ job schedulers in step with the configuration at start-up: one
 * repeatable job per task (upsertJobScheduler is idempotent, so every worker process
 * may do it), removed when its schedule is `off`. BullMQ creates each occurrence once, and
 * one worker takes it, however many processes run.
 */
@Injectable()
export class MaintenanceScheduler implements OnApplicationBootstrap {
  private readonly logger = new Logger('GC');
  private lastError = '';

  constructor(
    @InjectQueue(MAINTENANCE_QUEUE) private readonly queue: Queue,
    @Inject(MaintenanceTasks) private readonly tasks: MaintenanceTasks,
  ) {
    // Reported once per distinct error: an outage must not flood the log.
    queue.on('error', (err) => {
      if (err.message !== this.lastError) this.logger.warn(`maintenance queue: ${err.message}`);
      this.lastError = err.message;
    });
  }

  /** Not awaited: start-up must not wait for Redis. */
  onApplicationBootstrap(): void {
    void this.apply().catch((err: Error) => this.logger.error(`could not set the maintenance schedule: ${err.message}`));
  }

  private async apply(): Promise<void> {
    const schedules = this.tasks.schedules();
    for (const task of MAINTENANCE_TASKS) {
      const pattern = schedules[task];
      if (pattern === null) {
        await this.queue.removeJobScheduler(task);
        continue;
      }
      await this.queue.upsertJobScheduler(
        task,
        { pattern, tz: 'UTC' },
        { name: task, data: {}, opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
      );
    }
  }
}

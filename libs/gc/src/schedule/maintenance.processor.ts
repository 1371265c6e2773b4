import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import { MAINTENANCE_CONFIG_KEY, MAINTENANCE_QUEUE, MAINTENANCE_TASKS, type MaintenanceTask } from './maintenance-job.js';
import { MaintenanceTasks } from './maintenance-tasks.js';

/** Runs the scheduled jobs; registered only where workers run. */
@Processor({ name: MAINTENANCE_QUEUE, configKey: MAINTENANCE_CONFIG_KEY })
export class MaintenanceProcessor extends WorkerHost {
  private readonly logger = new Logger('GC');
  private lastError = '';

  constructor(@Inject(MaintenanceTasks) private readonly tasks: MaintenanceTasks) {
    super();
  }

  async process(job: Job): Promise<unknown> {
    if (!(MAINTENANCE_TASKS as readonly string[]).includes(job.name)) throw new Error(`unknown maintenance job ${job.name}`);
    return this.tasks.run(job.name as MaintenanceTask);
  }

  /** Reported once per distinct error: an outage must not flood the log. */
  @OnWorkerEvent('error')
  onError(err: Error): void {
    if (err.message !== this.lastError) this.logger.warn(`maintenance worker: ${err.message}`);
    this.lastError = err.message;
  }
}

import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { CronPattern } from '@berth/core';
import { MAINTENANCE_TASKS, type MaintenanceTask } from './maintenance-job.js';
import { MaintenanceTasks } from './maintenance-tasks.js';

/**
 * Without Redis (the single-process default) the process that runs the workers follows
 * the schedules itself: a timer checks the patterns every second. Several such
 * processes on one database still run one collection at a time (GcLock); the upload
 * purge is harmless to repeat.
 */
@Injectable()
export class InProcessScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('GC');
  private timer?: NodeJS.Timeout;
  private readonly lastFired = new Map<MaintenanceTask, number>();
  private readonly active = new Map<MaintenanceTask, Promise<unknown>>();

  constructor(@Inject(MaintenanceTasks) private readonly tasks: MaintenanceTasks) {}

  onApplicationBootstrap(): void {
    const schedules = this.tasks.schedules();
    const patterns = MAINTENANCE_TASKS.flatMap((task) => (schedules[task] ? [[task, CronPattern.parse(schedules[task])] as const] : []));
    if (!patterns.length) return;
    this.logger.log(`no REDIS_URL: this process runs ${patterns.map(([task, p]) => `${task} at "${p.source}"`).join(' and ')} (UTC)`);
    this.timer = setInterval(() => {
      const now = new Date();
      const second = Math.floor(now.getTime() / 1000);
      for (const [task, pattern] of patterns) {
        if (this.lastFired.get(task) === second || this.active.has(task) || !pattern.matches(now)) continue;
        this.lastFired.set(task, second);
        const running = this.tasks
          .run(task)
          .catch((err: Error) => this.logger.error(`scheduled ${task} failed: ${err.message}`))
          .finally(() => this.active.delete(task));
        this.active.set(task, running);
      }
    }, 1000);
    this.timer.unref();
  }

  /** Before the database closes: a running task finishes (a collection stops at its next step). */
  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.active.values());
  }
}

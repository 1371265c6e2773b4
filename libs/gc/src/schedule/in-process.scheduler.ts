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
  private readonly active = new Map<MaintenanceTask, Promise<unknown>>();

  constructor(@Inject(MaintenanceTasks) private readonly tasks: MaintenanceTasks) {}

  onApplicationBootstrap(): void {
    const schedules = this.tasks.schedules();
    const patterns = MAINTENANCE_TASKS.flatMap((task) => (schedules[task] ? [[task, CronPattern.parse(schedules[task])] as const] : []));
    if (!patterns.length) return;
    this.logger.log(`no REDIS_URL: this process runs ${patterns.map(([task, p]) => `${task} at "${p.source}"`).join(' and ')} (UTC)`);
    // Every second since the last tick is checked: a late tick (timers drift, a busy
    // loop) must not skip the one second a pattern matches.
    let checked = Math.floor(Date.now() / 1000);
    this.timer = setInterval(() => {
      const now = Math.floor(Date.now() / 1000);
      const from = Math.max(checked + 1, now - 59);
      checked = now;
      for (const [task, pattern] of patterns) {
        if (this.active.has(task)) continue;
        let due = false;
        for (let second = from; second <= now && !due; second++) due = pattern.matches(new Date(second * 1000));
        if (!due) continue;
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

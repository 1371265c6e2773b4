import { BullModule } from '@nestjs/bullmq';
import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import type { BerthConfig } from '@berth/config';
import { GarbageCollector } from './garbage-collector.js';
import { GcLock } from './gc-lock.js';
import { GcRunService } from './gc-runs.service.js';
import { UploadPurger } from './upload-purger.js';
import { InProcessScheduler } from './schedule/in-process.scheduler.js';
import { MAINTENANCE_CONFIG_KEY, MAINTENANCE_QUEUE, redisConnection } from './schedule/maintenance-job.js';
import { MaintenanceProcessor } from './schedule/maintenance.processor.js';
import { MaintenanceScheduler } from './schedule/maintenance.scheduler.js';
import { MaintenanceTasks } from './schedule/maintenance-tasks.js';

export interface GcModuleOptions {
  /** Run the scheduled jobs in this process; default RUN_WORKERS. The CLI says false. */
  workers?: boolean;
}

/**
 * Garbage collection and the upload purge, on demand (GcRunService, UploadPurger) and on
 * a schedule. With REDIS_URL: a BullMQ queue of its own (its own connection
 * configuration, beside the webhook queue's); where workers run, its job schedulers are
 * set from the configuration and its worker takes the jobs. Without it: an in-process
 * timer where workers run. Needs the DataSource, BerthConfig and STORAGE_DRIVER (global).
 */
@Module({})
export class GcModule {
  static forRoot(config: BerthConfig, options: GcModuleOptions = {}): DynamicModule {
    const workers = options.workers ?? config.runWorkers;
    const imports: DynamicModule[] = [];
    const providers: Provider[] = [GarbageCollector, GcLock, GcRunService, UploadPurger, MaintenanceTasks];
    if (config.redisUrl) {
      const redisUrl = config.redisUrl;
      imports.push(
        BullModule.forRootAsync(MAINTENANCE_CONFIG_KEY, { useFactory: () => ({ connection: redisConnection(redisUrl) }) }),
        BullModule.registerQueue({ name: MAINTENANCE_QUEUE, configKey: MAINTENANCE_CONFIG_KEY }),
      );
      if (workers) providers.push(MaintenanceScheduler, MaintenanceProcessor);
    } else if (workers) {
      providers.push(InProcessScheduler);
    }
    return { module: GcModule, global: true, imports, providers, exports: [GcRunService, UploadPurger] };
  }
}

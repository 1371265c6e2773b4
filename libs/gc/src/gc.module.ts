import { BullModule } from '@nestjs/bullmq';
import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import type { BerthConfig } from '@berth/config';
import { GarbageCollector } from './garbage-collector.js';
import { GcLock } from './gc-lock.js';
import { GcRunService } from './gc-runs.service.js';
import { GcRunStore } from './gc-run.store.js';
import { UploadPurger } from './upload-purger.js';
import { BlobRowStore } from './blob-row.store.js';
import { BlobVerifier } from './verify/blob-verifier.js';
import { PendingCompletionStore } from './pending-completion.store.js';
import { ReviewQueueStore } from './review-queue.store.js';
import { CandidateStore } from './candidate.store.js';
import { VerifyRunStore } from './verify/verify-run.store.js';
import { VerifyRunService } from './verify/verify-runs.service.js';
import { InProcessScheduler } from './schedule/in-process.scheduler.js';
import { MAINTENANCE_CONFIG_KEY, MAINTENANCE_QUEUE } from './schedule/maintenance-job.js';
import { MaintenanceScheduler, maintenanceQueueConnection } from './schedule/maintenance.scheduler.js';
import { MaintenanceWorker } from './schedule/maintenance.worker.js';
import { MaintenanceTasks } from './schedule/maintenance-tasks.js';

export interface GcModuleOptions {
  /** Run the scheduled jobs in this process; default RUN_WORKERS. The CLI says false. */
  workers?: boolean;
}

/**
 * Garbage collection and the upload purge, on demand (GcRunService, UploadPurger) and,
 * where workers run, on a schedule; the integrity check on demand (VerifyRunService). With REDIS_URL: a BullMQ queue of its own (its own
 * connection configuration, beside the webhook queue's) whose job schedulers are set
 * from the configuration and whose worker takes the jobs; its Redis clients are this
 * module's own and closed by it, so an outage never holds up start-up or shutdown.
 * Without Redis: an in-process timer. Needs the DataSource, BerthConfig and
 * STORAGE_DRIVER (global).
 */
@Module({})
export class GcModule {
  static forRoot(config: BerthConfig, options: GcModuleOptions = {}): DynamicModule {
    const workers = options.workers ?? config.runWorkers;
    const imports: DynamicModule[] = [];
    const providers: Provider[] = [
      GarbageCollector,
      GcLock,
      GcRunService,
      GcRunStore,
      UploadPurger,
      MaintenanceTasks,
      BlobRowStore,
      BlobVerifier,
      PendingCompletionStore,
      ReviewQueueStore,
      CandidateStore,
      VerifyRunStore,
      VerifyRunService,
    ];
    if (config.redisUrl && workers) {
      imports.push(
        BullModule.forRootAsync(MAINTENANCE_CONFIG_KEY, { useFactory: () => maintenanceQueueConnection(config) }),
        BullModule.registerQueue({ name: MAINTENANCE_QUEUE, configKey: MAINTENANCE_CONFIG_KEY }),
      );
      providers.push(MaintenanceScheduler, MaintenanceWorker);
    } else if (workers) {
      providers.push(InProcessScheduler);
    }
    return { module: GcModule, global: true, imports, providers, exports: [GcRunService, UploadPurger, VerifyRunService] };
  }
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import { BerthConfig } from '@berth/config';
import { GcAlreadyRunningError } from '../gc-run.js';
import { GcRunService } from '../gc-runs.service.js';
import { UploadPurger } from '../upload-purger.js';
import type { MaintenanceTask } from './maintenance-job.js';

/** What a scheduled job does, whichever scheduler (BullMQ or the in-process timer) fired it. */
@Injectable()
export class MaintenanceTasks {
  private readonly logger = new Logger('GC');

  constructor(
    @Inject(BerthConfig) private readonly config: BerthConfig,
    @Inject(GcRunService) private readonly runs: GcRunService,
    @Inject(UploadPurger) private readonly purger: UploadPurger,
  ) {}

  /** The pattern of each task, null when it is `off`. */
  schedules(): Record<MaintenanceTask, string | null> {
    return { gc: this.config.gc.schedule, 'purge-uploads': this.config.gc.uploadPurgeSchedule };
  }

  /** At shutdown: a scheduled collection under way stops at its next step, so that its job ends. */
  interrupt(): Promise<void> {
    return this.runs.interrupt();
  }

  async run(task: MaintenanceTask): Promise<unknown> {
    if (this.config.readOnly) {
      this.logger.log(`scheduled ${task === 'gc' ? 'garbage collection' : 'upload purge'} skipped: the registry is in read-only mode`);
      return null;
    }
    if (task === 'purge-uploads') return this.purger.purge();
    try {
      const { done } = await this.runs.start('schedule', { dryRun: false, deleteUntagged: this.config.gc.deleteUntagged });
      return await done;
    } catch (err) {
      if (!(err instanceof GcAlreadyRunningError)) throw err;
      this.logger.log('scheduled garbage collection skipped: another run is going on');
      return null;
    }
  }
}

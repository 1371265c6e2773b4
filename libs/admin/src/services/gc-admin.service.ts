import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { type GcOptions, GcAlreadyRunningError, type GcRun, GcRunService, type RunPage } from '@berth/gc';
import { AuditService, type ChangeContext, type PageRequest, actorName } from '../auth.js';

/** Garbage collection as administrators start and follow it; a start is audited. */
@Injectable()
export class GcAdminService {
  constructor(
    private readonly runs: GcRunService,
    private readonly audit: AuditService,
  ) {}

  /** Starts a run that goes on in the background; 409 while another one runs. */
  async start(options: GcOptions, ctx: ChangeContext): Promise<GcRun> {
    try {
      const { run } = await this.runs.start('api', options, typeof ctx.actor === 'string' ? ctx.actor : actorName(ctx.actor));
      await this.audit.record({ ...ctx, action: 'gc.start', target: `gc:${run.id}`, detail: { ...options } });
      return run;
    } catch (err) {
      if (err instanceof GcAlreadyRunningError) throw new ConflictException(err.message);
      throw err;
    }
  }

  list(page: PageRequest): Promise<RunPage> {
    return this.runs.list(page.page, page.perPage);
  }

  async get(id: string): Promise<GcRun> {
    const run = await this.runs.get(id);
    if (!run) throw new NotFoundException(`garbage collection run ${id} not found`);
    return run;
  }
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { GcLock, VERIFY_LOCK } from '../gc-lock.js';
import { BlobVerifier } from './blob-verifier.js';
import { VerifyAlreadyRunningError, type VerifyFinding, type VerifyOptions, type VerifyProgress, VerifyReadOnlyError, type VerifyRun } from './verify-run.js';
import { type FindingCount, VerifyRunStore } from './verify-run.store.js';

export interface VerifyReport {
  run: VerifyRun;
  /** Whether this call continued an interrupted run rather than starting one. */
  resumed: boolean;
  /** An interrupted run given up for a fresh one (another --repair setting, or --restart). */
  abandoned: string | null;
  counts: FindingCount[];
  /** Up to `limit` findings, by kind and digest. */
  findings: VerifyFinding[];
  /** Problems left: everything but repaired orphans and files cut to length (a repaired bad blob still has to be pushed again). */
  remaining: number;
}

export interface VerifyStart {
  run: VerifyRun;
  resumed: boolean;
  abandoned: string | null;
}

/**
 * Integrity check runs, one at a time (an advisory lock of its own: it runs beside a
 * garbage collection, whose deletions it re-checks under the digest's lock). An
 * interrupted run (stopped, failed, or its process gone) is continued by the next
 * start with the same --repair setting; --restart, or another setting, gives it up.
 */
@Injectable()
export class VerifyRunService {
  private readonly logger = new Logger('Verify');

  constructor(
    @Inject(BerthConfig) private readonly config: BerthConfig,
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(GcLock) private readonly lock: GcLock,
    @Inject(VerifyRunStore) private readonly runs: VerifyRunStore,
    @Inject(BlobVerifier) private readonly verifier: BlobVerifier,
  ) {}

  /**
   * Runs to the end, or until `signal` aborts; the run is then `interrupted` and the
   * next call continues it. `onStart` hears which run goes on. Throws
   * VerifyAlreadyRunningError, or VerifyReadOnlyError for --repair in read-only mode.
   */
  async run(
    options: VerifyOptions,
    signal: AbortSignal,
    progress: (p: VerifyProgress) => void,
    onStart: (start: VerifyStart) => void = () => undefined,
    limit = 100,
  ): Promise<VerifyReport> {
    if (this.config.readOnly && options.repair) throw new VerifyReadOnlyError();
    const release = await this.lock.tryAcquire(VERIFY_LOCK);
    if (!release) throw new VerifyAlreadyRunningError();
    try {
      const start = await this.begin(options);
      onStart(start);
      this.logger.log(`verify run ${start.run.id} ${start.resumed ? 'resumed' : 'started'}${options.repair ? ' (repair)' : ''}`);
      let run: VerifyRun;
      try {
        run = await this.verifier.verify(start.run, signal, progress);
        run = await this.runs.finish(this.dataSource.manager, run.id, null);
      } catch (err) {
        const message = signal.aborted ? String((signal.reason as Error)?.message ?? 'interrupted') : (err as Error).message;
        this.logger.error(`verify run ${start.run.id} stopped: ${message}`);
        run = await this.runs.finish(this.dataSource.manager, start.run.id, message);
      }
      return { ...(await this.report(run, limit)), resumed: start.resumed, abandoned: start.abandoned };
    } finally {
      await release();
    }
  }

  /** Holding the lock: continue the interrupted run when it has the same setting, else start one. */
  private begin(options: VerifyOptions): Promise<VerifyStart> {
    return this.dataSource.transaction(async (m) => {
      await this.runs.interruptDead(m);
      const interrupted = await this.runs.latestInterrupted(m);
      if (interrupted && !options.restart && interrupted.repair === options.repair) {
        return { run: await this.runs.resume(m, interrupted.id), resumed: true, abandoned: null };
      }
      await this.runs.abandonInterrupted(m);
      return { run: await this.runs.create(m, options.repair), resumed: false, abandoned: interrupted?.id ?? null };
    });
  }

  private async report(run: VerifyRun, limit: number): Promise<Omit<VerifyReport, 'resumed' | 'abandoned'>> {
    const counts = await this.runs.countFindings(this.dataSource.manager, run.id);
    const findings = await this.runs.findings(this.dataSource.manager, run.id, limit);
    const remaining = await this.runs.remaining(this.dataSource.manager, run.id);
    return { run, counts, findings, remaining };
  }
}

import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';

/** First key of the two-key advisory lock that only the running collection holds ('gc'). */
const GC_LOCK = 0x6763;

/** The same for the running integrity check ('vf'): it runs beside a collection, never beside another check. */
export const VERIFY_LOCK = 0x7666;

/**
 * One garbage collection (or one integrity check) at a time across every process: a
 * session-level advisory lock held on a connection of its own for the whole run (it
 * goes with the connection if the process dies). The embedded database belongs to one
 * process and serves one connection, so there a flag in memory is the lock.
 */
@Injectable()
export class GcLock {
  private readonly heldInProcess = new Set<number>();

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(BerthConfig) private readonly config: BerthConfig,
  ) {}

  /** A release function, or null when another run holds the lock. */
  async tryAcquire(key: number = GC_LOCK): Promise<(() => Promise<void>) | null> {
    if (!this.config.database.url) {
      if (this.heldInProcess.has(key)) return null;
      this.heldInProcess.add(key);
      return async () => {
        this.heldInProcess.delete(key);
      };
    }
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }]: { locked: boolean }[] = await runner.query('SELECT pg_try_advisory_lock($1, 0) AS locked', [key]);
      if (!locked) {
        await runner.release();
        return null;
      }
    } catch (err) {
      await runner.release();
      throw err;
    }
    return async () => {
      await runner.query('SELECT pg_advisory_unlock($1, 0)', [key]).catch(() => undefined);
      await runner.release();
    };
  }
}

import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/** A failure counter whose window is still open. */
export interface FailureCount {
  key: string;
  failures: number;
  /** Seconds until the window ends. */
  retryAfter: number;
}

/** SQL of the login_failures table: failure counters per key in a fixed window. */
@Injectable()
export class LoginFailureStore {
  async open(manager: EntityManager, keys: string[], windowSeconds: number): Promise<FailureCount[]> {
    return manager.query(
      `SELECT key, failures, ceil(extract(epoch FROM window_start + make_interval(secs => $2) - now()))::int AS "retryAfter"
         FROM login_failures WHERE key = ANY($1) AND window_start > now() - make_interval(secs => $2)`,
      [keys, windowSeconds],
    );
  }

  /** Counts one failure on each key, starting a new window where the last one has ended; the counts after it. */
  async count(manager: EntityManager, keys: string[], windowSeconds: number): Promise<FailureCount[]> {
    return manager.query(
      `INSERT INTO login_failures (key, failures, window_start)
         SELECT unnest($1::text[]), 1, now()
       ON CONFLICT (key) DO UPDATE SET
         failures = CASE WHEN login_failures.window_start <= now() - make_interval(secs => $2) THEN 1 ELSE login_failures.failures + 1 END,
         window_start = CASE WHEN login_failures.window_start <= now() - make_interval(secs => $2) THEN now() ELSE login_failures.window_start END,
         changed_xid = pg_current_xact_id()
       RETURNING key, failures, ceil(extract(epoch FROM window_start + make_interval(secs => $2) - now()))::int AS "retryAfter"`,
      [keys, windowSeconds],
    );
  }

  async clear(manager: EntityManager, key: string): Promise<void> {
    await manager.query('DELETE FROM login_failures WHERE key = $1', [key]);
  }
}

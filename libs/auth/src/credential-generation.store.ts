import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/** A subject whose tokens can be revoked: `user:<id>` or `robot:<id>` (ids are never reused). */
export type Subject = `user:${string}` | `robot:${string}`;

export interface GenerationChanges {
  /** Subjects and their current generation. */
  changes: [Subject, number][];
  /** Throttle keys (`pair:…`, see LoginThrottleService) of (account, address) pairs that failed to log in since the last read. */
  failedPairs: string[];
  /** Pass back to the next read: every change not returned now has a transaction id at or above it. */
  horizon: string;
}

/** SQL of the credential_generations table: a revocation moves a subject's generation on. */
@Injectable()
export class CredentialGenerationStore {
  private readonly bumpListeners: ((subjects: Subject[]) => void)[] = [];

  /** Called with the subjects of every bump made in this process, before its transaction commits. */
  onBump(listener: (subjects: Subject[]) => void): void {
    this.bumpListeners.push(listener);
  }

  /**
   * Moves each subject to its next generation, in the caller's transaction: `grants`
   * revokes its registry tokens, `credentials` its refresh and admin API tokens too.
   */
  async bump(manager: EntityManager, subjects: Subject[], what: 'grants' | 'credentials'): Promise<void> {
    if (!subjects.length) return;
    await manager.query(
      `INSERT INTO credential_generations (subject, generation, credential_generation) SELECT DISTINCT unnest($1::text[]), 1, $2::int
       ON CONFLICT (subject) DO UPDATE SET generation = credential_generations.generation + 1,
         credential_generation = credential_generations.credential_generation + $2::int, changed_xid = pg_current_xact_id()`,
      [subjects, what === 'credentials' ? 1 : 0],
    );
    for (const listener of this.bumpListeners) listener(subjects);
  }

  /** Revokes the registry tokens of every member and robot of a namespace (before it is deleted). */
  async bumpNamespace(manager: EntityManager, namespaceId: string): Promise<void> {
    const rows: { subject: Subject }[] = await manager.query(
      `SELECT 'user:' || user_id AS subject FROM memberships WHERE namespace_id = $1
       UNION ALL SELECT 'robot:' || id FROM robots WHERE namespace_id = $1`,
      [namespaceId],
    );
    await this.bump(manager, rows.map((r) => r.subject), 'grants');
  }

  /**
   * Changes since `horizon` (all generations without one; failed pairs only with one, as
   * nothing verified before the first read is remembered). One statement, so the rows and
   * the horizon come from one snapshot: a transaction not visible in it is still running
   * (its id is at or above the snapshot's xmin) and is read next time. The login failures
   * ride along because they invalidate verified logins as revocations do.
   */
  async changedSince(manager: EntityManager, horizon: string | undefined): Promise<GenerationChanges> {
    const [row]: { horizon: string; changes: [Subject, number][]; failedPairs: string[] }[] = await manager.query(
      `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon,
              (SELECT COALESCE(json_agg(json_build_array(subject, generation)), '[]'::json) FROM credential_generations
                WHERE $1::xid8 IS NULL OR changed_xid >= $1::xid8) AS changes,
              (SELECT COALESCE(json_agg(key), '[]'::json) FROM login_failures
                WHERE $1::xid8 IS NOT NULL AND changed_xid >= $1::xid8 AND key LIKE 'pair:%') AS "failedPairs"`,
      [horizon ?? null],
    );
    return row;
  }
}

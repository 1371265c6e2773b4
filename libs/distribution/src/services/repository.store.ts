import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/** Outcome of inserting a repository: its id, or why there is none yet. */
export type RepositoryInsert = { id: number } | { missing: 'namespace' | 'row' };

/** What a push into a repository needs first, read in one statement; undefined when the namespace does not exist. */
export interface PushTarget {
  /** Undefined until the repository's first push creates it. */
  repositoryId?: number;
  quota: NamespaceQuota;
}

/** A namespace's quota (null: none), its running count and, only with a quota, the bytes its open sessions stage. */
export interface NamespaceQuota {
  quotaBytes: number | null;
  quotaCountedBytes: number | null;
  stagedBytes: number;
}

/** The SQL of the repositories aggregate, run on the caller's manager (its transaction). */
@Injectable()
export class RepositoryStore {
  async findId(manager: EntityManager, name: string): Promise<number | undefined> {
    const rows: { id: string }[] = await manager.query('SELECT id FROM repositories WHERE name = $1', [name]);
    return rows.length ? Number(rows[0].id) : undefined;
  }

  /**
   * Inserts the repository only while its namespace exists, holding the namespace row
   * (FOR KEY SHARE) until the transaction ends: a namespace being deleted (FOR UPDATE)
   * either sees the repository or makes this insert find no namespace. Never an orphan.
   * `row` missing: a concurrent transaction inserted the name after this statement's snapshot.
   */
  async insertInNamespace(manager: EntityManager, name: string, namespace: string): Promise<RepositoryInsert> {
    const [row]: { inserted: string | null; existing: string | null; namespace_found: boolean }[] = await manager.query(
      `WITH ns AS (SELECT id FROM namespaces WHERE name = $2 FOR KEY SHARE),
            inserted AS (INSERT INTO repositories (name) SELECT $1 FROM ns ON CONFLICT (name) DO NOTHING RETURNING id)
       SELECT (SELECT id FROM inserted) AS inserted, (SELECT id FROM repositories WHERE name = $1) AS existing,
              EXISTS (SELECT 1 FROM ns) AS namespace_found`,
      [name, namespace],
    );
    const id = row.inserted ?? row.existing;
    if (id !== null) return { id: Number(id) };
    return { missing: row.namespace_found ? 'row' : 'namespace' };
  }

  /** The repository's id (when it exists) and its namespace's quota figures, unlocked. */
  async pushTarget(manager: EntityManager, name: string, namespace: string): Promise<PushTarget | undefined> {
    const [row]: { repository_id: string | null; quota_bytes: string | null; quota_counted_bytes: string | null; staged_bytes: string | null }[] =
      await manager.query(
        `SELECT (SELECT id FROM repositories WHERE name = $2) AS repository_id, n.quota_bytes, n.quota_counted_bytes,
                CASE WHEN n.quota_bytes IS NOT NULL THEN (SELECT COALESCE(sum(size), 0) FROM uploads WHERE namespace = $1) END AS staged_bytes
           FROM namespaces n WHERE n.name = $1`,
        [namespace, name],
      );
    if (!row) return undefined;
    return {
      repositoryId: row.repository_id === null ? undefined : Number(row.repository_id),
      quota: {
        quotaBytes: row.quota_bytes === null ? null : Number(row.quota_bytes),
        quotaCountedBytes: row.quota_counted_bytes === null ? null : Number(row.quota_counted_bytes),
        stagedBytes: Number(row.staged_bytes ?? 0),
      },
    };
  }
}

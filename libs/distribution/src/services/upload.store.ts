import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { blobDigestLock } from './blob-lock.js';

/** A session as a request that claimed it sees it, with what its namespace's quota needs. */
export interface ClaimedUpload {
  repositoryId: number;
  namespace: string;
  size: number;
  /** The blob its bytes were verified to be, once a completion got as far as moving them. */
  digest: string | null;
  /** Null when the namespace has no quota; the rest is only read when it has one. */
  quotaBytes: number | null;
  quotaCountedBytes: number | null;
  /** Bytes staged in the namespace's other sessions. */
  stagedBytes: number;
}

export interface OpenedUpload {
  opened: boolean;
  accountSessions: number;
  namespaceSessions: number;
}

/** SQL of the `uploads` aggregate: upload sessions, their claims, and what they stage. */
@Injectable()
export class UploadStore {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Opens a session unless its account or namespace already has the most open sessions
   * allowed; one statement either way. The counts stop at the limits, so they cost at
   * most that many index entries (two requests racing may both pass the last free place).
   */
  async open(
    session: { id: string; repositoryId: number; namespace: string; account: string },
    limits: { perAccount: number; perNamespace: number },
    manager: EntityManager = this.dataSource.manager,
  ): Promise<OpenedUpload> {
    const [row]: { account_sessions: string; namespace_sessions: string; opened: string }[] = await manager.query(
      `WITH counts AS (
         SELECT (SELECT count(*) FROM (SELECT 1 FROM uploads WHERE account = $4 LIMIT $5) a) AS account_sessions,
                (SELECT count(*) FROM (SELECT 1 FROM uploads WHERE namespace = $3 LIMIT $6) n) AS namespace_sessions),
       opened AS (
         INSERT INTO uploads (id, repository_id, size, namespace, account)
         SELECT $1, $2, 0, $3, $4 FROM counts WHERE account_sessions < $5 AND namespace_sessions < $6
         RETURNING id)
       SELECT account_sessions, namespace_sessions, (SELECT count(*) FROM opened) AS opened FROM counts`,
      [session.id, session.repositoryId, session.namespace, session.account, limits.perAccount, limits.perNamespace],
    );
    return { opened: row.opened === '1', accountSessions: Number(row.account_sessions), namespaceSessions: Number(row.namespace_sessions) };
  }

  async find(name: string, id: string, manager: EntityManager = this.dataSource.manager): Promise<{ repositoryId: number; size: number } | undefined> {
    const rows: { repository_id: string; size: string }[] = await manager.query(
      `SELECT u.repository_id, u.size FROM uploads u JOIN repositories r ON r.id = u.repository_id
        WHERE u.id = $1 AND r.name = $2`,
      [id, name],
    );
    return rows.length ? { repositoryId: Number(rows[0].repository_id), size: Number(rows[0].size) } : undefined;
  }

  /**
   * Claims session `id` of repository `name` for `writer` (unless another claim is still
   * running): its state, with its namespace's quota and the bytes staged beside it, which
   * are only summed when there is a quota.
   */
  async claim(name: string, id: string, writer: string, seconds: number, manager: EntityManager = this.dataSource.manager): Promise<ClaimedUpload | undefined> {
    const [rows]: [
      {
        repository_id: string;
        namespace: string;
        size: string;
        digest: string | null;
        quota_bytes: string | null;
        quota_counted_bytes: string | null;
        staged_bytes: string | null;
      }[],
      number,
    ] = await manager.query(
      `UPDATE uploads u SET writer = $3, writer_until = now() + make_interval(secs => $4), updated_at = now()
         FROM repositories r LEFT JOIN namespaces n ON n.name = r.namespace
        WHERE u.id = $1 AND r.id = u.repository_id AND r.name = $2 AND (u.writer IS NULL OR u.writer_until < now())
      RETURNING u.repository_id, r.namespace, u.size, u.digest, n.quota_bytes, n.quota_counted_bytes,
                CASE WHEN n.quota_bytes IS NOT NULL THEN
                  (SELECT COALESCE(sum(o.size), 0) FROM uploads o WHERE o.namespace = r.namespace AND o.id <> u.id) END AS staged_bytes`,
      [id, name, writer, seconds],
    );
    if (!rows.length) return undefined;
    const row = rows[0];
    return {
      repositoryId: Number(row.repository_id),
      namespace: row.namespace,
      size: Number(row.size),
      digest: row.digest,
      quotaBytes: row.quota_bytes === null ? null : Number(row.quota_bytes),
      quotaCountedBytes: row.quota_counted_bytes === null ? null : Number(row.quota_counted_bytes),
      stagedBytes: Number(row.staged_bytes ?? 0),
    };
  }

  /** Records the new size and gives the claim up; false when the claim was lost meanwhile. */
  async commitSize(id: string, writer: string, size: number, manager: EntityManager = this.dataSource.manager): Promise<boolean> {
    const [, updated] = (await manager.query(
      'UPDATE uploads SET size = $1, updated_at = now(), writer = NULL, writer_until = NULL WHERE id = $2 AND writer = $3',
      [size, id, writer],
    )) as [unknown, number];
    return updated === 1;
  }

  /** Records the blob the session's `size` bytes were verified to be, keeping the claim; false when it was lost. */
  async recordTarget(id: string, writer: string, digest: string, size: number, manager: EntityManager = this.dataSource.manager): Promise<boolean> {
    const [, updated] = (await manager.query('UPDATE uploads SET digest = $1, size = $2, updated_at = now() WHERE id = $3 AND writer = $4', [
      digest,
      size,
      id,
      writer,
    ])) as [unknown, number];
    return updated === 1;
  }

  async release(id: string, writer: string, manager: EntityManager = this.dataSource.manager): Promise<void> {
    await manager.query('UPDATE uploads SET writer = NULL, writer_until = NULL WHERE id = $1 AND writer = $2', [id, writer]);
  }

  /** Extends the claim; false when it is gone. */
  async renew(id: string, writer: string, seconds: number, manager: EntityManager = this.dataSource.manager): Promise<boolean> {
    const [, updated] = (await manager.query(
      'UPDATE uploads SET writer_until = now() + make_interval(secs => $3), updated_at = now() WHERE id = $1 AND writer = $2',
      [id, writer, seconds],
    )) as [unknown, number];
    return updated === 1;
  }

  /**
   * Bytes staged in the namespace's open sessions, but `except`, and but those completing
   * as `digest` (a blob that will count once, whichever of them links it first).
   */
  async stagedBytes(namespace: string, except: string | null, digest: string | null = null, manager: EntityManager = this.dataSource.manager): Promise<number> {
    const [row]: { staged: string }[] = await manager.query(
      `SELECT COALESCE(sum(size), 0) AS staged FROM uploads
        WHERE namespace = $1 AND id IS DISTINCT FROM $2 AND ($3::text IS NULL OR digest IS DISTINCT FROM $3)`,
      [namespace, except, digest],
    );
    return Number(row.staged);
  }

  /**
   * Inside a completion's transaction, in one statement: holds the repository row
   * (FOR KEY SHARE, as the link insert would later, but before any other lock so that a
   * repository or namespace delete waits for the commit rather than deadlocking with it)
   * and, for a session, its row; then, once they are held, the digest's lock (see
   * lockBlobDigest). False when either row is gone (deleted meanwhile): no digest lock then.
   */
  async lockForCompletion(manager: EntityManager, repositoryId: number, digest: string, session?: string): Promise<boolean> {
    // The CTE's rows come out of its row locks before the outer SELECT takes the digest's lock.
    const rows: unknown[] = session
      ? await manager.query(
          `WITH held AS MATERIALIZED (SELECT 1 FROM repositories r JOIN uploads u ON u.repository_id = r.id WHERE r.id = $1 AND u.id = $3
                                      FOR KEY SHARE OF r FOR UPDATE OF u)
           SELECT ${blobDigestLock('$2')} FROM held`,
          [repositoryId, digest, session],
        )
      : await manager.query(
          `WITH held AS MATERIALIZED (SELECT 1 FROM repositories WHERE id = $1 FOR KEY SHARE)
           SELECT ${blobDigestLock('$2')} FROM held`,
          [repositoryId, digest],
        );
    return rows.length > 0;
  }

  async delete(id: string, manager: EntityManager = this.dataSource.manager): Promise<void> {
    await manager.query('DELETE FROM uploads WHERE id = $1', [id]);
  }
}

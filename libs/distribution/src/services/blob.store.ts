import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

export interface LinkedBlob {
  size: number;
  /** `verify --repair` found its bytes missing or bad: it reads as unknown until uploaded again. */
  missing: boolean;
}

/** blobs and their links into repositories (repository_blobs), as pulls, HEADs and mounts read them. */
@Injectable()
export class BlobStore {
  /** The blob linked in the repository named `name`, or null. */
  async linked(m: EntityManager, name: string, digest: string): Promise<LinkedBlob | null> {
    const rows: { size: string; missing: boolean }[] = await m.query(
      `SELECT b.size, b.missing_since IS NOT NULL AS missing FROM repository_blobs rb
         JOIN repositories r ON r.id = rb.repository_id
         JOIN blobs b ON b.digest = rb.digest
        WHERE r.name = $1 AND rb.digest = $2`,
      [name, digest],
    );
    return rows.length ? { size: Number(rows[0].size), missing: rows[0].missing } : null;
  }

  /**
   * The size of a blob linked in `name` whose bytes are not marked missing, refreshing
   * the link's seen_at when it is older than `refreshAfterSeconds`; null when there is none.
   */
  async touchLinked(m: EntityManager, name: string, digest: string, refreshAfterSeconds: number): Promise<number | null> {
    const rows: { size: string }[] = await m.query(
      `WITH link AS (
         SELECT rb.repository_id, rb.seen_at, b.size FROM repository_blobs rb
           JOIN repositories r ON r.id = rb.repository_id
           JOIN blobs b ON b.digest = rb.digest
          WHERE r.name = $1 AND rb.digest = $2 AND b.missing_since IS NULL),
       touched AS (
         UPDATE repository_blobs rb SET seen_at = now() FROM link
          WHERE rb.repository_id = link.repository_id AND rb.digest = $2 AND link.seen_at < now() - make_interval(secs => $3)
          RETURNING 1)
       SELECT size FROM link WHERE link.seen_at >= now() - make_interval(secs => $3) OR EXISTS (SELECT 1 FROM touched)`,
      [name, digest, refreshAfterSeconds],
    );
    return rows.length ? Number(rows[0].size) : null;
  }

  /** The size of the blob linked in repository `repositoryId`, unless its bytes are marked missing. */
  async mountable(m: EntityManager, repositoryId: number, digest: string): Promise<number | null> {
    const rows: { size: string }[] = await m.query(
      `SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
        WHERE rb.repository_id = $1 AND rb.digest = $2 AND b.missing_since IS NULL`,
      [repositoryId, digest],
    );
    return rows.length ? Number(rows[0].size) : null;
  }

  /** Links (or refreshes the link of) a blob whose row exists and is not marked missing; false when there is none. */
  async link(m: EntityManager, repositoryId: number, digest: string): Promise<boolean> {
    const rows: unknown[] = await m.query(
      `INSERT INTO repository_blobs (repository_id, digest) SELECT $1, digest FROM blobs WHERE digest = $2 AND missing_since IS NULL
       ON CONFLICT (repository_id, digest) DO UPDATE SET seen_at = now() RETURNING 1`,
      [repositoryId, digest],
    );
    return rows.length > 0;
  }

  /** Records the blob (its bytes now at its content address; clears a missing mark) and links it in the repository. */
  async insertLinked(m: EntityManager, repositoryId: number, digest: string, size: number): Promise<void> {
    await m.query(
      `WITH blob AS (INSERT INTO blobs (digest, size) VALUES ($1, $2) ON CONFLICT (digest) DO UPDATE SET missing_since = NULL WHERE blobs.missing_since IS NOT NULL)
       INSERT INTO repository_blobs (repository_id, digest) VALUES ($3, $1) ON CONFLICT (repository_id, digest) DO UPDATE SET seen_at = now()`,
      [digest, size, repositoryId],
    );
  }

  /** The size of a stored blob (in any repository) whose bytes are not marked missing, or null. */
  async storedSize(m: EntityManager, digest: string): Promise<number | null> {
    const rows: { size: string }[] = await m.query(`SELECT size FROM blobs WHERE digest = $1 AND missing_since IS NULL`, [digest]);
    return rows.length ? Number(rows[0].size) : null;
  }
}

import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

export interface BlobRow {
  digest: string;
  size: number;
  /** Marked by a repair as having no good bytes (missing_since): reads answer BLOB_UNKNOWN until an upload stores them. */
  missing: boolean;
}

/** The rows of `blobs` as the integrity check and the orphan sweep read them. */
@Injectable()
export class BlobRowStore {
  /** The next `limit` blobs after `cursor`, in digest order (null: from the first). */
  async after(m: EntityManager, cursor: string | null, limit: number): Promise<BlobRow[]> {
    const rows: { digest: string; size: string; missing: boolean }[] = await m.query(
      `SELECT digest, size::text, missing_since IS NOT NULL AS missing FROM blobs WHERE $1::text IS NULL OR digest > $1 ORDER BY digest LIMIT $2`,
      [cursor, limit],
    );
    return rows.map((r) => ({ digest: r.digest, size: Number(r.size), missing: r.missing }));
  }

  /** The recorded size, or null when the digest has no row. */
  async size(m: EntityManager, digest: string): Promise<number | null> {
    const rows: { size: string }[] = await m.query('SELECT size::text FROM blobs WHERE digest = $1', [digest]);
    return rows.length ? Number(rows[0].size) : null;
  }

  /** Marks (true) or unmarks the blob as having no good bytes in storage. */
  async setMissing(m: EntityManager, digest: string, missing: boolean): Promise<void> {
    await m.query(`UPDATE blobs SET missing_since = CASE WHEN $2 THEN coalesce(missing_since, now()) END WHERE digest = $1`, [digest, missing]);
  }

  /** Those of `digests` that have no row. */
  async withoutRow(m: EntityManager, digests: string[]): Promise<string[]> {
    const rows: { digest: string }[] = await m.query('SELECT digest FROM blobs WHERE digest = ANY($1::text[])', [digests]);
    const known = new Set(rows.map((r) => r.digest));
    return digests.filter((d) => !known.has(d));
  }

  /**
   * Deletes those of `digests` that no link and no manifest reference (the same checks
   * as the candidate search, as of now); the rows deleted.
   */
  async deleteUnreferenced(m: EntityManager, digests: readonly string[]): Promise<{ digest: string; size: number }[]> {
    if (!digests.length) return [];
    const [rows]: [{ digest: string; size: string }[], number] = await m.query(
      `DELETE FROM blobs b WHERE b.digest = ANY($1::text[])
          AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)
          AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.digest = b.digest AND mr.kind = 'blob')
        RETURNING b.digest, b.size::text AS size`,
      [digests],
    );
    return rows.map((r) => ({ digest: r.digest, size: Number(r.size) }));
  }
}

import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/** The review queues' tables, filled by the triggers of migration 1765000000080. */
export type ReviewQueue = 'gc_manifest_reviews' | 'gc_link_reviews' | 'gc_blob_reviews';

/** What the row of a queued key looks like now: gone, seen within the review delay, or past it. */
export type RowState = 'gone' | 'unsettled' | 'settled';

/** One key read from a queue, with the ids of all its entries in the batch read. */
export interface QueuedKey<K> {
  key: K;
  ids: string[];
}

export interface QueuedManifest extends QueuedKey<string> {
  state: RowState;
}

export interface LinkKey {
  repository_id: string;
  digest: string;
}

export interface QueuedLink extends QueuedKey<LinkKey> {
  state: RowState;
}

/** A batch read: its keys and the last entry id read (the cursor of the next batch), null at the end. */
export interface Batch<T> {
  keys: T[];
  last: string | null;
}

const state = (row: string, seen: string, n: number) =>
  `CASE WHEN ${row} IS NULL THEN 'gone' WHEN ${seen} < now() - make_interval(secs => $${n}) THEN 'settled' ELSE 'unsettled' END`;

/**
 * Reads the queues in entry order after a cursor (entries appended during a run come
 * after it, so a run also reviews what its own deletions enqueue) and deletes exactly
 * the entries it was given: an entry appended by a change the collector could not see
 * when it decided stays for the next run.
 */
@Injectable()
export class ReviewQueueStore {
  async manifests(m: EntityManager, after: string, limit: number, delay: number): Promise<Batch<QueuedManifest>> {
    const rows: { key: string; ids: string[]; state: RowState }[] = await m.query(
      `WITH q AS (SELECT id, manifest_id FROM gc_manifest_reviews WHERE id > $1 ORDER BY id LIMIT $2)
       SELECT q.manifest_id::text AS key, array_agg(q.id ORDER BY q.id)::text[] AS ids, ${state('m.id', 'm.seen_at', 3)} AS state
         FROM q LEFT JOIN manifests m ON m.id = q.manifest_id
        GROUP BY q.manifest_id, m.id, m.seen_at ORDER BY min(q.id)`,
      [after, limit, delay],
    );
    return { keys: rows, last: lastId(rows) };
  }

  async links(m: EntityManager, after: string, limit: number, delay: number): Promise<Batch<QueuedLink>> {
    const rows: { repository_id: string; digest: string; ids: string[]; state: RowState }[] = await m.query(
      `WITH q AS (SELECT id, repository_id, digest FROM gc_link_reviews WHERE id > $1 ORDER BY id LIMIT $2)
       SELECT q.repository_id::text, q.digest, array_agg(q.id ORDER BY q.id)::text[] AS ids, ${state('rb.digest', 'rb.seen_at', 3)} AS state
         FROM q LEFT JOIN repository_blobs rb ON rb.repository_id = q.repository_id AND rb.digest = q.digest
        GROUP BY q.repository_id, q.digest, rb.digest, rb.seen_at ORDER BY min(q.id)`,
      [after, limit, delay],
    );
    return { keys: rows.map((r) => ({ key: { repository_id: r.repository_id, digest: r.digest }, ids: r.ids, state: r.state })), last: lastId(rows) };
  }

  async blobs(m: EntityManager, after: string, limit: number): Promise<Batch<QueuedKey<string>>> {
    const rows: { key: string; ids: string[] }[] = await m.query(
      `WITH q AS (SELECT id, digest FROM gc_blob_reviews WHERE id > $1 ORDER BY id LIMIT $2)
       SELECT digest AS key, array_agg(id ORDER BY id)::text[] AS ids FROM q GROUP BY digest ORDER BY min(id)`,
      [after, limit],
    );
    return { keys: rows, last: lastId(rows) };
  }

  /**
   * Drops the entries of manifests gone or held (tagged, in an index of their repository,
   * or a referrer of a subject there) and all but the first entry of each other manifest:
   * a deleteUntagged run then decides one by one only what may go, and a run that keeps
   * untagged manifests (and never reads this queue) keeps it from growing with every push.
   * A manifest that loses its tag, index or subject later is queued again by the triggers;
   * entries appended meanwhile by open transactions are not visible here, so they stay.
   */
  async pruneManifests(m: EntityManager): Promise<void> {
    await m.query(
      `DELETE FROM gc_manifest_reviews q
        WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.id = q.manifest_id)
           OR EXISTS (SELECT 1 FROM manifests m WHERE m.id = q.manifest_id AND (
                EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
                OR EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests p ON p.id = mr.manifest_id
                            WHERE p.repository_id = m.repository_id AND mr.digest = m.digest AND mr.kind = 'manifest')
                OR (m.subject_digest IS NOT NULL
                    AND EXISTS (SELECT 1 FROM manifests s WHERE s.repository_id = m.repository_id AND s.digest = m.subject_digest))))
           OR q.id IN (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY manifest_id ORDER BY id) AS n FROM gc_manifest_reviews) d WHERE d.n > 1)`,
    );
  }

  /**
   * Drops, in one statement per queue and without row locks, the entries of links and blobs
   * that are gone or held (a link its repository's manifests reference; a blob linked or
   * referenced anywhere), so a run decides one by one only what may really go. Safe
   * without locks: whatever lets go of a key later appends a new entry, and entries
   * appended by transactions still open are not visible here.
   */
  async dropHeld(m: EntityManager): Promise<void> {
    await m.query(
      `DELETE FROM gc_link_reviews q
        WHERE NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.repository_id = q.repository_id AND rb.digest = q.digest)
           OR EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests m ON m.id = mr.manifest_id
                       WHERE m.repository_id = q.repository_id AND mr.digest = q.digest AND mr.kind = 'blob')`,
    );
    await m.query(
      `DELETE FROM gc_blob_reviews q
        WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = q.digest)
           OR EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = q.digest)
           OR EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.digest = q.digest AND mr.kind = 'blob')`,
    );
  }

  /** Deletes the given entries (the keys decided). */
  async drop(m: EntityManager, queue: ReviewQueue, ids: readonly string[]): Promise<void> {
    if (ids.length) await m.query(`DELETE FROM ${queue} WHERE id = ANY($1::bigint[])`, [ids]);
  }
}

function lastId(rows: { ids: string[] }[]): string | null {
  let last: bigint | null = null;
  for (const r of rows) for (const id of r.ids) if (last === null || BigInt(id) > last) last = BigInt(id);
  return last === null ? null : String(last);
}

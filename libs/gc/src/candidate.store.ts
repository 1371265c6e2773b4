import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { LinkKey } from './review-queue.store.js';

/**
 * A dry run's checks, over sets of queued keys: the same rules as the collection's
 * per-row deletes, except that what the dry run already counts as gone (`gone*`) no
 * longer holds anything, since a dry run deletes nothing.
 */
@Injectable()
export class CandidateStore {
  /** Those of `ids` a collection would delete: settled, untagged, held by no index and no subject left. */
  manifests(m: EntityManager, ids: string[], goneManifests: string[], delay: number): Promise<{ id: string; digest: string }[]> {
    return m.query(
      `SELECT m.id::text, m.digest FROM manifests m
        WHERE m.id = ANY($1::bigint[]) AND m.seen_at < now() - make_interval(secs => $3)
          AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
          AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests p ON p.id = mr.manifest_id
                           WHERE p.repository_id = m.repository_id AND mr.digest = m.digest AND mr.kind = 'manifest'
                             AND p.id <> ALL($2::bigint[]))
          AND (m.subject_digest IS NULL
               OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository_id = m.repository_id AND s.digest = m.subject_digest
                                AND s.id <> ALL($2::bigint[])))
        ORDER BY m.id`,
      [ids, goneManifests, delay],
    );
  }

  /** What deleting `ids` would enqueue for review: their children and referrers in their repository. */
  async released(m: EntityManager, ids: string[]): Promise<string[]> {
    const rows: { id: string }[] = await m.query(
      `SELECT c.id::text FROM manifests p JOIN manifest_references mr ON mr.manifest_id = p.id AND mr.kind = 'manifest'
         JOIN manifests c ON c.repository_id = p.repository_id AND c.digest = mr.digest
        WHERE p.id = ANY($1::bigint[])
       UNION
       SELECT r.id::text FROM manifests p JOIN manifests r ON r.repository_id = p.repository_id AND r.subject_digest = p.digest
        WHERE p.id = ANY($1::bigint[]) AND r.id <> p.id`,
      [ids],
    );
    return rows.map((r) => r.id);
  }

  /** The blob references of `ids`: as links of their repository, and as blobs. */
  blobReferences(m: EntityManager, ids: string[]): Promise<LinkKey[]> {
    return m.query(
      `SELECT DISTINCT p.repository_id::text, mr.digest FROM manifests p JOIN manifest_references mr ON mr.manifest_id = p.id AND mr.kind = 'blob'
        WHERE p.id = ANY($1::bigint[])`,
      [ids],
    );
  }

  /** Those of `links` (distinct) past the review delay that no manifest outside `goneManifests` references. */
  links(m: EntityManager, links: LinkKey[], goneManifests: string[], delay: number): Promise<LinkKey[]> {
    return m.query(
      `SELECT rb.repository_id::text, rb.digest FROM repository_blobs rb
         JOIN unnest($1::bigint[], $2::text[]) AS k(repository_id, digest) ON k.repository_id = rb.repository_id AND k.digest = rb.digest
        WHERE rb.seen_at < now() - make_interval(secs => $4)
          AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests m ON m.id = mr.manifest_id
                           WHERE m.repository_id = rb.repository_id AND mr.digest = rb.digest AND mr.kind = 'blob'
                             AND mr.manifest_id <> ALL($3::bigint[]))`,
      [links.map((l) => l.repository_id), links.map((l) => l.digest), goneManifests, delay],
    );
  }

  /** Those of `digests` (distinct) with no link outside `goneLinks` and no reference outside `goneManifests`. */
  blobs(m: EntityManager, digests: string[], goneLinks: LinkKey[], goneManifests: string[]): Promise<{ digest: string; size: string }[]> {
    return m.query(
      `SELECT b.digest, b.size::text FROM blobs b
        WHERE b.digest = ANY($1::text[])
          AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest
                             AND (rb.repository_id, rb.digest) NOT IN (SELECT * FROM unnest($2::bigint[], $3::text[])))
          AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.digest = b.digest AND mr.kind = 'blob'
                             AND mr.manifest_id <> ALL($4::bigint[]))
        ORDER BY b.digest`,
      [digests, goneLinks.map((l) => l.repository_id), goneLinks.map((l) => l.digest), goneManifests],
    );
  }
}

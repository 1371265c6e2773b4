import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { lockBlobDigest } from '@berth/distribution';
import { STORAGE_DRIVER, type StorageDriver, blobDataPath, blobDir } from '@berth/storage';
import { type GcOptions, type GcResult, SAMPLE_SIZE, emptyResult } from './gc-result.js';

interface ManifestCandidate {
  id: string;
  digest: string;
}

interface LinkCandidate {
  repository_id: string;
  digest: string;
}

interface BlobCandidate {
  digest: string;
  size: string;
}

const BATCH = 500;
const HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };

/** `seen_at` older than the review delay, in SQL; `$n` is the delay in seconds. */
const settled = (column: string, n: number) => `${column} < now() - make_interval(secs => $${n})`;

/**
 * Online mark-and-sweep over the metadata, while pushes go on. Phases, in order:
 * untagged manifests (optional), blob links no manifest of their repository
 * references, blobs with no link and no reference left, then files in storage whose
 * row is gone. Candidates are found with one query per phase; each is then deleted in a
 * transaction of its own that locks it and checks again that nothing refers to it, so
 * a push that committed in the meantime wins. Nothing seen within the review delay
 * (`seen_at`) is a candidate. A blob's row, then its file, go under the digest's lock
 * that uploads hold from their storage check to their commit (see lockBlobDigest).
 */
@Injectable()
export class GarbageCollector {
  private readonly logger = new Logger('GC');

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(BerthConfig) private readonly config: BerthConfig,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
  ) {}

  /**
   * Counts into `result` as it goes, so a run that fails half-way still tells what it
   * freed. Stops between two deletions when `signal` aborts (shutdown); what is done stays done.
   */
  async collect(options: GcOptions, signal: AbortSignal, result: GcResult = emptyResult()): Promise<GcResult> {
    const delay = this.config.gc.reviewDelaySeconds;

    const manifests = options.deleteUntagged ? await this.unreachableManifests(delay) : [];
    // A dry run deletes nothing, so the later phases must not count what the earlier ones would remove.
    const goneManifests = options.dryRun ? manifests.map((m) => m.id) : [];
    if (options.dryRun) {
      result.manifestsDeleted = manifests.length;
      result.sample.manifests = manifests.slice(0, SAMPLE_SIZE).map((m) => m.digest);
    } else {
      await this.deleteManifests(manifests, delay, signal, (digest) => {
        result.manifestsDeleted++;
        if (result.sample.manifests.length < SAMPLE_SIZE) result.sample.manifests.push(digest);
      });
    }

    const links = await this.unreferencedLinks(delay, goneManifests);
    const goneLinks = options.dryRun ? links : [];
    if (options.dryRun) result.linksDeleted = links.length;
    else {
      for (const link of links) {
        signal.throwIfAborted();
        if (await this.deleteLink(link, delay)) result.linksDeleted++;
      }
    }

    for (const blob of await this.unreferencedBlobs(goneManifests, goneLinks)) {
      signal.throwIfAborted();
      if (!options.dryRun && !(await this.deleteBlob(blob.digest))) continue;
      result.blobsDeleted++;
      result.bytesFreed += Number(blob.size);
      if (result.sample.blobs.length < SAMPLE_SIZE) result.sample.blobs.push(blob.digest);
    }

    for await (const digests of this.storedDigests()) {
      signal.throwIfAborted();
      for (const digest of await this.withoutRow(digests)) {
        const bytes = options.dryRun ? ((await this.storage.stat(blobDataPath(digest)))?.size ?? 0) : await this.deleteOrphanFile(digest);
        if (bytes === null) continue;
        result.orphanFilesDeleted++;
        result.bytesFreed += bytes;
      }
    }
    return result;
  }

  /**
   * Manifests nothing keeps: kept are the tagged ones, those seen within the review
   * delay, and, transitively, the children of a kept index and the referrers (subject)
   * of a kept manifest, within one repository.
   */
  private unreachableManifests(delay: number): Promise<ManifestCandidate[]> {
    return this.dataSource.query(
      `WITH RECURSIVE kept(id) AS (
         SELECT m.id FROM manifests m
          WHERE NOT (${settled('m.seen_at', 1)}) OR EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
         UNION
         SELECT held.id FROM kept k JOIN manifests p ON p.id = k.id
          CROSS JOIN LATERAL (
            SELECT c.id FROM manifest_references mr
              JOIN manifests c ON c.repository_id = p.repository_id AND c.digest = mr.digest
             WHERE mr.manifest_id = p.id AND mr.kind = 'manifest'
            UNION ALL
            SELECT r.id FROM manifests r WHERE r.repository_id = p.repository_id AND r.subject_digest = p.digest
          ) held
       )
       SELECT m.id, m.digest FROM manifests m WHERE NOT EXISTS (SELECT 1 FROM kept WHERE kept.id = m.id)
        ORDER BY m.repository_id, m.digest`,
      [delay],
    );
  }

  /**
   * Deletes in passes: a manifest goes once no tag, no index of its repository and no
   * subject still holds it, so an untagged index and then its children (and a subject,
   * then its referrers) all go in the same run.
   */
  private async deleteManifests(candidates: ManifestCandidate[], delay: number, signal: AbortSignal, deleted: (digest: string) => void): Promise<void> {
    let remaining = candidates;
    while (remaining.length) {
      const held: ManifestCandidate[] = [];
      for (const candidate of remaining) {
        signal.throwIfAborted();
        if (await this.deleteManifest(candidate.id, delay)) deleted(candidate.digest);
        else held.push(candidate);
      }
      if (held.length === remaining.length) break;
      remaining = held;
    }
  }

  /**
   * Locks the row first: a push that tags the manifest, or an index PUT that references
   * it, takes a key-share lock on it and so either commits before the check below
   * (which then sees it) or waits until the row is gone and answers MANIFEST_UNKNOWN.
   */
  private deleteManifest(id: string, delay: number): Promise<boolean> {
    return this.dataSource.transaction(async (manager) => {
      const locked: unknown[] = await manager.query(`SELECT 1 FROM manifests WHERE id = $1 AND ${settled('seen_at', 2)} FOR UPDATE`, [id, delay]);
      if (!locked.length) return false;
      const [rows]: [unknown[], number] = await manager.query(
        `DELETE FROM manifests m WHERE m.id = $1
            AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
            AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests p ON p.id = mr.manifest_id
                             WHERE p.repository_id = m.repository_id AND mr.digest = m.digest AND mr.kind = 'manifest')
            AND (m.subject_digest IS NULL
                 OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository_id = m.repository_id AND s.digest = m.subject_digest))
          RETURNING 1`,
        [id],
      );
      return rows.length > 0;
    });
  }

  /** Links seen before the review delay that no manifest of their repository references. */
  private unreferencedLinks(delay: number, goneManifests: string[]): Promise<LinkCandidate[]> {
    return this.dataSource.query(
      `SELECT rb.repository_id, rb.digest FROM repository_blobs rb
        WHERE ${settled('rb.seen_at', 1)}
          AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests m ON m.id = mr.manifest_id
                           WHERE m.repository_id = rb.repository_id AND mr.digest = rb.digest AND mr.kind = 'blob'
                             AND mr.manifest_id <> ALL($2::bigint[]))
        ORDER BY rb.repository_id, rb.digest`,
      [delay, goneManifests],
    );
  }

  /**
   * Locked first (a manifest PUT key-share-locks the links it checks; an upload or
   * mount that re-links refreshes seen_at, which the lock's re-read sees), then deleted
   * only if still unreferenced, as of after the lock.
   */
  private deleteLink(link: LinkCandidate, delay: number): Promise<boolean> {
    return this.dataSource.transaction(async (manager) => {
      const locked: unknown[] = await manager.query(
        `SELECT 1 FROM repository_blobs WHERE repository_id = $1 AND digest = $2 AND ${settled('seen_at', 3)} FOR UPDATE`,
        [link.repository_id, link.digest, delay],
      );
      if (!locked.length) return false;
      const [rows]: [unknown[], number] = await manager.query(
        `DELETE FROM repository_blobs rb WHERE rb.repository_id = $1 AND rb.digest = $2
            AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests m ON m.id = mr.manifest_id
                             WHERE m.repository_id = rb.repository_id AND mr.digest = rb.digest AND mr.kind = 'blob')
          RETURNING 1`,
        [link.repository_id, link.digest],
      );
      return rows.length > 0;
    });
  }

  /** Blobs linked nowhere and referenced by no manifest (ignoring what a dry run counts as gone). */
  private unreferencedBlobs(goneManifests: string[], goneLinks: LinkCandidate[]): Promise<BlobCandidate[]> {
    return this.dataSource.query(
      `SELECT b.digest, b.size FROM blobs b
        WHERE NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest
                             AND (rb.repository_id, rb.digest) NOT IN (SELECT * FROM unnest($1::bigint[], $2::text[])))
          AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.digest = b.digest AND mr.kind = 'blob'
                             AND mr.manifest_id <> ALL($3::bigint[]))
        ORDER BY b.digest`,
      [goneLinks.map((l) => l.repository_id), goneLinks.map((l) => l.digest), goneManifests],
    );
  }

  /**
   * The row goes first (committed), then the file, each under the digest's lock: an
   * upload of the same digest either committed its row before (the checks keep the
   * blob) or comes after the file is gone (and stores it again). A crash in between
   * leaves a file without a row, which the orphan phase finds.
   */
  private async deleteBlob(digest: string): Promise<boolean> {
    const deleted = await this.dataSource.transaction(async (manager) => {
      await lockBlobDigest(manager, digest);
      const [rows]: [unknown[], number] = await manager.query(
        `DELETE FROM blobs b WHERE b.digest = $1
            AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)
            AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.digest = b.digest AND mr.kind = 'blob')
          RETURNING 1`,
        [digest],
      );
      return rows.length > 0;
    });
    if (deleted) await this.deleteOrphanFile(digest);
    return deleted;
  }

  /** Deletes the blob's files unless its row exists again; the bytes removed, or null when kept. */
  private deleteOrphanFile(digest: string): Promise<number | null> {
    return this.dataSource.transaction(async (manager: EntityManager) => {
      await lockBlobDigest(manager, digest);
      const rows: unknown[] = await manager.query('SELECT 1 FROM blobs WHERE digest = $1', [digest]);
      if (rows.length) return null;
      const size = (await this.storage.stat(blobDataPath(digest)))?.size ?? 0;
      await this.storage.delete(blobDir(digest));
      return size;
    });
  }

  /** The digests of every blob directory in storage, in batches. */
  private async *storedDigests(): AsyncGenerator<string[]> {
    let batch: string[] = [];
    for (const algorithm of await this.storage.list('blobs')) {
      const hexLength = HEX_LENGTH[algorithm];
      if (!hexLength) continue;
      for (const prefix of await this.storage.list(`blobs/${algorithm}`)) {
        for (const hex of await this.storage.list(`blobs/${algorithm}/${prefix}`)) {
          if (hex.length !== hexLength || !/^[a-f0-9]+$/.test(hex) || !hex.startsWith(prefix)) {
            this.logger.warn(`ignoring an unexpected entry in storage: blobs/${algorithm}/${prefix}/${hex}`);
            continue;
          }
          batch.push(`${algorithm}:${hex}`);
          if (batch.length >= BATCH) {
            yield batch;
            batch = [];
          }
        }
      }
    }
    if (batch.length) yield batch;
  }

  private async withoutRow(digests: string[]): Promise<string[]> {
    const rows: { digest: string }[] = await this.dataSource.query('SELECT digest FROM blobs WHERE digest = ANY($1::text[])', [digests]);
    const known = new Set(rows.map((r) => r.digest));
    return digests.filter((d) => !known.has(d));
  }
}

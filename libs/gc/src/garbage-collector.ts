import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { ManifestChanges } from '@berth/database';
import { lockBlobDigest, tryLockBlobDigests } from '@berth/distribution';
import { STORAGE_DRIVER, type StorageDriver, blobDataPath, blobDir } from '@berth/storage';
import { type GcOptions, type GcResult, SAMPLE_SIZE, emptyResult } from './gc-result.js';
import { storedDigests } from './stored-digests.js';
import { BlobRowStore } from './blob-row.store.js';
import { PendingCompletionStore } from './pending-completion.store.js';
import { type LinkKey, type QueuedKey, ReviewQueueStore } from './review-queue.store.js';
import { CandidateStore } from './candidate.store.js';

const BATCH = 500;
/** Blobs deleted per transaction and per storage batch (S3 deletes 1000 keys a request). */
const BLOB_BATCH = 1000;

/** `seen_at` older than the review delay, in SQL; `$n` is the delay in seconds. */
const settled = (column: string, n: number) => `${column} < now() - make_interval(secs => $${n})`;

/**
 * Online mark-and-sweep over the metadata, while pushes go on. Phases, in order:
 * untagged manifests (optional), blob links no manifest of their repository
 * references, blobs with no link and no reference left, then files in storage whose
 * row is gone. Candidates come from the review queues (ReviewQueueStore), which triggers
 * fill with whatever a change may have left unreferenced, so a run looks at what changed
 * since the last one, not at the whole registry; a deletion enqueues what it may free in
 * turn (an index its children, a manifest its links, a link its blob), reviewed later in
 * the same run. Each candidate (blobs: each batch) is deleted in a transaction of its own
 * that locks it and checks again that nothing refers to it, so a push that committed in
 * the meantime wins, and that removes its queue entries with the decision. Nothing seen
 * within the review delay (`seen_at`) is taken; its entries stay queued. Blob rows, then
 * their files, go under the digests' locks that uploads hold from their storage check to
 * their commit (see lockBlobDigest).
 */
@Injectable()
export class GarbageCollector {
  private readonly logger = new Logger('GC');

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(BerthConfig) private readonly config: BerthConfig,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(BlobRowStore) private readonly blobRows: BlobRowStore,
    @Inject(PendingCompletionStore) private readonly pending: PendingCompletionStore,
    @Inject(ReviewQueueStore) private readonly queue: ReviewQueueStore,
    @Inject(CandidateStore) private readonly candidates: CandidateStore,
    @Inject(ManifestChanges) private readonly manifestChanges: ManifestChanges,
  ) {}

  /**
   * Counts into `result` as it goes, so a run that fails half-way still tells what it
   * freed. Stops between two deletions when `signal` aborts (shutdown); what is done stays done.
   */
  async collect(options: GcOptions, signal: AbortSignal, result: GcResult = emptyResult()): Promise<GcResult> {
    const delay = this.config.gc.reviewDelaySeconds;
    if (options.dryRun) await this.countCandidates(options, delay, signal, result);
    else {
      await this.queue.pruneManifests(this.dataSource.manager);
      await this.queue.dropHeld(this.dataSource.manager);
      if (options.deleteUntagged) {
        await this.collectManifests(delay, signal, result);
        if (result.manifestsDeleted) this.manifestChanges.changed('all');
      }
      await this.collectLinks(delay, signal, result);
      await this.collectBlobs(signal, result);
    }

    for await (const digests of storedDigests(this.storage, this.logger, BATCH)) {
      signal.throwIfAborted();
      for (const digest of await this.blobRows.withoutRow(this.dataSource.manager, digests)) {
        const bytes = options.dryRun ? ((await this.storage.stat(blobDataPath(digest)))?.size ?? 0) : await this.deleteOrphanFile(digest);
        if (bytes === null) continue;
        result.orphanFilesDeleted++;
        result.bytesFreed += bytes;
      }
    }
    return result;
  }

  /**
   * Queued manifests, in queue order: entries of rows gone are dropped at once, keys seen
   * within the delay stay queued, the rest are decided one by one. An index deleted
   * enqueues its children (and a subject its referrers) behind the cursor, so an untagged
   * index and then its children go in the same run.
   */
  private async collectManifests(delay: number, signal: AbortSignal, result: GcResult): Promise<void> {
    for (let after = '0'; ; ) {
      signal.throwIfAborted();
      const batch = await this.queue.manifests(this.dataSource.manager, after, BATCH, delay);
      if (batch.last === null) return;
      after = batch.last;
      await this.queue.drop(this.dataSource.manager, 'gc_manifest_reviews', batch.keys.filter((k) => k.state === 'gone').flatMap((k) => k.ids));
      for (const { key, ids, state } of batch.keys) {
        if (state !== 'settled') continue;
        signal.throwIfAborted();
        const digest = await this.deleteManifest(key, ids, delay);
        if (digest === null) continue;
        result.manifestsDeleted++;
        if (result.sample.manifests.length < SAMPLE_SIZE) result.sample.manifests.push(digest);
      }
    }
  }

  /**
   * Locks the row first: a push that tags the manifest, or an index PUT that references
   * it, takes a key-share lock on it and so either commits before the check below
   * (which then sees it) or waits until the row is gone and answers MANIFEST_UNKNOWN.
   * A manifest no tag, no index of its repository and no subject holds goes; either way
   * (or when the row is gone) its entries leave the queue with the decision. The digest
   * deleted, or null.
   */
  private deleteManifest(id: string, ids: string[], delay: number): Promise<string | null> {
    return this.dataSource.transaction(async (manager) => {
      const locked: { settled: boolean }[] = await manager.query(`SELECT ${settled('seen_at', 2)} AS settled FROM manifests WHERE id = $1 FOR UPDATE`, [id, delay]);
      if (locked.length && !locked[0].settled) return null;
      const [rows]: [{ digest: string }[], number] = locked.length
        ? await manager.query(
            `DELETE FROM manifests m WHERE m.id = $1
                AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
                AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests p ON p.id = mr.manifest_id
                                 WHERE p.repository_id = m.repository_id AND mr.digest = m.digest AND mr.kind = 'manifest')
                AND (m.subject_digest IS NULL
                     OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository_id = m.repository_id AND s.digest = m.subject_digest))
              RETURNING m.digest`,
            [id],
          )
        : [[], 0];
      await this.queue.drop(manager, 'gc_manifest_reviews', ids);
      return rows.length ? rows[0].digest : null;
    });
  }

  /** Queued links, as the manifests: entries of rows gone dropped, unsettled ones kept, the rest decided one by one. */
  private async collectLinks(delay: number, signal: AbortSignal, result: GcResult): Promise<void> {
    for (let after = '0'; ; ) {
      signal.throwIfAborted();
      const batch = await this.queue.links(this.dataSource.manager, after, BATCH, delay);
      if (batch.last === null) return;
      after = batch.last;
      await this.queue.drop(this.dataSource.manager, 'gc_link_reviews', batch.keys.filter((k) => k.state === 'gone').flatMap((k) => k.ids));
      for (const { key, ids, state } of batch.keys) {
        if (state !== 'settled') continue;
        signal.throwIfAborted();
        if (await this.deleteLink(key, ids, delay)) result.linksDeleted++;
      }
    }
  }

  /**
   * Locked first (a manifest PUT key-share-locks the links it checks; an upload or
   * mount that re-links refreshes seen_at, which the lock's re-read sees), then deleted
   * only if still unreferenced, as of after the lock; its entries leave the queue with
   * the decision, unless the link was seen within the delay.
   */
  private deleteLink(link: LinkKey, ids: string[], delay: number): Promise<boolean> {
    return this.dataSource.transaction(async (manager) => {
      const locked: { settled: boolean }[] = await manager.query(
        `SELECT ${settled('seen_at', 3)} AS settled FROM repository_blobs WHERE repository_id = $1 AND digest = $2 FOR UPDATE`,
        [link.repository_id, link.digest, delay],
      );
      if (locked.length && !locked[0].settled) return false;
      const [rows]: [unknown[], number] = locked.length
        ? await manager.query(
            `DELETE FROM repository_blobs rb WHERE rb.repository_id = $1 AND rb.digest = $2
                AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests m ON m.id = mr.manifest_id
                                 WHERE m.repository_id = rb.repository_id AND mr.digest = rb.digest AND mr.kind = 'blob')
              RETURNING 1`,
            [link.repository_id, link.digest],
          )
        : [[], 0];
      await this.queue.drop(manager, 'gc_link_reviews', ids);
      return rows.length > 0;
    });
  }

  /** Queued blobs, a batch at a time. */
  private async collectBlobs(signal: AbortSignal, result: GcResult): Promise<void> {
    for (let after = '0'; ; ) {
      signal.throwIfAborted();
      const batch = await this.queue.blobs(this.dataSource.manager, after, BLOB_BATCH);
      if (batch.last === null) return;
      after = batch.last;
      for (const blob of await this.deleteBlobs(batch.keys)) {
        result.blobsDeleted++;
        result.bytesFreed += blob.size;
        if (result.sample.blobs.length < SAMPLE_SIZE) result.sample.blobs.push(blob.digest);
      }
    }
  }

  /**
   * What a collection would delete, deleting nothing and leaving the queues as they are:
   * the queued keys, plus what the keys counted as gone would enqueue (an index's
   * children, a subject's referrers, a manifest's links and blobs, a link's blob), each
   * checked as if those were gone already.
   */
  private async countCandidates(options: GcOptions, delay: number, signal: AbortSignal, result: GcResult): Promise<void> {
    const m = this.dataSource.manager;
    const goneManifests = new Map<string, string>();
    if (options.deleteUntagged) {
      for (let after = '0'; ; ) {
        signal.throwIfAborted();
        const batch = await this.queue.manifests(m, after, BATCH, delay);
        if (batch.last === null) break;
        after = batch.last;
        let pending = batch.keys.filter((k) => k.state === 'settled' && !goneManifests.has(k.key)).map((k) => k.key);
        while (pending.length) {
          const gone = await this.candidates.manifests(m, pending, [...goneManifests.keys()], delay);
          for (const g of gone) goneManifests.set(g.id, g.digest);
          pending = gone.length ? (await this.candidates.released(m, gone.map((g) => g.id))).filter((id) => !goneManifests.has(id)) : [];
        }
      }
      result.manifestsDeleted = goneManifests.size;
      result.sample.manifests = [...goneManifests.values()].slice(0, SAMPLE_SIZE);
    }
    const manifestIds = [...goneManifests.keys()];
    const freedReferences = manifestIds.length ? await this.candidates.blobReferences(m, manifestIds) : [];

    const linkKey = (l: LinkKey) => `${l.repository_id} ${l.digest}`;
    const seenLinks = new Set<string>();
    const goneLinks: LinkKey[] = [];
    const reviewLinks = async (keys: LinkKey[]) => {
      const fresh = keys.filter((k) => !seenLinks.has(linkKey(k)));
      for (const k of fresh) seenLinks.add(linkKey(k));
      if (fresh.length) goneLinks.push(...(await this.candidates.links(m, fresh, manifestIds, delay)));
    };
    for (let after = '0'; ; ) {
      signal.throwIfAborted();
      const batch = await this.queue.links(m, after, BATCH, delay);
      if (batch.last === null) break;
      after = batch.last;
      await reviewLinks(batch.keys.filter((k) => k.state === 'settled').map((k) => k.key));
    }
    for (let start = 0; start < freedReferences.length; start += BATCH) await reviewLinks(freedReferences.slice(start, start + BATCH));
    result.linksDeleted = goneLinks.length;

    const seenBlobs = new Set<string>();
    const reviewBlobs = async (digests: string[]) => {
      const fresh = [...new Set(digests)].filter((d) => !seenBlobs.has(d));
      for (const d of fresh) seenBlobs.add(d);
      if (!fresh.length) return;
      for (const blob of await this.candidates.blobs(m, fresh, goneLinks, manifestIds)) {
        result.blobsDeleted++;
        result.bytesFreed += Number(blob.size);
        if (result.sample.blobs.length < SAMPLE_SIZE) result.sample.blobs.push(blob.digest);
      }
    };
    for (let after = '0'; ; ) {
      signal.throwIfAborted();
      const batch = await this.queue.blobs(m, after, BLOB_BATCH);
      if (batch.last === null) break;
      after = batch.last;
      await reviewBlobs(batch.keys.map((k) => k.key));
    }
    const freedBlobs = [...goneLinks, ...freedReferences].map((l) => l.digest);
    for (let start = 0; start < freedBlobs.length; start += BLOB_BATCH) await reviewBlobs(freedBlobs.slice(start, start + BLOB_BATCH));
  }

  /**
   * A batch of blobs: the rows go first (committed), then the files, each step under the
   * digests' locks that uploads hold from their storage check to their commit. An upload
   * of one of them either committed its row before (the checks keep the blob) or comes
   * after the file is gone (and stores it again). A digest whose lock an upload holds is
   * skipped, not waited for, so a collection never holds up a push, and its entries stay
   * queued; those of the others leave the queue with the rows. A crash in between
   * leaves files without rows, which the orphan phase finds. The rows deleted.
   */
  private async deleteBlobs(keys: QueuedKey<string>[]): Promise<{ digest: string; size: number }[]> {
    const deleted = await this.dataSource.transaction(async (manager) => {
      const locked = new Set(await tryLockBlobDigests(manager, keys.map((k) => k.key)));
      const rows = await this.blobRows.deleteUnreferenced(manager, [...locked]);
      await this.queue.drop(manager, 'gc_blob_reviews', keys.filter((k) => locked.has(k.key)).flatMap((k) => k.ids));
      return rows;
    });
    await this.deleteFilesOfDeletedRows(deleted.map((b) => b.digest));
    return deleted;
  }

  /**
   * The files of blobs whose rows are gone, in one storage batch, under their locks again:
   * kept are those whose row exists again, those an upload session has recorded (a
   * completion cut off after its move: its retry needs the file), and those whose lock
   * an upload holds now (for the orphan phase to decide).
   */
  private async deleteFilesOfDeletedRows(digests: string[]): Promise<void> {
    if (!digests.length) return;
    await this.dataSource.transaction(async (manager: EntityManager) => {
      const locked = await tryLockBlobDigests(manager, digests);
      const gone = new Set(await this.blobRows.withoutRow(manager, locked));
      const awaited = await this.pending.awaited(manager, locked);
      await this.storage.deleteMany(locked.filter((d) => gone.has(d) && !awaited.has(d)).map(blobDataPath));
    });
  }

  /**
   * Deletes the blob's files unless its row exists again, or an upload session has
   * recorded the digest (a completion cut off after its move: its retry needs the file);
   * the bytes removed, or null when kept.
   */
  private deleteOrphanFile(digest: string): Promise<number | null> {
    return this.dataSource.transaction(async (manager: EntityManager) => {
      await lockBlobDigest(manager, digest);
      if ((await this.blobRows.size(manager, digest)) !== null) return null;
      if (await this.pending.awaits(manager, digest)) return null;
      const size = (await this.storage.stat(blobDataPath(digest)))?.size ?? 0;
      await this.storage.delete(blobDir(digest));
      return size;
    });
  }
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { RegistryError, assertRepositoryName, isRepositoryName, parseDigest } from '@berth/core';
import { PathNotFoundError, STORAGE_DRIVER, type StorageDriver, blobDataPath } from '@berth/storage';
import type { EventContext } from '@berth/notifications';
import { lockBlobDigest } from './blob-lock.js';
import { QuotaService } from './quota.service.js';
import { RegistryEvents } from './registry-events.js';
import { RepositoryService } from './repository.service.js';

export interface BlobInfo {
  digest: string;
  size: number;
}

/** Blobs as seen through a repository: visible only where linked. */
@Injectable()
export class BlobService {
  private readonly logger = new Logger('Blobs');

  constructor(
    private readonly dataSource: DataSource,
    private readonly repositories: RepositoryService,
    private readonly events: RegistryEvents,
    private readonly quotas: QuotaService,
    private readonly config: BerthConfig,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
  ) {}

  /** The blob linked in `name`, else BLOB_UNKNOWN. */
  async stat(name: string, digest: string): Promise<BlobInfo> {
    assertRepositoryName(name);
    parseDigest(digest);
    const rows: { size: string }[] = await this.dataSource.query(
      `SELECT b.size FROM repository_blobs rb
         JOIN repositories r ON r.id = rb.repository_id
         JOIN blobs b ON b.digest = rb.digest
        WHERE r.name = $1 AND rb.digest = $2`,
      [name, digest],
    );
    if (!rows.length) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown in ${name}`, { digest });
    return { digest, size: Number(rows[0].size) };
  }

  /**
   * stat() for a client that checks a blob exists before pushing a manifest that uses
   * it (HEAD): the link's seen_at is refreshed when older than half the GC review delay
   * (at most a minute), so garbage collection leaves it alone while the manifest is on
   * its way. A link that GC removed meanwhile is BLOB_UNKNOWN, and the client uploads it.
   */
  async statForPush(name: string, digest: string): Promise<BlobInfo> {
    // Read-only: nothing is collected, and nothing may be written.
    if (this.config.readOnly) return this.stat(name, digest);
    assertRepositoryName(name);
    parseDigest(digest);
    const rows: { size: string }[] = await this.dataSource.query(
      `WITH link AS (
         SELECT rb.repository_id, rb.seen_at, b.size FROM repository_blobs rb
           JOIN repositories r ON r.id = rb.repository_id
           JOIN blobs b ON b.digest = rb.digest
          WHERE r.name = $1 AND rb.digest = $2),
       touched AS (
         UPDATE repository_blobs rb SET seen_at = now() FROM link
          WHERE rb.repository_id = link.repository_id AND rb.digest = $2 AND link.seen_at < now() - make_interval(secs => $3)
          RETURNING 1)
       SELECT size FROM link WHERE link.seen_at >= now() - make_interval(secs => $3) OR EXISTS (SELECT 1 FROM touched)`,
      [name, digest, Math.min(60, this.config.gc.reviewDelaySeconds / 2)],
    );
    if (!rows.length) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown in ${name}`, { digest });
    return { digest, size: Number(rows[0].size) };
  }

  /** A presigned URL where the driver offers one; null when Berth streams the bytes itself. */
  redirectUrl(digest: string, method: 'GET' | 'HEAD'): Promise<string | null> {
    return this.storage.redirectUrl(blobDataPath(digest), method);
  }

  /** Streams the blob's bytes; a blob recorded but missing from storage is BLOB_UNKNOWN (push it again). */
  async open(digest: string, start: number, length: number): Promise<Readable> {
    try {
      return await this.storage.reader(blobDataPath(digest), start, length);
    } catch (err) {
      if (!(err instanceof PathNotFoundError)) throw err;
      this.logger.error(`blob ${digest} is recorded but missing from storage`);
      throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is missing from storage`, { digest });
    }
  }

  /** Unlinks the blob from the repository; its bytes go at the next garbage collection. */
  async delete(name: string, digest: string, context: EventContext): Promise<void> {
    assertRepositoryName(name);
    parseDigest(digest);
    await this.events.commit(context, async (manager) => {
      const [, count] = (await manager.query(
        `DELETE FROM repository_blobs rb USING repositories r
          WHERE r.id = rb.repository_id AND r.name = $1 AND rb.digest = $2`,
        [name, digest],
      )) as [unknown, number];
      if (!count) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown in ${name}`, { digest });
      return { result: undefined, events: [{ action: 'delete', target: { digest, repository: name } }] };
    });
  }

  /**
   * Links a blob that `from` has into `name` (cross-repository mount).
   * Returns false when `from` does not have it, so the caller falls back to an upload.
   */
  async mount(name: string, digest: string, from: string, context: EventContext): Promise<boolean> {
    if (!isRepositoryName(from)) return false;
    return this.dataSource.transaction(async (manager) => {
      const sourceId = await this.repositories.findId(from, manager);
      if (sourceId === undefined) return false;
      const linked: { size: string }[] = await manager.query(
        `SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
          WHERE rb.repository_id = $1 AND rb.digest = $2`,
        [sourceId, digest],
      );
      if (!linked.length) return false;
      await this.quotas.check(manager, name, { kind: 'blob', bytes: Number(linked[0].size), digest });
      const targetId = await this.repositories.ensureId(name, manager);
      // Under the digest's lock the blob row cannot be collected before this commits; it
      // may have been collected since the look-up above, then this is an upload after all.
      await lockBlobDigest(manager, digest);
      const linkedNow: unknown[] = await manager.query(
        `INSERT INTO repository_blobs (repository_id, digest) SELECT $1, digest FROM blobs WHERE digest = $2
         ON CONFLICT (repository_id, digest) DO UPDATE SET seen_at = now() RETURNING 1`,
        [targetId, digest],
      );
      if (!linkedNow.length) return false;
      const target = { ...this.events.blobTarget(context, name, digest, Number(linked[0].size)), fromRepository: from };
      await this.events.record(manager, context, [{ action: 'mount', target }]);
      return true;
    });
  }
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { RegistryError, assertRepositoryName, isRepositoryName, parseDigest } from '@berth/core';
import { type OpenFileRange, PathNotFoundError, STORAGE_DRIVER, type StorageDriver, blobDataPath } from '@berth/storage';
import { AuditService, type ChangeContext } from '@berth/auth';
import type { EventContext } from '@berth/notifications';
import { lockBlobDigest } from './blob-lock.js';
import { BlobStore } from './blob.store.js';
import { type UpstreamBlob, PullThroughHooks } from './pull-through.js';
import { QuotaService } from './quota.service.js';
import { RegistryEvents } from './registry-events.js';
import { RepositoryService } from './repository.service.js';

/** One range of a blob, ready to go out: `sendTo` where the driver can send zero-copy, else only `stream`. */
export type BlobBody = Pick<OpenFileRange, 'stream'> & Partial<Pick<OpenFileRange, 'sendTo'>>;

export interface BlobInfo {
  digest: string;
  size: number;
  /** Set when the bytes are not cached yet and come through the pull-through cache. */
  upstream?: UpstreamBlob;
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
    private readonly blobs: BlobStore,
    private readonly audit: AuditService,
    private readonly pullThrough: PullThroughHooks,
  ) {}

  /** The blob linked in `name` (in a proxy namespace: else the one coming from upstream), else BLOB_UNKNOWN. */
  async stat(name: string, digest: string): Promise<BlobInfo> {
    assertRepositoryName(name);
    parseDigest(digest);
    const blob = await this.blobs.linked(this.dataSource.manager, name, digest);
    const pullThrough = this.pullThrough.covering(name);
    if (pullThrough) return { digest, ...(await pullThrough.blob(name, digest, blob && !blob.missing ? blob.size : undefined)) };
    if (!blob) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown in ${name}`, { digest });
    if (blob.missing) throw missingBytes(digest);
    return { digest, size: blob.size };
  }

  /**
   * stat() for a client that checks a blob exists before pushing a manifest that uses
   * it (HEAD): the link's seen_at is refreshed when older than half the GC review delay
   * (at most a minute), so garbage collection leaves it alone while the manifest is on
   * its way. A link that GC removed meanwhile is BLOB_UNKNOWN, and the client uploads it;
   * so is a blob whose bytes `verify --repair` found missing or bad (missing_since).
   */
  async statForPush(name: string, digest: string): Promise<BlobInfo> {
    // Read-only: nothing is collected, and nothing may be written.
    if (this.config.readOnly) return this.stat(name, digest);
    assertRepositoryName(name);
    parseDigest(digest);
    const size = await this.blobs.touchLinked(this.dataSource.manager, name, digest, Math.min(60, this.config.gc.reviewDelaySeconds / 2));
    const pullThrough = size === null ? this.pullThrough.covering(name) : undefined;
    if (pullThrough) return { digest, size: await pullThrough.blobSize(name, digest) };
    if (size === null) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown in ${name}`, { digest });
    return { digest, size };
  }

  /** A client that takes no bytes of a zero-copy send for this long is cut off, as an idle upload is. */
  get sendIdleTimeoutMs(): number {
    return this.config.body.idleTimeoutSeconds * 1000;
  }

  /** A presigned URL where the driver offers one; null when Berth streams the bytes itself. */
  redirectUrl(digest: string, method: 'GET' | 'HEAD'): Promise<string | null> {
    return this.storage.redirectUrl(blobDataPath(digest), method);
  }

  /**
   * Opens the blob's bytes for sending; the caller uses exactly one of the body's ways out.
   * A blob recorded but missing from storage is BLOB_UNKNOWN (push it again).
   */
  async open(digest: string, start: number, length: number): Promise<BlobBody> {
    const path = blobDataPath(digest);
    try {
      if (this.storage.openFile) return await this.storage.openFile(path, start, length);
      const stream = await this.storage.reader(path, start, length);
      return { stream: () => stream };
    } catch (err) {
      if (!(err instanceof PathNotFoundError)) throw err;
      this.logger.error(`blob ${digest} is recorded but missing from storage`);
      throw missingBytes(digest);
    }
  }

  /** Unlinks the blob from the repository (audited `blob.delete`, with the change); its bytes go at the next garbage collection. */
  async delete(name: string, digest: string, context: EventContext, change: ChangeContext): Promise<void> {
    assertRepositoryName(name);
    parseDigest(digest);
    await this.events.commit(context, async (manager) => {
      const [, count] = (await manager.query(
        `DELETE FROM repository_blobs rb USING repositories r
          WHERE r.id = rb.repository_id AND r.name = $1 AND rb.digest = $2`,
        [name, digest],
      )) as [unknown, number];
      if (!count) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown in ${name}`, { digest });
      await this.audit.record({ ...change, action: 'blob.delete', target: `repository:${name}`, detail: { digest } }, manager);
      return { result: undefined, events: [{ action: 'delete', target: { digest, repository: name } }] };
    }, { audited: true });
  }

  /**
   * Links a blob that `from` has into `name` (cross-repository mount).
   * Returns false when `from` does not have it (or its bytes are marked missing), so the caller falls back to an upload.
   */
  async mount(name: string, digest: string, from: string, context: EventContext): Promise<boolean> {
    if (!isRepositoryName(from)) return false;
    return this.dataSource.transaction(async (manager) => {
      const sourceId = await this.repositories.findId(from, manager);
      if (sourceId === undefined) return false;
      const size = await this.blobs.mountable(manager, sourceId, digest);
      if (size === null) return false;
      await this.quotas.check(manager, name, { kind: 'blob', bytes: size, digest });
      const targetId = await this.repositories.ensureId(name, manager);
      // Under the digest's lock the blob row cannot be collected before this commits; it
      // may have been collected since the look-up above, then this is an upload after all.
      await lockBlobDigest(manager, digest);
      if (!(await this.blobs.link(manager, targetId, digest))) return false;
      const target = { ...this.events.blobTarget(context, name, digest, size), fromRepository: from };
      await this.events.record(manager, context, [{ action: 'mount', target }]);
      return true;
    });
  }
}

/** A blob `verify --repair` found without its bytes (or with bad ones, now removed). */
function missingBytes(digest: string): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', `blob ${digest} is missing from storage: push it again`, { digest });
}

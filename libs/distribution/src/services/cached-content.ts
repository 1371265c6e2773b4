import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { RegistryError, parseManifest } from '@berth/core';
import { ManifestChanges } from '@berth/database';
import { STORAGE_DRIVER, type StorageDriver, blobDataPath, uploadDataPath, uploadDir } from '@berth/storage';
import { BlobStore } from './blob.store.js';
import { type FoundManifest, ManifestStore, manifestRow } from './manifest.store.js';
import { QuotaService } from './quota.service.js';
import { RepositoryService } from './repository.service.js';
import { UploadStore } from './upload.store.js';

/**
 * How a pull-through cache stores what it fetched: content already checked against its
 * digest, written as a push would write it (the same tables, storage paths, quota and
 * lock order), but without the push's rule that a manifest's blobs be present first: a
 * cache holds a manifest before anyone pulled its layers. No push event: this is a pull.
 * A quota the content would exceed is DENIED, as for a push; the cache then serves without storing.
 */
@Injectable()
export class CachedContent {
  constructor(
    private readonly dataSource: DataSource,
    private readonly repositories: RepositoryService,
    private readonly quotas: QuotaService,
    private readonly manifests: ManifestStore,
    private readonly uploads: UploadStore,
    private readonly blobs: BlobStore,
    private readonly changes: ManifestChanges,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
  ) {}

  /** The cached manifest the tag points at, or the one with this digest. */
  findManifest(name: string, ref: { tag: string } | { digest: string }): Promise<FoundManifest | undefined> {
    return this.manifests.find(this.dataSource.manager, name, ref);
  }

  /** Stores the manifest (bytes verified by the caller) and points `tag` at it; returns the repository's id. */
  async storeManifest(name: string, digest: string, content: Buffer, contentType: string | undefined, tag?: string): Promise<number> {
    const manifest = parseManifest(content, contentType);
    const repositoryId = await this.dataSource.transaction(async (manager) => {
      await this.quotas.check(manager, name, { kind: 'manifest', digest, bytes: content.length });
      await this.repositories.ensureId(name, manager);
      // The push's lock order: the repository row (FOR KEY SHARE) before the manifest rows.
      const held = await this.manifests.lockReferences(manager, name, [], []);
      if (!held) throw new RegistryError('NAME_UNKNOWN', `repository ${name} was deleted meanwhile`, { name });
      const id = held.repositoryId;
      await this.manifests.insert(manager, manifestRow(id, digest, content, manifest, tag));
      return id;
    });
    this.changes.changed([name]);
    return repositoryId;
  }

  /** The size of a blob this registry stores (for any repository), or null. */
  async storedBlobSize(digest: string): Promise<number | null> {
    return this.blobs.storedSize(this.dataSource.manager, digest);
  }

  /**
   * Links a stored blob into `name` (the upstream has confirmed that repository holds it),
   * as a mount does: quota, repository, then the digest's lock. False when the blob is gone meanwhile.
   */
  async linkBlob(name: string, digest: string, size: number): Promise<boolean> {
    return this.dataSource.transaction(async (manager) => {
      await this.quotas.check(manager, name, { kind: 'blob', bytes: size, digest });
      const repositoryId = await this.repositories.ensureId(name, manager);
      if (!(await this.uploads.lockForCompletion(manager, repositoryId, digest))) return false;
      return this.blobs.link(manager, repositoryId, digest);
    });
  }

  /**
   * Stores a blob whose `size` bytes `source` gives (verified by the caller) and links it
   * in `name`: staged under a fresh upload path (`source.localFile`, a file of this machine
   * holding exactly those bytes, is moved there when the driver can: no copy), moved to its
   * content address under the digest's lock (once: another replica may have stored it
   * meanwhile), then recorded. A staging file left by a crash is purged with the orphan uploads.
   */
  async storeBlob(name: string, digest: string, size: number, source: { stream(): Readable; localFile?: string }): Promise<void> {
    const staging = randomUUID();
    try {
      const adopted = source.localFile !== undefined && (await this.storage.adoptLocalFile?.(source.localFile, uploadDataPath(staging)));
      if (!adopted) {
        const writer = await this.storage.writer(uploadDataPath(staging), 0);
        await writer.write(source.stream());
        await writer.commit();
      }
      await this.dataSource.transaction(async (manager) => {
        await this.quotas.check(manager, name, { kind: 'blob', bytes: size, digest });
        const repositoryId = await this.repositories.ensureId(name, manager);
        if (!(await this.uploads.lockForCompletion(manager, repositoryId, digest))) return;
        if ((await this.storage.stat(blobDataPath(digest)))?.size !== size) {
          await this.storage.move(uploadDataPath(staging), blobDataPath(digest), size);
        }
        await this.blobs.insertLinked(manager, repositoryId, digest, size);
      });
    } finally {
      await this.storage.delete(uploadDir(staging));
    }
  }
}

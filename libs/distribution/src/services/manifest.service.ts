import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { RegistryError, assertRepositoryName, digestOf, parseDigest, parseLookupReference, parseManifest, parseReference } from '@berth/core';
import { AuditService, type ChangeContext } from '@berth/auth';
import type { EventContext } from '@berth/notifications';
import { ManifestChanges } from '@berth/database';
import { ManifestCache } from './manifest-cache.js';
import { ManifestStore, manifestRow } from './manifest.store.js';
import { PullThroughHooks } from './pull-through.js';
import { QuotaService } from './quota.service.js';
import { RegistryEvents } from './registry-events.js';
import { RepositoryService } from './repository.service.js';

export interface StoredManifest {
  digest: string;
  mediaType: string;
  content: Buffer;
}

export interface PutManifestResult {
  digest: string;
  subject?: string;
}

/** Manifests with their exact bytes, their references, and the tags that point at them. */
@Injectable()
export class ManifestService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly repositories: RepositoryService,
    private readonly events: RegistryEvents,
    private readonly quotas: QuotaService,
    private readonly audit: AuditService,
    private readonly cache: ManifestCache,
    private readonly changes: ManifestChanges,
    private readonly store: ManifestStore,
    private readonly pullThrough: PullThroughHooks,
  ) {}

  async get(name: string, reference: string): Promise<StoredManifest> {
    assertRepositoryName(name);
    const ref = parseLookupReference(reference);
    if (!ref) throw await this.unknown(name, reference);
    const pullThrough = this.pullThrough.covering(name);
    if (pullThrough) return pullThrough.manifest(name, reference);
    const found = await this.cache.get(name, 'tag' in ref ? ref.tag : ref.digest, () => this.store.find(this.dataSource.manager, name, ref));
    if (!found) throw await this.unknown(name, reference);
    return found;
  }

  /**
   * Validates and stores a manifest, then points the tag at it, in one transaction.
   * Every referenced blob must be linked in this repository and every child
   * manifest present in it; a `subject` may point at a manifest not pushed yet.
   */
  async put(
    name: string,
    reference: string,
    content: Buffer,
    contentType: string | undefined,
    context: EventContext,
  ): Promise<PutManifestResult> {
    assertRepositoryName(name);
    const ref = parseReference(reference);
    const manifest = parseManifest(content, contentType);
    let digest = digestOf(content);
    if ('digest' in ref) {
      const { algorithm } = parseDigest(ref.digest);
      digest = digestOf(content, algorithm);
      if (digest !== ref.digest) {
        throw new RegistryError('DIGEST_INVALID', `manifest digest ${digest} does not match ${ref.digest}`, { digest: ref.digest });
      }
    }
    const blobs = [...new Set(manifest.blobs.map((d) => d.digest))];
    const children = [...new Set(manifest.manifests.map((d) => d.digest))];
    const tag = 'tag' in ref ? ref.tag : undefined;
    await this.dataSource.transaction(async (manager) => {
      await this.quotas.check(manager, name, { kind: 'manifest', digest, bytes: content.length });
      let held = await this.store.lockReferences(manager, name, blobs, children);
      if (!held) {
        // The first push into the repository creates it (in this transaction), then holds it.
        await this.repositories.ensureId(name, manager);
        held = await this.store.lockReferences(manager, name, blobs, children);
      }
      if (!held) throw new RegistryError('NAME_UNKNOWN', `repository ${name} was deleted during the push`, { name });
      const blob = blobs.find((d) => !held.blobs.has(d));
      if (blob) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `blob ${blob} unknown to this repository`, { digest: blob });
      const child = children.find((d) => !held.manifests.has(d));
      if (child) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest ${child} unknown to this repository`, { digest: child });
      await this.store.insert(manager, manifestRow(held.repositoryId, digest, content, manifest, tag));
      const target = this.events.manifestTarget(context, name, { digest, mediaType: manifest.mediaType, size: content.length }, tag);
      await this.events.record(manager, context, [{ action: 'push', target }]);
    });
    this.changes.changed([name]);
    return { digest, subject: manifest.subject?.digest };
  }

  /**
   * By digest: removes the manifest and every tag on it (audited `manifest.delete`).
   * By tag: removes only the tag (`tag.delete`). The entry commits with the change.
   */
  async delete(name: string, reference: string, context: EventContext, change: ChangeContext): Promise<void> {
    assertRepositoryName(name);
    const ref = parseLookupReference(reference);
    if (!ref) throw await this.unknown(name, reference);
    const deleted = await this.events.commit(context, async (manager) => {
      const [rows] = (
        'tag' in ref
          ? await manager.query(
              `DELETE FROM tags t USING repositories r, manifests m
                WHERE r.id = t.repository_id AND m.id = t.manifest_id AND r.name = $1 AND t.name = $2
                RETURNING m.digest, m.media_type`,
              [name, ref.tag],
            )
          : await manager.query(
              `DELETE FROM manifests m USING repositories r
                WHERE r.id = m.repository_id AND r.name = $1 AND m.digest = $2
                RETURNING m.digest, m.media_type`,
              [name, ref.digest],
            )
      ) as [{ digest: string; media_type: string }[], number];
      if (!rows.length) return { result: false, events: [] };
      const tag = 'tag' in ref ? ref.tag : undefined;
      await this.audit.record(
        tag === undefined
          ? { ...change, action: 'manifest.delete', target: `repository:${name}`, detail: { digest: rows[0].digest } }
          : { ...change, action: 'tag.delete', target: `repository:${name}`, detail: { tag, digest: rows[0].digest } },
        manager,
      );
      const target = this.events.manifestTarget(context, name, { digest: rows[0].digest, mediaType: rows[0].media_type }, tag);
      return { result: true, events: [{ action: 'delete' as const, target }] };
    }, { audited: true });
    this.changes.changed([name]);
    if (!deleted) throw await this.unknown(name, reference);
  }

  /** NAME_UNKNOWN when the repository itself is missing, else MANIFEST_UNKNOWN. */
  private async unknown(name: string, reference: string): Promise<RegistryError> {
    if ((await this.repositories.findId(name)) === undefined) {
      return new RegistryError('NAME_UNKNOWN', `repository ${name} not known to registry`, { name });
    }
    return new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference.slice(0, 300)} unknown in ${name}`, { reference: reference.slice(0, 300) });
  }
}

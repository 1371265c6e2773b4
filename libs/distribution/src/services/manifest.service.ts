import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type ParsedManifest, RegistryError, assertRepositoryName, digestOf, parseDigest, parseManifest, parseReference } from '@berth/core';
import type { EventContext } from '@berth/notifications';
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
  ) {}

  async get(name: string, reference: string): Promise<StoredManifest> {
    assertRepositoryName(name);
    const ref = parseReference(reference);
    const rows: { digest: string; media_type: string; content: Buffer }[] =
      'tag' in ref
        ? await this.dataSource.query(
            `SELECT m.digest, m.media_type, m.content FROM tags t
               JOIN repositories r ON r.id = t.repository_id
               JOIN manifests m ON m.id = t.manifest_id
              WHERE r.name = $1 AND t.name = $2`,
            [name, ref.tag],
          )
        : await this.dataSource.query(
            `SELECT m.digest, m.media_type, m.content FROM manifests m
               JOIN repositories r ON r.id = m.repository_id
              WHERE r.name = $1 AND m.digest = $2`,
            [name, ref.digest],
          );
    if (!rows.length) throw await this.unknown(name, reference);
    return { digest: rows[0].digest, mediaType: rows[0].media_type, content: rows[0].content };
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
    await this.dataSource.transaction(async (manager) => {
      await this.quotas.check(manager, name, { kind: 'manifest', digest, bytes: content.length });
      const repositoryId = await this.repositories.ensureId(name, manager);
      // The repository row first, as a repository delete takes it (then its links): locking
      // the links below before it would let the two transactions deadlock.
      await manager.query('SELECT 1 FROM repositories WHERE id = $1 FOR KEY SHARE', [repositoryId]);
      await this.checkReferences(repositoryId, manifest, manager.query.bind(manager));
      // A re-push refreshes seen_at: garbage collection leaves the manifest alone for its
      // review delay (the index that will reference it may be on its way). `xmax = 0`: inserted.
      const [stored]: { id: string; inserted: boolean }[] = await manager.query(
        `INSERT INTO manifests (repository_id, digest, media_type, artifact_type, size, content, subject_digest, annotations)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (repository_id, digest) DO UPDATE SET seen_at = now() RETURNING id, xmax = 0 AS inserted`,
        [
          repositoryId,
          digest,
          manifest.mediaType,
          manifest.artifactType ?? null,
          content.length,
          content,
          manifest.subject?.digest ?? null,
          manifest.annotations ? JSON.stringify(manifest.annotations) : null,
        ],
      );
      const manifestId = Number(stored.id);
      if (stored.inserted) await this.insertReferences(manifestId, manifest, manager.query.bind(manager));
      if ('tag' in ref) {
        await manager.query(
          `INSERT INTO tags (repository_id, name, manifest_id) VALUES ($1, $2, $3)
           ON CONFLICT (repository_id, name) DO UPDATE SET manifest_id = EXCLUDED.manifest_id, updated_at = now()
           WHERE tags.manifest_id IS DISTINCT FROM EXCLUDED.manifest_id`,
          [repositoryId, ref.tag, manifestId],
        );
      }
      const tag = 'tag' in ref ? ref.tag : undefined;
      const target = this.events.manifestTarget(context, name, { digest, mediaType: manifest.mediaType, size: content.length }, tag);
      await this.events.record(manager, context, [{ action: 'push', target }]);
    });
    return { digest, subject: manifest.subject?.digest };
  }

  /** By digest: removes the manifest and every tag on it. By tag: removes only the tag. */
  async delete(name: string, reference: string, context: EventContext): Promise<void> {
    assertRepositoryName(name);
    const ref = parseReference(reference);
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
      const target = this.events.manifestTarget(context, name, { digest: rows[0].digest, mediaType: rows[0].media_type }, tag);
      return { result: true, events: [{ action: 'delete' as const, target }] };
    });
    if (!deleted) throw await this.unknown(name, reference);
  }

  private async checkReferences(
    repositoryId: number,
    manifest: ParsedManifest,
    query: (sql: string, params: unknown[]) => Promise<{ digest: string }[]>,
  ): Promise<void> {
    const missing = async (table: 'repository_blobs' | 'manifests', digests: string[]) => {
      if (!digests.length) return undefined;
      // Locked until this transaction commits: garbage collection deletes a blob link or a
      // manifest only after locking it (one row per transaction) and seeing nothing refer to it.
      const found = await query(`SELECT digest FROM ${table} WHERE repository_id = $1 AND digest = ANY($2) FOR KEY SHARE`, [
        repositoryId,
        [...new Set(digests)],
      ]);
      const present = new Set(found.map((row) => row.digest));
      return digests.find((d) => !present.has(d));
    };
    const blob = await missing('repository_blobs', manifest.blobs.map((d) => d.digest));
    if (blob) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `blob ${blob} unknown to this repository`, { digest: blob });
    const child = await missing('manifests', manifest.manifests.map((d) => d.digest));
    if (child) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest ${child} unknown to this repository`, { digest: child });
  }

  private async insertReferences(
    manifestId: number,
    manifest: ParsedManifest,
    query: (sql: string, params: unknown[]) => Promise<unknown>,
  ): Promise<void> {
    const refs = [
      ...manifest.blobs.map((d) => ({ ...d, kind: 'blob' })),
      ...manifest.manifests.map((d) => ({ ...d, kind: 'manifest' })),
    ];
    if (!refs.length) return;
    await query(
      `INSERT INTO manifest_references (manifest_id, digest, kind, size)
       SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[]) ON CONFLICT DO NOTHING`,
      [manifestId, refs.map((r) => r.digest), refs.map((r) => r.kind), refs.map((r) => r.size)],
    );
  }

  /** NAME_UNKNOWN when the repository itself is missing, else MANIFEST_UNKNOWN. */
  private async unknown(name: string, reference: string): Promise<RegistryError> {
    if ((await this.repositories.findId(name)) === undefined) {
      return new RegistryError('NAME_UNKNOWN', `repository ${name} not known to registry`, { name });
    }
    return new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} unknown in ${name}`, { reference });
  }
}

import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { ParsedManifest } from '@berth/core';

/** The referenced digests a manifest push found linked (blobs) or stored (child manifests) in its repository. */
export interface HeldReferences {
  repositoryId: number;
  blobs: Set<string>;
  manifests: Set<string>;
}

/** A manifest as a push stores it, with its references and the tag to point at it. */
export interface ManifestRow {
  repositoryId: number;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  content: Buffer;
  subjectDigest: string | null;
  annotations: Record<string, string> | null;
  references: { digest: string; kind: 'blob' | 'manifest'; size: number }[];
  tag?: string;
}

/** A manifest as a pull reads it. */
export interface FoundManifest {
  digest: string;
  mediaType: string;
  content: Buffer;
}

/** The row a parsed manifest is stored as, with its references, pointed at by `tag` when given. */
export function manifestRow(repositoryId: number, digest: string, content: Buffer, manifest: ParsedManifest, tag?: string): ManifestRow {
  return {
    repositoryId,
    digest,
    mediaType: manifest.mediaType,
    artifactType: manifest.artifactType ?? null,
    content,
    subjectDigest: manifest.subject?.digest ?? null,
    annotations: manifest.annotations ?? null,
    references: [
      ...manifest.blobs.map((d) => ({ digest: d.digest, size: d.size, kind: 'blob' as const })),
      ...manifest.manifests.map((d) => ({ digest: d.digest, size: d.size, kind: 'manifest' as const })),
    ],
    tag,
  };
}

/** The SQL of a manifest push (manifests, their references and tags), on the caller's transaction. */
@Injectable()
export class ManifestStore {
  /** The manifest the tag points at, or the one with this digest, in the repository named `name`. */
  async find(manager: EntityManager, name: string, ref: { tag: string } | { digest: string }): Promise<FoundManifest | undefined> {
    const rows: { digest: string; media_type: string; content: Buffer }[] =
      'tag' in ref
        ? await manager.query(
            `SELECT m.digest, m.media_type, m.content FROM tags t
               JOIN repositories r ON r.id = t.repository_id
               JOIN manifests m ON m.id = t.manifest_id
              WHERE r.name = $1 AND t.name = $2`,
            [name, ref.tag],
          )
        : await manager.query(
            `SELECT m.digest, m.media_type, m.content FROM manifests m
               JOIN repositories r ON r.id = m.repository_id
              WHERE r.name = $1 AND m.digest = $2`,
            [name, ref.digest],
          );
    return rows.length ? { digest: rows[0].digest, mediaType: rows[0].media_type, content: rows[0].content } : undefined;
  }

  /**
   * Holds the repository row (FOR KEY SHARE, as a repository delete takes it before its
   * links: locking the links first would let the two deadlock), then, in the same
   * statement and so after it, the referenced blob links and child manifests present
   * (FOR KEY SHARE until the transaction ends: garbage collection deletes a link or a
   * manifest only after locking it and seeing nothing refer to it). Undefined when the
   * repository does not exist.
   */
  async lockReferences(manager: EntityManager, name: string, blobs: string[], manifests: string[]): Promise<HeldReferences | undefined> {
    const [row]: { id: string; blobs: string[]; manifests: string[] }[] = await manager.query(
      `WITH repo AS MATERIALIZED (SELECT id FROM repositories WHERE name = $1 FOR KEY SHARE)
       SELECT repo.id,
              ARRAY(SELECT digest FROM repository_blobs WHERE repository_id = repo.id AND digest = ANY($2) FOR KEY SHARE) AS blobs,
              ARRAY(SELECT digest FROM manifests WHERE repository_id = repo.id AND digest = ANY($3) FOR KEY SHARE) AS manifests
         FROM repo`,
      [name, blobs, manifests],
    );
    if (!row) return undefined;
    return { repositoryId: Number(row.id), blobs: new Set(row.blobs), manifests: new Set(row.manifests) };
  }

  /**
   * Stores the manifest (a re-push refreshes its seen_at: garbage collection leaves it
   * alone for its review delay, the index that will reference it may be on its way), its
   * references when it is new, and points the tag at it, in one statement.
   */
  async insert(manager: EntityManager, m: ManifestRow): Promise<void> {
    await manager.query(
      `WITH stored AS (
         INSERT INTO manifests (repository_id, digest, media_type, artifact_type, size, content, subject_digest, annotations)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (repository_id, digest) DO UPDATE SET seen_at = now() RETURNING id, xmax = 0 AS inserted),
       refs AS (
         INSERT INTO manifest_references (manifest_id, digest, kind, size)
         SELECT stored.id, r.* FROM stored, unnest($9::text[], $10::text[], $11::bigint[]) r WHERE stored.inserted
         ON CONFLICT DO NOTHING),
       tag AS (
         INSERT INTO tags (repository_id, name, manifest_id) SELECT $1, $12::text, stored.id FROM stored WHERE $12::text IS NOT NULL
         ON CONFLICT (repository_id, name) DO UPDATE SET manifest_id = EXCLUDED.manifest_id, updated_at = now()
         WHERE tags.manifest_id IS DISTINCT FROM EXCLUDED.manifest_id)
       SELECT id FROM stored`,
      [
        m.repositoryId,
        m.digest,
        m.mediaType,
        m.artifactType,
        m.content.length,
        m.content,
        m.subjectDigest,
        m.annotations ? JSON.stringify(m.annotations) : null,
        m.references.map((r) => r.digest),
        m.references.map((r) => r.kind),
        m.references.map((r) => r.size),
        m.tag ?? null,
      ],
    );
  }
}

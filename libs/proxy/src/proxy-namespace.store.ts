import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/** A proxy_upstreams row, secrets still sealed. */
export interface UpstreamRow {
  namespaceId: string;
  namespace: string;
  url: string;
  host: string;
  pathPrefix: string | null;
  username: string | null;
  sealedPassword: string | null;
  sealedToken: string | null;
  insecure: boolean;
  caBundle: string | null;
  tagTtlSeconds: number;
  lastSuccessAt: Date | null;
  lastErrorAt: Date | null;
  lastError: string | null;
  updatedAt: Date;
}

export type UpstreamWrite = Omit<UpstreamRow, 'namespaceId' | 'namespace' | 'lastSuccessAt' | 'lastErrorAt' | 'lastError' | 'updatedAt'>;

/** A cached tag with the time upstream last confirmed it. */
export interface CachedTag {
  repositoryId: number;
  digest: string;
  mediaType: string;
  content: Buffer;
  checkedAt: Date | null;
}

const ROW = `SELECT p.namespace_id AS "namespaceId", n.name AS namespace, p.url, p.host, p.path_prefix AS "pathPrefix", p.username,
       p.sealed_password AS "sealedPassword", p.sealed_token AS "sealedToken", p.insecure, p.ca_bundle AS "caBundle",
       p.tag_ttl_seconds AS "tagTtlSeconds", p.last_success_at AS "lastSuccessAt", p.last_error_at AS "lastErrorAt",
       p.last_error AS "lastError", p.updated_at AS "updatedAt"
  FROM proxy_upstreams p JOIN namespaces n ON n.id = p.namespace_id`;

/** SQL of proxy namespaces: their upstreams, the upstreams' health, and when cached tags were last checked. */
@Injectable()
export class ProxyNamespaceStore {
  async all(m: EntityManager): Promise<UpstreamRow[]> {
    return m.query(ROW);
  }

  async find(m: EntityManager, namespace: string): Promise<UpstreamRow | undefined> {
    const rows: UpstreamRow[] = await m.query(`${ROW} WHERE n.name = $1`, [namespace]);
    return rows[0];
  }

  /** Which of these namespaces exist. */
  async existingNamespaces(m: EntityManager, namespaces: string[]): Promise<Set<string>> {
    const rows: { name: string }[] = await m.query(`SELECT name FROM namespaces WHERE name = ANY($1)`, [namespaces]);
    return new Set(rows.map((r) => r.name));
  }

  async upsert(m: EntityManager, namespaceId: string, w: UpstreamWrite): Promise<void> {
    await m.query(
      `INSERT INTO proxy_upstreams (namespace_id, url, host, path_prefix, username, sealed_password, sealed_token, insecure, ca_bundle, tag_ttl_seconds)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (namespace_id) DO UPDATE SET url = $2, host = $3, path_prefix = $4, username = $5, sealed_password = $6, sealed_token = $7,
         insecure = $8, ca_bundle = $9, tag_ttl_seconds = $10, updated_at = now()`,
      [namespaceId, w.url, w.host, w.pathPrefix, w.username, w.sealedPassword, w.sealedToken, w.insecure, w.caBundle, w.tagTtlSeconds],
    );
  }

  async recordSuccess(m: EntityManager, namespaceId: string): Promise<void> {
    await m.query(`UPDATE proxy_upstreams SET last_success_at = now() WHERE namespace_id = $1`, [namespaceId]);
  }

  async recordError(m: EntityManager, namespaceId: string, error: string): Promise<void> {
    await m.query(`UPDATE proxy_upstreams SET last_error_at = now(), last_error = $2 WHERE namespace_id = $1`, [namespaceId, error.slice(0, 500)]);
  }

  /** The manifest the tag points at in repository `name`, with its last upstream check; undefined when not cached. */
  async cachedTag(m: EntityManager, name: string, tag: string): Promise<CachedTag | undefined> {
    const rows: { repository_id: string; digest: string; media_type: string; content: Buffer; checked_at: Date | null }[] = await m.query(
      `SELECT t.repository_id, mf.digest, mf.media_type, mf.content, c.checked_at FROM tags t
         JOIN repositories r ON r.id = t.repository_id
         JOIN manifests mf ON mf.id = t.manifest_id
         LEFT JOIN proxy_tag_checks c ON c.repository_id = t.repository_id AND c.tag = t.name
        WHERE r.name = $1 AND t.name = $2`,
      [name, tag],
    );
    const row = rows[0];
    return row && { repositoryId: Number(row.repository_id), digest: row.digest, mediaType: row.media_type, content: row.content, checkedAt: row.checked_at };
  }

  /** Records that upstream confirmed (or moved) the tag now. */
  async checked(m: EntityManager, repositoryId: number, tag: string): Promise<void> {
    await m.query(
      `INSERT INTO proxy_tag_checks (repository_id, tag) VALUES ($1, $2) ON CONFLICT (repository_id, tag) DO UPDATE SET checked_at = now()`,
      [repositoryId, tag],
    );
  }
}

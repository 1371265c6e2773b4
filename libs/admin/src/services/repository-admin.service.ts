import { Injectable, NotFoundException } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { ManifestChanges } from '@berth/database';
import { RegistryEvents, type StorageUsage, usage } from '@berth/distribution';
import type { EventContext } from '@berth/notifications';
import { AccessService, AuditService, type ChangeContext, type Identity, type Page, type PageRequest, pageOffset } from '../auth.js';

export interface RepositorySummary {
  name: string;
  namespace: string;
  tagCount: number;
  /** Bytes of the distinct blobs linked to the repository (shared layers counted once). */
  size: number;
  /** What the repository counts towards its namespace's quota: its blobs (as in size) and its manifests. */
  usage: StorageUsage;
  createdAt: Date;
}

export interface TagView {
  name: string;
  digest: string;
  mediaType: string;
  /** Bytes of the blobs the tagged manifest references (config and layers). */
  size: number;
  updatedAt: Date;
}

export interface RepositoryDetail extends RepositorySummary {
  tags: TagView[];
}

export interface RepositoryQuery extends PageRequest {
  q?: string;
  namespace?: string;
}

const SUMMARY_COLUMNS = `r.name, r.namespace, r.created_at AS "createdAt",
  (SELECT count(*) FROM tags t WHERE t.repository_id = r.id) AS "tagCount",
  (SELECT COALESCE(sum(b.size), 0) FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE rb.repository_id = r.id) AS size,
  (SELECT COALESCE(sum(m.size), 0) FROM manifests m WHERE m.repository_id = r.id) AS "manifestBytes"`;

/** A summary row as the database returns it: counts and sums of bigints arrive as strings. */
type SummaryRow = Omit<RepositorySummary, 'usage'> & { manifestBytes: string };

const TAG_SELECT = `SELECT t.name, m.digest, m.media_type AS "mediaType", t.updated_at AS "updatedAt",
         (SELECT COALESCE(sum(mr.size), 0) FROM manifest_references mr WHERE mr.manifest_id = m.id AND mr.kind = 'blob') AS size
    FROM tags t JOIN manifests m ON m.id = t.manifest_id
   WHERE t.repository_id = $1
   ORDER BY t.name`;

/**
 * Repositories and tags as administrators and namespace members browse and prune them.
 * Deleting removes rows only: blobs stay in storage until garbage collection.
 */
@Injectable()
export class RepositoryAdminService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly access: AccessService,
    private readonly audit: AuditService,
    private readonly events: RegistryEvents,
    private readonly manifestChanges: ManifestChanges,
  ) {}

  /** The repositories the identity may pull. */
  async list(identity: Identity, query: RepositoryQuery): Promise<Page<RepositorySummary>> {
    const pullable = this.access.pullableFilter(identity, 'r.name', 1);
    const next = pullable.params.length + 1;
    const where = `WHERE ${pullable.clause}
      AND ($${next}::text IS NULL OR position($${next} in r.name) > 0)
      AND ($${next + 1}::text IS NULL OR r.namespace = $${next + 1})`;
    const params = [...pullable.params, query.q ? query.q.toLowerCase() : null, query.namespace ?? null];
    const [{ total }]: { total: string }[] = await this.dataSource.query(`SELECT count(*) AS total FROM repositories r ${where}`, params);
    const rows: SummaryRow[] = await this.dataSource.query(
      `SELECT ${SUMMARY_COLUMNS} FROM repositories r ${where} ORDER BY r.name LIMIT $${next + 2} OFFSET $${next + 3}`,
      [...params, query.perPage, pageOffset(query)],
    );
    return { items: rows.map(numbers), page: query.page, perPage: query.perPage, total: Number(total) };
  }

  async get(name: string): Promise<RepositoryDetail> {
    const rows: (SummaryRow & { id: string })[] = await this.dataSource.query(
      `SELECT r.id, ${SUMMARY_COLUMNS} FROM repositories r WHERE r.name = $1`,
      [name],
    );
    if (!rows.length) throw repositoryNotFound(name);
    const { id, ...summary } = rows[0];
    const tags: TagView[] = await this.dataSource.query(TAG_SELECT, [id]);
    return { ...numbers(summary), tags: tags.map((t) => ({ ...t, size: Number(t.size) })) };
  }

  async tags(name: string, page: PageRequest): Promise<Page<TagView>> {
    const id = await this.requireId(name);
    const [{ total }]: { total: string }[] = await this.dataSource.query(`SELECT count(*) AS total FROM tags WHERE repository_id = $1`, [id]);
    const tags: TagView[] = await this.dataSource.query(`${TAG_SELECT} LIMIT $2 OFFSET $3`, [id, page.perPage, pageOffset(page)]);
    return { items: tags.map((t) => ({ ...t, size: Number(t.size) })), page: page.page, perPage: page.perPage, total: Number(total) };
  }

  /** Deletes the repository's rows: manifests, tags, blob links and uploads go with it. */
  async delete(name: string, ctx: ChangeContext, event: EventContext): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const rows: { tags: string }[] = await manager.query(
        `WITH deleted AS (DELETE FROM repositories WHERE name = $1 RETURNING id)
         SELECT (SELECT count(*) FROM tags WHERE repository_id IN (SELECT id FROM deleted)) AS tags FROM deleted`,
        [name],
      );
      if (!rows.length) throw repositoryNotFound(name);
      await this.audit.record({ ...ctx, action: 'repository.delete', target: `repository:${name}`, detail: { tags: Number(rows[0].tags) } }, manager);
      await this.events.record(manager, event, [{ action: 'delete', target: { repository: name } }]);
    });
    this.manifestChanges.changed([name]);
  }

  /** Untags: the manifest stays, reachable by digest. */
  async deleteTag(name: string, tag: string, ctx: ChangeContext, event: EventContext): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const rows: { digest: string; media_type: string }[] = await manager.query(
        `WITH deleted AS (
           DELETE FROM tags t USING repositories r
            WHERE t.repository_id = r.id AND r.name = $1 AND t.name = $2
            RETURNING t.manifest_id)
         SELECT m.digest, m.media_type FROM deleted d JOIN manifests m ON m.id = d.manifest_id`,
        [name, tag],
      );
      if (!rows.length) {
        await this.requireId(name, manager);
        throw new NotFoundException(`tag ${tag} not found in ${name}`);
      }
      await this.audit.record({ ...ctx, action: 'tag.delete', target: `repository:${name}`, detail: { tag, digest: rows[0].digest } }, manager);
      const target = this.events.manifestTarget(event, name, { digest: rows[0].digest, mediaType: rows[0].media_type }, tag);
      await this.events.record(manager, event, [{ action: 'delete', target }]);
    });
    this.manifestChanges.changed([name]);
  }

  private async requireId(name: string, manager: EntityManager = this.dataSource.manager): Promise<string> {
    const rows: { id: string }[] = await manager.query(`SELECT id FROM repositories WHERE name = $1`, [name]);
    if (!rows.length) throw repositoryNotFound(name);
    return rows[0].id;
  }
}

function numbers({ manifestBytes, ...summary }: SummaryRow): RepositorySummary {
  return { ...summary, tagCount: Number(summary.tagCount), size: Number(summary.size), usage: usage(summary.size, manifestBytes) };
}

function repositoryNotFound(name: string): NotFoundException {
  return new NotFoundException(`repository ${name} not found`);
}

import { ConflictException, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { ManifestChanges, type NamespaceKind, type Role, type Visibility } from '@berth/database';
import { AuditService } from '../audit.service.js';
import type { Identity, UserIdentity } from '../identity.js';
import { isAccountName } from './account-name.js';
import type { ChangeContext } from './change-context.js';
import { fieldError } from './field-error.js';
import { type NamespaceRecord, lockNamespace, namespaceNotFound } from './namespace-lock.js';
import { countRepositories, deleteRepositories } from './namespace-repositories.js';
import { type Page, type PageRequest, pageOffset } from './page.js';
import { isUniqueViolation } from './unique-violation.js';
import { CredentialGenerationStore } from '../credential-generation.store.js';

export interface NamespaceView {
  name: string;
  kind: NamespaceKind;
  visibility: Visibility;
  /** The user of a personal namespace; null for an organisation. */
  owner: string | null;
  /** The caller's membership role; null when not a member. */
  role: Role | null;
  createdAt: Date;
  updatedAt: Date;
}


const VIEW_SELECT = `SELECT n.name, n.kind, n.visibility, u.username AS owner, m.role,
         n.created_at AS "createdAt", n.updated_at AS "updatedAt"
    FROM namespaces n
    LEFT JOIN users u ON u.id = n.owner_user_id
    LEFT JOIN memberships m ON m.namespace_id = n.id AND m.user_id = $1`;

/** Organisations (created by administrators) and the settings of every namespace. */
@Injectable()
export class NamespaceService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly generations: CredentialGenerationStore,
    private readonly manifestChanges: ManifestChanges,
  ) {}

  /**
   * An organisation, or (`kind: 'proxy'`) a pull-through cache's namespace, whose settings
   * `within` writes in the same transaction; `detail` adds to the audit entry.
   */
  async createOrganization(
    input: { name: string; visibility?: Visibility },
    ctx: ChangeContext,
    options: { kind?: 'organization' | 'proxy'; within?: (manager: EntityManager, namespaceId: string) => Promise<void>; detail?: Record<string, unknown> } = {},
  ): Promise<NamespaceView> {
    if (!isAccountName(input.name)) {
      throw fieldError('name', 'must be 2-64 lowercase letters and digits, separated by ".", "_", "__" or "-"');
    }
    const visibility = input.visibility ?? 'private';
    await this.dataSource.transaction(async (manager) => {
      // A user's name is also their namespace's: an organisation may not take it either.
      const [taken]: { taken: boolean }[] = await manager.query(
        `SELECT EXISTS (SELECT 1 FROM namespaces WHERE name = $1) OR EXISTS (SELECT 1 FROM users WHERE username = $1) AS taken`,
        [input.name],
      );
      if (taken.taken) throw nameTaken(input.name);
      let id: string;
      try {
        [{ id }] = await manager.query(`INSERT INTO namespaces (name, kind, visibility) VALUES ($1, $2, $3) RETURNING id`, [
          input.name,
          options.kind ?? 'organization',
          visibility,
        ]);
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(input.name);
        throw err;
      }
      await options.within?.(manager, id);
      await this.audit.record({ ...ctx, action: 'namespace.create', target: `namespace:${input.name}`, detail: { visibility, ...options.detail } }, manager);
    });
    return this.get(ctx.actor, input.name);
  }

  /**
   * The organisation a system administrator's push names (AUTO_CREATE_NAMESPACES), created
   * private with them as its owner, in one transaction. A no-op when it exists, also when a
   * concurrent push created it first; never takes a user's name.
   */
  async createForPush(name: string, owner: UserIdentity, ctx: ChangeContext): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const created: { id: string }[] = await manager.query(
        `INSERT INTO namespaces (name, kind) SELECT $1::varchar, 'organization' WHERE NOT EXISTS (SELECT 1 FROM users WHERE username = $1::varchar)
         ON CONFLICT (name) DO NOTHING RETURNING id`,
        [name],
      );
      if (!created.length) return;
      await manager.query(`INSERT INTO memberships (namespace_id, user_id, role) VALUES ($1, $2, 'owner')`, [created[0].id, owner.id]);
      await this.audit.record({ ...ctx, action: 'namespace.create', target: `namespace:${name}`, detail: { visibility: 'private', onPush: true } }, manager);
    });
  }

  /** Administrators see every namespace; others those they are members of and the public ones. */
  async list(identity: Identity, query: { q?: string } & PageRequest): Promise<Page<NamespaceView>> {
    const isAdmin = identity.kind === 'user' && identity.isAdmin;
    const userId = identity.kind === 'user' ? identity.id : null;
    const where = `WHERE ($2 OR m.role IS NOT NULL OR n.visibility = 'public') AND ($3::text IS NULL OR position($3 in n.name) > 0)`;
    const params = [userId, isAdmin, query.q ? query.q.toLowerCase() : null];
    const [{ total }]: { total: string }[] = await this.dataSource.query(
      `SELECT count(*) AS total FROM namespaces n
         LEFT JOIN memberships m ON m.namespace_id = n.id AND m.user_id = $1 ${where}`,
      params,
    );
    const items: NamespaceView[] = await this.dataSource.query(`${VIEW_SELECT} ${where} ORDER BY n.name LIMIT $4 OFFSET $5`, [
      ...params,
      query.perPage,
      pageOffset(query),
    ]);
    return { items, page: query.page, perPage: query.perPage, total: Number(total) };
  }

  /** The namespace with the caller's role in it (no visibility check: the caller's access is checked before). */
  async get(viewer: Identity | string, name: string): Promise<NamespaceView> {
    const userId = typeof viewer !== 'string' && viewer.kind === 'user' ? viewer.id : null;
    const rows: NamespaceView[] = await this.dataSource.query(`${VIEW_SELECT} WHERE n.name = $2`, [userId, name]);
    if (!rows.length) throw namespaceNotFound(name);
    return rows[0];
  }

  async find(name: string): Promise<NamespaceRecord | undefined> {
    const rows: NamespaceRecord[] = await this.dataSource.query(`SELECT id, name, kind, visibility FROM namespaces WHERE name = $1`, [name]);
    return rows[0];
  }

  async setVisibility(name: string, visibility: Visibility, ctx: ChangeContext): Promise<NamespaceView> {
    await this.dataSource.transaction(async (manager) => {
      const namespace = await lockNamespace(manager, name);
      if (namespace.visibility === visibility) return;
      await manager.query(`UPDATE namespaces SET visibility = $2, updated_at = now() WHERE id = $1`, [namespace.id, visibility]);
      await this.audit.record(
        { ...ctx, action: 'namespace.update', target: `namespace:${name}`, detail: { visibility, previous: namespace.visibility } },
        manager,
      );
    });
    return this.get(ctx.actor, name);
  }

  /** The namespace's byte quota; null: none. */
  async quota(name: string): Promise<number | null> {
    const rows: { quota_bytes: string | null }[] = await this.dataSource.query(`SELECT quota_bytes FROM namespaces WHERE name = $1`, [name]);
    if (!rows.length) throw namespaceNotFound(name);
    return rows[0].quota_bytes === null ? null : Number(rows[0].quota_bytes);
  }

  /**
   * Sets or (null) removes the byte quota; lowering it below the usage only refuses
   * further pushes. The next push recounts the usage exactly.
   */
  async setQuota(name: string, quotaBytes: number | null, ctx: ChangeContext): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const namespace = await lockNamespace(manager, name);
      await manager.query(`UPDATE namespaces SET quota_bytes = $2, quota_counted_bytes = NULL, updated_at = now() WHERE id = $1`, [
        namespace.id,
        quotaBytes,
      ]);
      await this.audit.record({ ...ctx, action: 'namespace.quota', target: `namespace:${name}`, detail: { quotaBytes } }, manager);
    });
  }

  /**
   * Deletes an organisation with its members and robots. Refused while it holds
   * repositories, unless `force`, which deletes their rows too (blobs stay for GC).
   * A personal namespace goes only with its user.
   */
  async delete(name: string, options: { force: boolean }, ctx: ChangeContext): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const namespace = await lockNamespace(manager, name);
      if (namespace.kind === 'user') {
        throw new ConflictException(`${name} is a personal namespace: it is deleted with its user`);
      }
      const repositories = await countRepositories(manager, name);
      if (repositories && !options.force) {
        throw new ConflictException(`the namespace ${name} still holds ${repositories} repositories: delete them first or pass force=true`);
      }
      if (repositories) await deleteRepositories(manager, name);
      // Its members' and robots' tokens carry grants in it.
      await this.generations.bumpNamespace(manager, namespace.id);
      await manager.query(`DELETE FROM namespaces WHERE id = $1`, [namespace.id]);
      await this.audit.record(
        { ...ctx, action: 'namespace.delete', target: `namespace:${name}`, detail: { repositoriesDeleted: repositories } },
        manager,
      );
    });
    this.manifestChanges.changed('all');
  }
}

function nameTaken(name: string): ConflictException {
  return new ConflictException(`the name ${name} is already taken by a namespace or user`);
}

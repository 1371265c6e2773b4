import { randomBytes } from 'node:crypto';
import { ConflictException, ForbiddenException, Injectable, NotFoundException } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { ManifestChanges } from '@berth/database';
import { AuditService } from '../audit.service.js';
import type { Identity } from '../identity.js';
import { PasswordHasher } from '../password-hasher.js';
import { PASSWORD_MAX, PASSWORD_MIN, isAccountName } from './account-name.js';
import type { ChangeContext } from './change-context.js';
import { fieldError } from './field-error.js';
import { countRepositories, deleteRepositories } from './namespace-repositories.js';
import { type Page, type PageRequest, pageOffset } from './page.js';
import { isUniqueViolation } from './unique-violation.js';
import { CredentialGenerationStore } from '../credential-generation.store.js';

/** A user as the API shows it: never the password hash. */
export interface UserView {
  username: string;
  isAdmin: boolean;
  disabled: boolean;
  passwordChangedAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewUser {
  username: string;
  password: string;
  isAdmin?: boolean;
}

export interface UserChanges {
  isAdmin?: boolean;
  disabled?: boolean;
}

const USER_COLUMNS = `username, is_admin AS "isAdmin", disabled, password_changed_at AS "passwordChangedAt",
  created_at AS "createdAt", updated_at AS "updatedAt"`;

/** Serialises the first-administrator check across replicas starting together. */
const INITIAL_ADMIN_LOCK = 7310013;

/** User accounts, each with its personal namespace. */
@Injectable()
export class UserService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly hasher: PasswordHasher,
    private readonly audit: AuditService,
    private readonly generations: CredentialGenerationStore,
    private readonly manifestChanges: ManifestChanges,
  ) {}

  /** Creates the user, their personal namespace and their `owner` membership in it, in one transaction. */
  async create(input: NewUser, ctx: ChangeContext): Promise<UserView> {
    checkUsername(input.username);
    checkPassword('password', input.password);
    const hash = await this.hasher.hash(input.password);
    return this.dataSource.transaction((manager) => this.insert(manager, input.username, hash, input.isAdmin ?? false, ctx));
  }

  /**
   * Creates an administrator when there is no user at all. Without a password, a random
   * one is generated and handed to `log` (the only time it is ever shown).
   */
  async ensureInitialAdmin(username: string, password: string | undefined, log: (message: string) => void): Promise<boolean> {
    if (await this.anyUser(this.dataSource.manager)) return false;
    checkUsername(username);
    const chosen = password ?? randomBytes(18).toString('base64url');
    checkPassword('password', chosen);
    const hash = await this.hasher.hash(chosen);
    const created = await this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [INITIAL_ADMIN_LOCK]);
      if (await this.anyUser(manager)) return false;
      await this.insert(manager, username, hash, true, { actor: 'system' });
      return true;
    });
    if (created && password === undefined) {
      log(`Created the first administrator "${username}" with the password ${chosen} (shown only now: change it)`);
    }
    return created;
  }

  async list(query: { q?: string } & PageRequest): Promise<Page<UserView>> {
    const filter = query.q ? query.q.toLowerCase() : null;
    const [{ total }]: { total: string }[] = await this.dataSource.query(
      `SELECT count(*) AS total FROM users WHERE $1::text IS NULL OR position($1 in username) > 0`,
      [filter],
    );
    const items: UserView[] = await this.dataSource.query(
      `SELECT ${USER_COLUMNS} FROM users WHERE $1::text IS NULL OR position($1 in username) > 0
        ORDER BY username LIMIT $2 OFFSET $3`,
      [filter, query.perPage, pageOffset(query)],
    );
    return { items, page: query.page, perPage: query.perPage, total: Number(total) };
  }

  async get(username: string): Promise<UserView> {
    const rows: UserView[] = await this.dataSource.query(`SELECT ${USER_COLUMNS} FROM users WHERE username = $1`, [username]);
    if (!rows.length) throw userNotFound(username);
    return rows[0];
  }

  /** Grants or withdraws administration, disables or enables; nobody may disable or demote themselves. */
  async update(username: string, changes: UserChanges, ctx: ChangeContext): Promise<UserView> {
    return this.dataSource.transaction(async (manager) => {
      const id = await this.lockUser(manager, username);
      if (isSelf(ctx.actor, id) && (changes.isAdmin === false || changes.disabled === true)) {
        throw new ForbiddenException('you cannot disable your own account or withdraw your own administration');
      }
      const rows: UserView[] = await manager.query(
        `WITH updated AS (
           UPDATE users SET is_admin = COALESCE($2, is_admin), disabled = COALESCE($3, disabled), updated_at = now()
            WHERE id = $1 RETURNING *)
         SELECT ${USER_COLUMNS} FROM updated`,
        [id, changes.isAdmin ?? null, changes.disabled ?? null],
      );
      // Disabling revokes every token already issued; demoting, the registry tokens (they carry its grants).
      if (changes.disabled === true) await this.generations.bump(manager, [`user:${id}`], 'credentials');
      else if (changes.isAdmin === false) await this.generations.bump(manager, [`user:${id}`], 'grants');
      await this.audit.record({ ...ctx, action: 'user.update', target: `user:${username}`, detail: { ...changes } }, manager);
      return rows[0];
    });
  }

  /** Replaces the password; the tokens and refresh tokens issued before are revoked. */
  async setPassword(username: string, password: string, ctx: ChangeContext): Promise<void> {
    checkPassword('password', password);
    const hash = await this.hasher.hash(password);
    await this.dataSource.transaction(async (manager) => {
      const id = await this.lockUser(manager, username);
      await manager.query(`UPDATE users SET password_hash = $2, password_changed_at = now(), updated_at = now() WHERE id = $1`, [id, hash]);
      await this.generations.bump(manager, [`user:${id}`], 'credentials');
      await this.audit.record({ ...ctx, action: 'user.password.set', target: `user:${username}` }, manager);
    });
  }

  /** A user changing their own password proves they know the current one. */
  async changeOwnPassword(username: string, currentPassword: string, newPassword: string, ctx: ChangeContext): Promise<void> {
    checkPassword('newPassword', newPassword);
    const rows: { passwordHash: string }[] = await this.dataSource.query(
      `SELECT password_hash AS "passwordHash" FROM users WHERE username = $1`,
      [username],
    );
    if (!rows.length) throw userNotFound(username);
    if (!(await this.hasher.verify(rows[0].passwordHash, currentPassword))) {
      throw new ForbiddenException('the current password is not correct');
    }
    await this.setPassword(username, newPassword, ctx);
  }

  /**
   * Deletes the user with their personal namespace. Refused while that namespace holds
   * repositories (unless `force`, which deletes them too) or while the user is the last
   * owner of an organisation.
   */
  async delete(username: string, options: { force: boolean }, ctx: ChangeContext): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const id = await this.lockUser(manager, username);
      if (isSelf(ctx.actor, id)) throw new ForbiddenException('you cannot delete your own account');
      const soleOwnerOf: { name: string }[] = await manager.query(
        `SELECT n.name FROM memberships m JOIN namespaces n ON n.id = m.namespace_id
          WHERE m.user_id = $1 AND m.role = 'owner' AND n.kind IN ('organization', 'proxy')
            AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.namespace_id = m.namespace_id AND o.role = 'owner' AND o.user_id <> $1)
          ORDER BY n.name`,
        [id],
      );
      if (soleOwnerOf.length) {
        throw new ConflictException(
          `${username} is the last owner of ${soleOwnerOf.map((n) => n.name).join(', ')}: make someone else owner first`,
        );
      }
      const repositories = await countRepositories(manager, username);
      if (repositories && !options.force) {
        throw new ConflictException(
          `the namespace ${username} still holds ${repositories} repositories: delete them first or pass force=true`,
        );
      }
      if (repositories) await deleteRepositories(manager, username);
      await this.generations.bump(manager, [`user:${id}`], 'credentials');
      await manager.query(`DELETE FROM namespaces WHERE owner_user_id = $1`, [id]);
      await manager.query(`DELETE FROM users WHERE id = $1`, [id]);
      await this.audit.record(
        { ...ctx, action: 'user.delete', target: `user:${username}`, detail: { repositoriesDeleted: repositories } },
        manager,
      );
    });
    this.manifestChanges.changed('all');
  }

  private async insert(manager: EntityManager, username: string, hash: string, isAdmin: boolean, ctx: ChangeContext): Promise<UserView> {
    const [taken]: { user: boolean; namespace: boolean }[] = await manager.query(
      `SELECT EXISTS (SELECT 1 FROM users WHERE username = $1) AS user,
              EXISTS (SELECT 1 FROM namespaces WHERE name = $1) AS namespace`,
      [username],
    );
    if (taken.user) throw new ConflictException(`the user ${username} already exists`);
    if (taken.namespace) throw new ConflictException(`the name ${username} is taken by a namespace`);
    try {
      const [user]: (UserView & { id: string })[] = await manager.query(
        `INSERT INTO users (username, password_hash, is_admin) VALUES ($1, $2, $3) RETURNING id, ${USER_COLUMNS}`,
        [username, hash, isAdmin],
      );
      const [namespace]: { id: string }[] = await manager.query(
        `INSERT INTO namespaces (name, kind, owner_user_id) VALUES ($1, 'user', $2) RETURNING id`,
        [username, user.id],
      );
      await manager.query(`INSERT INTO memberships (namespace_id, user_id, role) VALUES ($1, $2, 'owner')`, [namespace.id, user.id]);
      await this.audit.record({ ...ctx, action: 'user.create', target: `user:${username}`, detail: { isAdmin } }, manager);
      const { id: _id, ...view } = user;
      return view;
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictException(`the name ${username} is already taken`);
      throw err;
    }
  }

  private async lockUser(manager: EntityManager, username: string): Promise<string> {
    const rows: { id: string }[] = await manager.query(`SELECT id FROM users WHERE username = $1 FOR UPDATE`, [username]);
    if (!rows.length) throw userNotFound(username);
    return rows[0].id;
  }

  private async anyUser(manager: EntityManager): Promise<boolean> {
    const [row]: { any: boolean }[] = await manager.query(`SELECT EXISTS (SELECT 1 FROM users) AS any`);
    return row.any;
  }
}

function checkUsername(username: string): void {
  if (!isAccountName(username)) {
    throw fieldError('username', 'must be 2-64 lowercase letters and digits, separated by ".", "_", "__" or "-"');
  }
}

function checkPassword(field: string, password: string): void {
  if (password.length < PASSWORD_MIN || password.length > PASSWORD_MAX) {
    throw fieldError(field, `must be ${PASSWORD_MIN}-${PASSWORD_MAX} characters`);
  }
}

function isSelf(actor: Identity | string, userId: string): boolean {
  return typeof actor !== 'string' && actor.kind === 'user' && actor.id === userId;
}

function userNotFound(username: string): NotFoundException {
  return new NotFoundException(`user ${username} not found`);
}

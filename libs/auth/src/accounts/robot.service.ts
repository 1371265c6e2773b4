import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { isRepositoryName } from '@berth/core';
import type { RegistryAction } from '@berth/database';
import { AuditService } from '../audit.service.js';
import { REGISTRY_ACTIONS, namespaceOf } from '../roles.js';
import { isAccountName } from './account-name.js';
import type { ChangeContext } from './change-context.js';
import { fieldError } from './field-error.js';
import { lockNamespace, namespaceNotFound } from './namespace-lock.js';
import { generateRobotSecret, hashRobotSecret } from './robot-secret.js';
import { isUniqueViolation } from './unique-violation.js';
import { RobotStore } from './robot.store.js';
import { CredentialGenerationStore } from '../credential-generation.store.js';

/** A robot account as the API shows it: never its secret nor the secret's hash. */
export interface RobotView {
  name: string;
  /** The login name, `<namespace>+<name>`. */
  username: string;
  namespace: string;
  description: string | null;
  actions: RegistryAction[];
  repositories: string[] | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  status: 'active' | 'expired' | 'revoked';
  createdAt: Date;
  updatedAt: Date;
}

export interface RobotGrant {
  name: string;
  description?: string | null;
  actions: RegistryAction[];
  /** Repository names or globs inside the namespace; null or absent = all of them. */
  repositories?: string[] | null;
  expiresAt?: Date | null;
}

/** What a credential check needs; only `findForLogin` returns the hash. */
export interface RobotCredentials {
  id: string;
  namespace: string;
  name: string;
  secretHash: string;
  actions: RegistryAction[];
  repositories: string[] | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  generation: number;
  credentialGeneration: number;
}

export const ROBOT_NAME_SEPARATOR = '+';

const VIEW_SELECT = `SELECT r.name, n.name || '${ROBOT_NAME_SEPARATOR}' || r.name AS username, n.name AS namespace,
         r.description, r.actions, r.repositories, r.expires_at AS "expiresAt", r.revoked_at AS "revokedAt",
         CASE WHEN r.revoked_at IS NOT NULL THEN 'revoked' WHEN r.expires_at <= now() THEN 'expired' ELSE 'active' END AS status,
         r.created_at AS "createdAt", r.updated_at AS "updatedAt"
    FROM robots r JOIN namespaces n ON n.id = r.namespace_id`;

/** Machine accounts of a namespace. Secrets are returned once, at creation and rotation. */
@Injectable()
export class RobotService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly store: RobotStore,
    private readonly generations: CredentialGenerationStore,
  ) {}

  async create(namespace: string, grant: RobotGrant, ctx: ChangeContext): Promise<{ robot: RobotView; secret: string }> {
    const checked = checkGrant(namespace, grant);
    const secret = generateRobotSecret();
    await this.dataSource.transaction(async (manager) => {
      const ns = await lockNamespace(manager, namespace);
      // Checked first (the namespace lock serialises creations) so that a duplicate never
      // reaches the INSERT, whose failure would be logged with its parameters.
      const existing: unknown[] = await manager.query(`SELECT 1 FROM robots WHERE namespace_id = $1 AND name = $2`, [ns.id, grant.name]);
      if (existing.length) throw robotExists(namespace, grant.name);
      try {
        await manager.query(
          `INSERT INTO robots (namespace_id, name, description, secret_hash, actions, repositories, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [ns.id, grant.name, grant.description ?? null, hashRobotSecret(secret), checked.actions, checked.repositories, checked.expiresAt],
        );
      } catch (err) {
        if (isUniqueViolation(err)) throw robotExists(namespace, grant.name);
        throw err;
      }
      await this.audit.record(
        {
          ...ctx,
          action: 'robot.create',
          target: `robot:${robotLogin(namespace, grant.name)}`,
          detail: { actions: checked.actions, repositories: checked.repositories, expiresAt: checked.expiresAt },
        },
        manager,
      );
    });
    return { robot: await this.get(namespace, grant.name), secret };
  }

  async list(namespace: string): Promise<RobotView[]> {
    const rows: RobotView[] = await this.dataSource.query(`${VIEW_SELECT} WHERE n.name = $1 ORDER BY r.name`, [namespace]);
    if (!rows.length && !(await this.namespaceExists(namespace))) throw namespaceNotFound(namespace);
    return rows;
  }

  async get(namespace: string, name: string): Promise<RobotView> {
    const rows: RobotView[] = await this.dataSource.query(`${VIEW_SELECT} WHERE n.name = $1 AND r.name = $2`, [namespace, name]);
    if (!rows.length) throw robotNotFound(namespace, name);
    return rows[0];
  }

  /** Replaces the secret: the old one stops working at once, with the tokens issued to it. A revoked robot stays revoked. */
  async rotate(namespace: string, name: string, ctx: ChangeContext): Promise<{ robot: RobotView; secret: string }> {
    const secret = generateRobotSecret();
    await this.change(namespace, name, ctx, 'robot.rotate', async (manager, robot) => {
      if (robot.revoked) throw new ConflictException(`the robot ${robotLogin(namespace, name)} is revoked`);
      await manager.query(`UPDATE robots SET secret_hash = $2, updated_at = now() WHERE id = $1`, [robot.id, hashRobotSecret(secret)]);
      await this.generations.bump(manager, [`robot:${robot.id}`], 'credentials');
      return true;
    });
    return { robot: await this.get(namespace, name), secret };
  }

  /** Revoking keeps the robot listed (as revoked) so its history stays readable; revoking twice changes nothing. */
  async revoke(namespace: string, name: string, ctx: ChangeContext): Promise<RobotView> {
    await this.change(namespace, name, ctx, 'robot.revoke', async (manager, robot) => {
      if (robot.revoked) return false;
      await manager.query(`UPDATE robots SET revoked_at = now(), updated_at = now() WHERE id = $1`, [robot.id]);
      await this.generations.bump(manager, [`robot:${robot.id}`], 'credentials');
      return true;
    });
    return this.get(namespace, name);
  }

  async delete(namespace: string, name: string, ctx: ChangeContext): Promise<void> {
    await this.change(namespace, name, ctx, 'robot.delete', async (manager, robot) => {
      await manager.query(`DELETE FROM robots WHERE id = $1`, [robot.id]);
      await this.generations.bump(manager, [`robot:${robot.id}`], 'credentials');
      return true;
    });
  }

  /** The robot behind a login name's two parts, with its secret hash, for the credential check. */
  findForLogin(namespace: string, name: string): Promise<RobotCredentials | undefined> {
    return this.store.findForLogin(this.dataSource.manager, namespace, name);
  }

  /** Runs one change on a locked robot row; audits it when `apply` says something changed. */
  private async change(
    namespace: string,
    name: string,
    ctx: ChangeContext,
    action: string,
    apply: (manager: EntityManager, robot: { id: string; revoked: boolean }) => Promise<boolean>,
  ): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const rows: { id: string; revoked: boolean }[] = await manager.query(
        `SELECT r.id, r.revoked_at IS NOT NULL AS revoked FROM robots r JOIN namespaces n ON n.id = r.namespace_id
          WHERE n.name = $1 AND r.name = $2 FOR UPDATE OF r`,
        [namespace, name],
      );
      if (!rows.length) throw robotNotFound(namespace, name);
      if (await apply(manager, rows[0])) {
        await this.audit.record({ ...ctx, action, target: `robot:${robotLogin(namespace, name)}` }, manager);
      }
    });
  }

  private async namespaceExists(name: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(`SELECT 1 FROM namespaces WHERE name = $1`, [name]);
    return rows.length > 0;
  }
}

export function robotLogin(namespace: string, name: string): string {
  return `${namespace}${ROBOT_NAME_SEPARATOR}${name}`;
}

/** Checks a grant against the namespace; the request schema has checked the shapes already, this the meaning. */
function checkGrant(namespace: string, grant: RobotGrant): { actions: RegistryAction[]; repositories: string[] | null; expiresAt: Date | null } {
  if (!isAccountName(grant.name)) {
    throw fieldError('name', 'must be 2-64 lowercase letters and digits, separated by ".", "_", "__" or "-"');
  }
  const actions = [...new Set(grant.actions)];
  if (!actions.length || actions.some((a) => !REGISTRY_ACTIONS.includes(a))) {
    throw fieldError('actions', `must be a non-empty list of ${REGISTRY_ACTIONS.join(', ')}`);
  }
  const repositories = grant.repositories ? [...new Set(grant.repositories)] : null;
  if (repositories) {
    if (!repositories.length) throw fieldError('repositories', 'must list at least one repository, or be null for all of them');
    repositories.forEach((pattern, i) => {
      // `*` stands for part of one path component: any name character makes the pattern checkable as a name.
      if (!isRepositoryName(pattern.replaceAll('*', 'a'))) {
        throw fieldError(`repositories.${i}`, 'must be a repository name, where * matches within one path component');
      }
      if (namespaceOf(pattern) !== namespace) throw fieldError(`repositories.${i}`, `must be inside the namespace ${namespace}`);
    });
  }
  const expiresAt = grant.expiresAt ?? null;
  if (expiresAt && expiresAt.getTime() <= Date.now()) throw fieldError('expiresAt', 'must be in the future');
  return { actions, repositories, expiresAt };
}

function robotExists(namespace: string, name: string): ConflictException {
  return new ConflictException(`the robot ${robotLogin(namespace, name)} already exists`);
}

function robotNotFound(namespace: string, name: string): NotFoundException {
  return new NotFoundException(`robot ${robotLogin(namespace, name)} not found`);
}

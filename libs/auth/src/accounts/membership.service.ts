import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { Role } from '@berth/database';
import { AuditService } from '../audit.service.js';
import type { ChangeContext } from './change-context.js';
import { type NamespaceRecord, lockNamespace, namespaceNotFound } from './namespace-lock.js';
import { CredentialGenerationStore } from '../credential-generation.store.js';

export interface MemberView {
  username: string;
  role: Role;
  createdAt: Date;
}

interface CurrentMember {
  userId: string;
  role: Role | null;
  /** The namespace is this user's personal one. */
  personal: boolean;
}

/** Who belongs to a namespace, with which role. Every namespace keeps at least one owner. */
@Injectable()
export class MembershipService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly generations: CredentialGenerationStore,
  ) {}

  async list(namespace: string): Promise<MemberView[]> {
    const rows: (MemberView & { namespaceId: string | null })[] = await this.dataSource.query(
      `SELECT n.id AS "namespaceId", u.username, m.role, m.created_at AS "createdAt"
         FROM namespaces n
         LEFT JOIN memberships m ON m.namespace_id = n.id
         LEFT JOIN users u ON u.id = m.user_id
        WHERE n.name = $1
        ORDER BY u.username`,
      [namespace],
    );
    if (!rows.length) throw namespaceNotFound(namespace);
    return rows.filter((r) => r.username !== null).map(({ namespaceId: _namespaceId, ...member }) => member);
  }

  /** Gives the user this role (PUT semantics); `created` says whether they were not a member before. */
  async set(namespace: string, username: string, role: Role, ctx: ChangeContext): Promise<{ member: MemberView; created: boolean }> {
    return this.dataSource.transaction(async (manager) => {
      const ns = await lockNamespace(manager, namespace);
      const current = await this.current(manager, ns, username);
      if (current.role === 'owner' && role !== 'owner') await this.checkOwnerMayLeave(manager, ns, username, current);
      const [member]: MemberView[] = await manager.query(
        `INSERT INTO memberships (namespace_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (namespace_id, user_id) DO UPDATE SET role = EXCLUDED.role
         RETURNING $4::text AS username, role, created_at AS "createdAt"`,
        [ns.id, current.userId, role, username],
      );
      if (current.role !== role) {
        // Registry tokens carry the grants of the old role: a new role revokes them (a first membership has none).
        if (current.role !== null) await this.generations.bump(manager, [`user:${current.userId}`], 'grants');
        await this.audit.record(
          { ...ctx, action: 'namespace.member.set', target: `namespace:${namespace}`, detail: { username, role, previousRole: current.role } },
          manager,
        );
      }
      return { member, created: current.role === null };
    });
  }

  async remove(namespace: string, username: string, ctx: ChangeContext): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const ns = await lockNamespace(manager, namespace);
      const current = await this.current(manager, ns, username);
      if (current.role === null) throw new NotFoundException(`${username} is not a member of ${namespace}`);
      if (current.role === 'owner') await this.checkOwnerMayLeave(manager, ns, username, current);
      await manager.query(`DELETE FROM memberships WHERE namespace_id = $1 AND user_id = $2`, [ns.id, current.userId]);
      await this.generations.bump(manager, [`user:${current.userId}`], 'grants');
      await this.audit.record(
        { ...ctx, action: 'namespace.member.remove', target: `namespace:${namespace}`, detail: { username, previousRole: current.role } },
        manager,
      );
    });
  }

  private async current(manager: EntityManager, ns: NamespaceRecord, username: string): Promise<CurrentMember> {
    const rows: CurrentMember[] = await manager.query(
      `SELECT u.id AS "userId", m.role, COALESCE(n.owner_user_id = u.id, false) AS personal
         FROM users u
         JOIN namespaces n ON n.id = $1
         LEFT JOIN memberships m ON m.namespace_id = n.id AND m.user_id = u.id
        WHERE u.username = $2`,
      [ns.id, username],
    );
    if (!rows.length) throw new NotFoundException(`user ${username} not found`);
    return rows[0];
  }

  /** An owner may step down only while another owner remains; a personal namespace keeps its user as owner. */
  private async checkOwnerMayLeave(manager: EntityManager, ns: NamespaceRecord, username: string, current: CurrentMember): Promise<void> {
    if (current.personal) {
      throw new ConflictException(`${username} owns the personal namespace ${ns.name}: that role cannot change`);
    }
    const [{ owners }]: { owners: string }[] = await manager.query(
      `SELECT count(*) AS owners FROM memberships WHERE namespace_id = $1 AND role = 'owner'`,
      [ns.id],
    );
    if (Number(owners) <= 1) {
      throw new ConflictException(`${username} is the last owner of ${ns.name}: make someone else owner first`);
    }
  }
}

import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Role, Visibility } from '@berth/database';

/** What a permission check needs about one namespace: its visibility and the user's role there. */
export interface NamespaceAccess {
  visibility: Visibility;
  role?: Role;
}

/** SQL of the namespaces aggregate (with its memberships). */
@Injectable()
export class NamespaceStore {
  /** Visibility and the user's role (none for a robot or anonymous: null) for each of these namespaces that exists, in one query. */
  async access(manager: EntityManager, namespaces: string[], userId: string | null): Promise<Map<string, NamespaceAccess>> {
    const rows: { name: string; visibility: Visibility; role: Role | null }[] = await manager.query(
      `SELECT n.name, n.visibility, m.role FROM namespaces n
         LEFT JOIN memberships m ON m.namespace_id = n.id AND m.user_id = $2
        WHERE n.name = ANY($1)`,
      [namespaces, userId],
    );
    return new Map(rows.map((r) => [r.name, { visibility: r.visibility, role: r.role ?? undefined }]));
  }
}

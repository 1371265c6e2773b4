import { NotFoundException } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { NamespaceKind, Visibility } from '@berth/database';

/** What access checks need to know about a namespace. */
export interface NamespaceRecord {
  id: string;
  name: string;
  kind: NamespaceKind;
  visibility: Visibility;
}

/** Locks the namespace row: changes to one namespace's members and settings happen one at a time. */
export async function lockNamespace(manager: EntityManager, name: string): Promise<NamespaceRecord> {
  const rows: NamespaceRecord[] = await manager.query(`SELECT id, name, kind, visibility FROM namespaces WHERE name = $1 FOR UPDATE`, [name]);
  if (!rows.length) throw namespaceNotFound(name);
  return rows[0];
}

export function namespaceNotFound(name: string): NotFoundException {
  return new NotFoundException(`namespace ${name} not found`);
}

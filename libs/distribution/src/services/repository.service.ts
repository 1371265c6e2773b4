import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { RegistryError, assertRepositoryName } from '@berth/core';

/** Finds and creates repositories by name. */
@Injectable()
export class RepositoryService {
  constructor(private readonly dataSource: DataSource) {}

  /** The repository's id, or undefined; throws NAME_INVALID for a malformed name. */
  async findId(name: string, manager: EntityManager = this.dataSource.manager): Promise<number | undefined> {
    assertRepositoryName(name);
    const rows: { id: string }[] = await manager.query('SELECT id FROM repositories WHERE name = $1', [name]);
    return rows.length ? Number(rows[0].id) : undefined;
  }

  /** Like findId, but a missing repository is NAME_UNKNOWN. */
  async requireId(name: string): Promise<number> {
    const id = await this.findId(name);
    if (id === undefined) throw new RegistryError('NAME_UNKNOWN', `repository ${name} not known to registry`, { name });
    return id;
  }

  /** Creates the repository when missing; safe when many requests create it at once. */
  async ensureId(name: string, manager: EntityManager = this.dataSource.manager): Promise<number> {
    assertRepositoryName(name);
    for (;;) {
      const rows: { id: string }[] = await manager.query(
        `WITH inserted AS (INSERT INTO repositories (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id)
         SELECT id FROM inserted UNION ALL SELECT id FROM repositories WHERE name = $1 LIMIT 1`,
        [name],
      );
      // Empty only when a concurrent transaction inserted the name after this statement's snapshot.
      if (rows.length) return Number(rows[0].id);
    }
  }
}

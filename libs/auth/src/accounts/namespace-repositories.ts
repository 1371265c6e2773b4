import type { EntityManager } from 'typeorm';

/*
 * Repositories belong to a namespace by name only (its first path component), so
 * there is no foreign key to cascade: these find and remove them explicitly.
 * starts_with, not LIKE: names may contain `_`, a LIKE wildcard.
 */

export async function countRepositories(manager: EntityManager, namespace: string): Promise<number> {
  const rows: { count: string }[] = await manager.query(
    `SELECT count(*) AS count FROM repositories WHERE name = $1 OR starts_with(name, $1 || '/')`,
    [namespace],
  );
  return Number(rows[0].count);
}

/** Removes the repository rows (manifests, tags, links and uploads cascade); blobs stay for GC. */
export async function deleteRepositories(manager: EntityManager, namespace: string): Promise<number> {
  const rows: { count: string }[] = await manager.query(
    `WITH deleted AS (DELETE FROM repositories WHERE name = $1 OR starts_with(name, $1 || '/') RETURNING 1)
     SELECT count(*) AS count FROM deleted`,
    [namespace],
  );
  return Number(rows[0].count);
}

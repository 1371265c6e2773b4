import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Namespace byte quotas with the running count pushes are checked against (an upper
 * bound of the usage; null: recount at the next check), and what keeps computing usage
 * per namespace cheap: each repository's namespace as an indexed column (its name's
 * first path component), and manifest sizes readable from an index alone.
 */
export class StorageQuotas1764500000000 implements MigrationInterface {
  name = 'StorageQuotas1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE namespaces ADD COLUMN quota_bytes bigint CHECK (quota_bytes >= 0), ADD COLUMN quota_counted_bytes bigint`);
    await q.query(
      `ALTER TABLE repositories ADD COLUMN namespace varchar(255) COLLATE "C" GENERATED ALWAYS AS (split_part(name, '/', 1)) STORED`,
    );
    await q.query(`CREATE INDEX repositories_namespace_idx ON repositories (namespace, id)`);
    await q.query(`CREATE INDEX manifests_repository_size_idx ON manifests (repository_id) INCLUDE (size)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS manifests_repository_size_idx`);
    await q.query(`ALTER TABLE repositories DROP COLUMN IF EXISTS namespace`);
    await q.query(`ALTER TABLE namespaces DROP COLUMN IF EXISTS quota_counted_bytes, DROP COLUMN IF EXISTS quota_bytes`);
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Namespace byte quotas, and what makes usage per namespace cheap to compute: each
 * repository's namespace as an indexed column (its name's first path component), and
 * manifest sizes readable from an index without touching the stored manifest bytes.
 */
export class StorageQuotas1764500000000 implements MigrationInterface {
  name = 'StorageQuotas1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE namespaces ADD COLUMN quota_bytes bigint CHECK (quota_bytes >= 0)`);
    await q.query(
      `ALTER TABLE repositories ADD COLUMN namespace varchar(255) COLLATE "C" GENERATED ALWAYS AS (split_part(name, '/', 1)) STORED`,
    );
    await q.query(`CREATE INDEX repositories_namespace_idx ON repositories (namespace, id)`);
    await q.query(`CREATE INDEX manifests_repository_size_idx ON manifests (repository_id) INCLUDE (size)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS manifests_repository_size_idx`);
    await q.query(`ALTER TABLE repositories DROP COLUMN IF EXISTS namespace`);
    await q.query(`ALTER TABLE namespaces DROP COLUMN IF EXISTS quota_bytes`);
  }
}

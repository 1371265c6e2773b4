import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What bounds upload sessions, and what a completion cut off after its move needs:
 * `namespace` and `account` (who opened it), so the open sessions of each, and the bytes
 * staged in a namespace's sessions, are counted from an index; `digest`, the blob the
 * session's bytes were verified to be, recorded before they move to its address, so a
 * retry may only finish the session as that blob.
 */
export class UploadLimits1765000000030 implements MigrationInterface {
  name = 'UploadLimits1765000000030';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE uploads ADD COLUMN namespace varchar(255) COLLATE "C", ADD COLUMN account text, ADD COLUMN digest text`);
    await q.query(`UPDATE uploads u SET namespace = r.namespace FROM repositories r WHERE r.id = u.repository_id`);
    await q.query(`CREATE INDEX uploads_namespace_idx ON uploads (namespace) INCLUDE (size)`);
    await q.query(`CREATE INDEX uploads_account_idx ON uploads (account)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS uploads_account_idx`);
    await q.query(`DROP INDEX IF EXISTS uploads_namespace_idx`);
    await q.query(`ALTER TABLE uploads DROP COLUMN IF EXISTS digest, DROP COLUMN IF EXISTS account, DROP COLUMN IF EXISTS namespace`);
  }
}

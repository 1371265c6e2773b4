import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Each failure counter records the transaction that last counted on it, so every replica
 * reads the (account, address) pairs that failed since its last look (with the credential
 * generations, in one statement) and drops the logins it had verified for them.
 */
export class LoginFailureChanges1765000000060 implements MigrationInterface {
  name = 'LoginFailureChanges1765000000060';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE login_failures ADD COLUMN changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id()`);
    await q.query(`CREATE INDEX login_failures_changed_xid_idx ON login_failures (changed_xid)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS login_failures_changed_xid_idx`);
    await q.query(`ALTER TABLE login_failures DROP COLUMN IF EXISTS changed_xid`);
  }
}

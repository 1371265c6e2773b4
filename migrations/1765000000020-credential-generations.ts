import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Two generations per subject (`user:<id>`, `robot:<id>`) that tokens carry: `generation`
 * moves on with every revocation (registry tokens carry grants, so a membership change
 * counts too), `credential_generation` only when the credentials themselves are revoked
 * (refresh and admin API tokens resolve permissions afresh). Every replica reads the
 * changes incrementally by the writing transaction's id, so a row committed late is
 * never skipped.
 */
export class CredentialGenerations1765000000020 implements MigrationInterface {
  name = 'CredentialGenerations1765000000020';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE credential_generations (
        subject varchar(40) COLLATE "C" PRIMARY KEY,
        generation bigint NOT NULL,
        credential_generation bigint NOT NULL,
        changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id()
      )`);
    await q.query(`CREATE INDEX credential_generations_changed_xid_idx ON credential_generations (changed_xid)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS credential_generations`);
  }
}

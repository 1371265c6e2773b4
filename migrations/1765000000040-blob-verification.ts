import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The integrity check (`verify`): its runs, each with the cursor that lets an
 * interrupted run continue where it stopped, and what each run found. Findings are
 * keyed by run and digest so that re-checking a digest after a resume records it once.
 * `blobs.missing_since` marks a blob whose bytes a repair found missing or removed as
 * bad: it reads as unknown (so clients upload it again) until an upload stores it.
 */
export class BlobVerification1765000000040 implements MigrationInterface {
  name = 'BlobVerification1765000000040';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE blobs ADD COLUMN missing_since timestamptz`);
    await q.query(`
      CREATE TABLE verify_runs (
        id bigserial PRIMARY KEY,
        status varchar(16) NOT NULL CHECK (status IN ('running', 'interrupted', 'finished', 'abandoned')),
        repair boolean NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        phase varchar(16) NOT NULL DEFAULT 'blobs' CHECK (phase IN ('blobs', 'files')),
        cursor varchar(150) COLLATE "C",
        blobs_checked bigint NOT NULL DEFAULT 0,
        blobs_ok bigint NOT NULL DEFAULT 0,
        bytes_checked bigint NOT NULL DEFAULT 0,
        files_checked bigint NOT NULL DEFAULT 0,
        error text
      )`);
    await q.query(`
      CREATE TABLE verify_findings (
        run_id bigint NOT NULL REFERENCES verify_runs(id) ON DELETE CASCADE,
        digest varchar(150) COLLATE "C" NOT NULL,
        kind varchar(16) NOT NULL CHECK (kind IN ('missing', 'corrupt', 'size_mismatch', 'orphan')),
        expected_size bigint,
        actual_size bigint,
        actual_digest varchar(150),
        outcome varchar(16) NOT NULL CHECK (outcome IN ('found', 'repaired', 'unrepairable')),
        found_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, digest)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE verify_findings`);
    await q.query(`DROP TABLE verify_runs`);
    await q.query(`ALTER TABLE blobs DROP COLUMN missing_since`);
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Garbage collection: the history of runs, and a `seen_at` on blob links and
 * manifests. Pushes, re-uploads and mounts refresh `seen_at`; GC never takes a link or
 * manifest seen within its review delay, which covers the gap between a layer upload
 * and the manifest PUT that will reference it. Existing rows start as seen now.
 */
export class GarbageCollection1764400000000 implements MigrationInterface {
  name = 'GarbageCollection1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE gc_runs (
        id bigserial PRIMARY KEY,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        status varchar(16) NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        dry_run boolean NOT NULL,
        delete_untagged boolean NOT NULL,
        trigger varchar(16) NOT NULL CHECK (trigger IN ('api', 'cli', 'schedule')),
        blobs_deleted integer NOT NULL DEFAULT 0,
        manifests_deleted integer NOT NULL DEFAULT 0,
        bytes_freed bigint NOT NULL DEFAULT 0,
        error text,
        links_deleted integer NOT NULL DEFAULT 0,
        orphan_files_deleted integer NOT NULL DEFAULT 0,
        requested_by varchar(200),
        sample jsonb
      )`);
    await q.query(`ALTER TABLE repository_blobs ADD COLUMN seen_at timestamptz NOT NULL DEFAULT now()`);
    await q.query(`ALTER TABLE manifests ADD COLUMN seen_at timestamptz NOT NULL DEFAULT now()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE manifests DROP COLUMN seen_at`);
    await q.query(`ALTER TABLE repository_blobs DROP COLUMN seen_at`);
    await q.query(`DROP TABLE gc_runs`);
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Repositories, content-addressed blobs and their per-repository links, manifests
 * with their references and subject, tags and upload sessions.
 * Names, tags and digests use the "C" collation so listings sort bytewise (lexically).
 */
export class InitialSchema1764100000000 implements MigrationInterface {
  name = 'InitialSchema1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE repositories (
        id bigserial PRIMARY KEY,
        name varchar(255) COLLATE "C" NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE blobs (
        digest varchar(150) COLLATE "C" PRIMARY KEY,
        size bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE repository_blobs (
        repository_id bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        digest varchar(150) COLLATE "C" NOT NULL REFERENCES blobs(digest) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (repository_id, digest)
      )`);
    await q.query(`CREATE INDEX repository_blobs_digest_idx ON repository_blobs (digest)`);
    await q.query(`
      CREATE TABLE manifests (
        id bigserial PRIMARY KEY,
        repository_id bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        digest varchar(150) COLLATE "C" NOT NULL,
        media_type varchar(255) NOT NULL,
        artifact_type varchar(255),
        size integer NOT NULL,
        content bytea NOT NULL,
        subject_digest varchar(150) COLLATE "C",
        annotations jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (repository_id, digest)
      )`);
    await q.query(
      `CREATE INDEX manifests_subject_idx ON manifests (repository_id, subject_digest) WHERE subject_digest IS NOT NULL`,
    );
    await q.query(`
      CREATE TABLE manifest_references (
        manifest_id bigint NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
        digest varchar(150) COLLATE "C" NOT NULL,
        kind varchar(16) NOT NULL CHECK (kind IN ('blob', 'manifest')),
        size bigint NOT NULL,
        PRIMARY KEY (manifest_id, digest, kind)
      )`);
    await q.query(`CREATE INDEX manifest_references_digest_idx ON manifest_references (digest)`);
    await q.query(`
      CREATE TABLE tags (
        repository_id bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        name varchar(128) COLLATE "C" NOT NULL,
        manifest_id bigint NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (repository_id, name)
      )`);
    await q.query(`CREATE INDEX tags_manifest_idx ON tags (manifest_id)`);
    await q.query(`
      CREATE TABLE uploads (
        id uuid PRIMARY KEY,
        repository_id bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        size bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['uploads', 'tags', 'manifest_references', 'manifests', 'repository_blobs', 'blobs', 'repositories']) {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Review queues for garbage collection, so a collection looks only at what changed since
 * the last one instead of scanning every manifest, link and blob. Triggers append the key
 * of whatever a change may have left unreferenced:
 *
 * - `gc_manifest_reviews` (read only with deleteUntagged): a manifest inserted; the
 *   manifest of a tag deleted or moved away; the children (manifest references) and the
 *   referrers (subject) of a manifest deleted, within its repository;
 * - `gc_link_reviews`: a link inserted; the blob references of a manifest deleted, as links
 *   of its repository;
 * - `gc_blob_reviews`: a blob inserted; a link deleted; a blob reference deleted.
 *
 * The queues are append-only logs (an id, the key, the time), not one row per key: an
 * enqueue never conflicts with another, so a trigger never waits on a concurrent change
 * or on the collector, and the collector deletes exactly the entries it read and decided,
 * so an entry appended by a change it could not see yet survives for the next run.
 * Nothing is enqueued for rows whose repository is being deleted (the repository's
 * cascade removes them; only their blobs are left to review). Existing rows that nothing
 * holds are queued here (a scan of the registry, once), so an upgraded registry's garbage
 * is collected by its next collection without that collection deciding every live row.
 */
export class GcReviewQueues1765000000080 implements MigrationInterface {
  name = 'GcReviewQueues1765000000080';

  async up(q: QueryRunner): Promise<void> {
    // All at once, in one order: a push holding one of them while waiting for another cannot deadlock with the triggers' creation.
    await q.query(`LOCK TABLE repository_blobs, blobs, manifest_references, manifests, tags IN SHARE ROW EXCLUSIVE MODE`);
    await q.query(`
      CREATE TABLE gc_manifest_reviews (
        id bigserial PRIMARY KEY,
        manifest_id bigint NOT NULL,
        enqueued_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE gc_link_reviews (
        id bigserial PRIMARY KEY,
        repository_id bigint NOT NULL,
        digest varchar(150) COLLATE "C" NOT NULL,
        enqueued_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE gc_blob_reviews (
        id bigserial PRIMARY KEY,
        digest varchar(150) COLLATE "C" NOT NULL,
        enqueued_at timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(`
      CREATE FUNCTION berth_gc_link_added() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO gc_link_reviews (repository_id, digest) SELECT repository_id, digest FROM changed;
        RETURN NULL;
      END $$`);
    // A link deleted because its blob row went (GC's own blob delete) leaves nothing to review.
    await q.query(`
      CREATE FUNCTION berth_gc_link_removed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO gc_blob_reviews (digest)
        SELECT DISTINCT c.digest FROM changed c WHERE EXISTS (SELECT 1 FROM blobs b WHERE b.digest = c.digest);
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE FUNCTION berth_gc_blob_added() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO gc_blob_reviews (digest) SELECT digest FROM changed;
        RETURN NULL;
      END $$`);
    // A blob reference can outlive its link (DELETE of a blob by digest), so its removal is reviewed too.
    await q.query(`
      CREATE FUNCTION berth_gc_reference_removed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO gc_blob_reviews (digest) SELECT DISTINCT digest FROM changed WHERE kind = 'blob';
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE FUNCTION berth_gc_manifest_added() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO gc_manifest_reviews (manifest_id) SELECT id FROM changed;
        RETURN NULL;
      END $$`);
    // Row-level and BEFORE: its references are still there (the cascade removes them after).
    await q.query(`
      CREATE FUNCTION berth_gc_manifest_removed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM repositories WHERE id = OLD.repository_id) THEN RETURN OLD; END IF;
        INSERT INTO gc_link_reviews (repository_id, digest)
        SELECT OLD.repository_id, mr.digest FROM manifest_references mr WHERE mr.manifest_id = OLD.id AND mr.kind = 'blob';
        INSERT INTO gc_manifest_reviews (manifest_id)
        SELECT c.id FROM manifest_references mr JOIN manifests c ON c.repository_id = OLD.repository_id AND c.digest = mr.digest
         WHERE mr.manifest_id = OLD.id AND mr.kind = 'manifest'
        UNION
        SELECT r.id FROM manifests r WHERE r.repository_id = OLD.repository_id AND r.subject_digest = OLD.digest AND r.id <> OLD.id;
        RETURN OLD;
      END $$`);
    // Tags removed with their manifest or their repository leave nothing to review.
    await q.query(`
      CREATE FUNCTION berth_gc_tag_removed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO gc_manifest_reviews (manifest_id)
        SELECT DISTINCT m.id FROM changed c JOIN manifests m ON m.id = c.manifest_id
         WHERE EXISTS (SELECT 1 FROM repositories r WHERE r.id = m.repository_id);
        RETURN NULL;
      END $$`);

    for (const [trigger, timing, table, alias, fn] of [
      ['repository_blobs_insert_gc', 'AFTER INSERT', 'repository_blobs', 'NEW', 'berth_gc_link_added'],
      ['repository_blobs_delete_gc', 'AFTER DELETE', 'repository_blobs', 'OLD', 'berth_gc_link_removed'],
      ['blobs_insert_gc', 'AFTER INSERT', 'blobs', 'NEW', 'berth_gc_blob_added'],
      ['manifest_references_delete_gc', 'AFTER DELETE', 'manifest_references', 'OLD', 'berth_gc_reference_removed'],
      ['manifests_insert_gc', 'AFTER INSERT', 'manifests', 'NEW', 'berth_gc_manifest_added'],
      // A tag upsert updates only when the tag moves to another manifest: the old one is reviewed.
      ['tags_update_gc', 'AFTER UPDATE', 'tags', 'OLD', 'berth_gc_tag_removed'],
      ['tags_delete_gc', 'AFTER DELETE', 'tags', 'OLD', 'berth_gc_tag_removed'],
    ]) {
      await q.query(`CREATE TRIGGER ${trigger} ${timing} ON ${table} REFERENCING ${alias} TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`);
    }
    await q.query(`CREATE TRIGGER manifests_delete_gc BEFORE DELETE ON manifests FOR EACH ROW EXECUTE FUNCTION berth_gc_manifest_removed()`);

    // What nothing holds now (one scan, once); whatever is held is queued by the triggers when it is let go.
    await q.query(
      `INSERT INTO gc_manifest_reviews (manifest_id)
       SELECT m.id FROM manifests m
        WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
          AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests p ON p.id = mr.manifest_id
                           WHERE p.repository_id = m.repository_id AND mr.digest = m.digest AND mr.kind = 'manifest')
          AND (m.subject_digest IS NULL
               OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository_id = m.repository_id AND s.digest = m.subject_digest))
        ORDER BY m.id`,
    );
    await q.query(
      `INSERT INTO gc_link_reviews (repository_id, digest)
       SELECT rb.repository_id, rb.digest FROM repository_blobs rb
        WHERE NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests m ON m.id = mr.manifest_id
                           WHERE m.repository_id = rb.repository_id AND mr.digest = rb.digest AND mr.kind = 'blob')
        ORDER BY rb.repository_id, rb.digest`,
    );
    await q.query(
      `INSERT INTO gc_blob_reviews (digest)
       SELECT b.digest FROM blobs b
        WHERE NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)
          AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.digest = b.digest AND mr.kind = 'blob')
        ORDER BY b.digest`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const [trigger, table] of [
      ['repository_blobs_insert_gc', 'repository_blobs'],
      ['repository_blobs_delete_gc', 'repository_blobs'],
      ['blobs_insert_gc', 'blobs'],
      ['manifest_references_delete_gc', 'manifest_references'],
      ['manifests_insert_gc', 'manifests'],
      ['manifests_delete_gc', 'manifests'],
      ['tags_update_gc', 'tags'],
      ['tags_delete_gc', 'tags'],
    ]) {
      await q.query(`DROP TRIGGER IF EXISTS ${trigger} ON ${table}`);
    }
    for (const fn of [
      'berth_gc_link_added',
      'berth_gc_link_removed',
      'berth_gc_blob_added',
      'berth_gc_reference_removed',
      'berth_gc_manifest_added',
      'berth_gc_manifest_removed',
      'berth_gc_tag_removed',
    ]) {
      await q.query(`DROP FUNCTION IF EXISTS ${fn}()`);
    }
    await q.query(`DROP TABLE IF EXISTS gc_blob_reviews, gc_link_reviews, gc_manifest_reviews`);
  }
}

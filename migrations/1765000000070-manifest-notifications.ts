import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every change a manifest lookup could see (a tag written or removed, a manifest or a
 * repository removed or renamed) notifies `berth_manifests` with the repository's name,
 * so each replica drops what it cached for it. Per statement over the transition tables;
 * Postgres delivers at commit and sends one notification per name per transaction.
 * Rows removed by a repository's cascade find no repository left: the repository's own
 * trigger names it. Manifest rows are never rewritten (a re-push only touches seen_at).
 */
export class ManifestNotifications1765000000070 implements MigrationInterface {
  name = 'ManifestNotifications1765000000070';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION berth_notify_manifests() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('berth_manifests', r.name)
           FROM repositories r WHERE r.id IN (SELECT repository_id FROM changed);
        RETURN NULL;
      END $$`);
    // A transition table has one name per trigger, so each event gets its own trigger.
    for (const [table, event, alias] of [
      ['tags', 'INSERT', 'NEW'],
      ['tags', 'UPDATE', 'OLD'],
      ['tags', 'DELETE', 'OLD'],
      ['manifests', 'DELETE', 'OLD'],
    ]) {
      await q.query(`
        CREATE TRIGGER ${table}_${event.toLowerCase()}_notify AFTER ${event} ON ${table}
          REFERENCING ${alias} TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_manifests()`);
    }
    await q.query(`
      CREATE FUNCTION berth_notify_repositories() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('berth_manifests', name) FROM (SELECT DISTINCT name FROM changed) n;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER repositories_delete_notify AFTER DELETE ON repositories
        REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_repositories()`);
    await q.query(`
      CREATE TRIGGER repositories_update_notify AFTER UPDATE ON repositories
        REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_repositories()`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const trigger of ['tags_insert_notify', 'tags_update_notify', 'tags_delete_notify']) await q.query(`DROP TRIGGER IF EXISTS ${trigger} ON tags`);
    await q.query(`DROP TRIGGER IF EXISTS manifests_delete_notify ON manifests`);
    await q.query(`DROP TRIGGER IF EXISTS repositories_delete_notify ON repositories`);
    await q.query(`DROP TRIGGER IF EXISTS repositories_update_notify ON repositories`);
    await q.query(`DROP FUNCTION IF EXISTS berth_notify_manifests()`);
    await q.query(`DROP FUNCTION IF EXISTS berth_notify_repositories()`);
  }
}

/**
 * Upgrading to the review queues: the migration queues the manifests, links and blobs that
 * nothing holds (the triggers queue the others when they are let go), so the first
 * collection after the upgrade finds the registry's garbage without deciding every live row.
 */
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '@berth/migrations';
import { TestDatabase } from '../support/database.js';
import { gcSuiteAvailable } from './support.js';

const available = await gcSuiteAvailable('gc/review-queues-migration');

describe.skipIf(!available)('garbage collection: the review queues migration', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await TestDatabase.create();
  });
  afterAll(async () => {
    await db?.drop();
  });

  const migrate = async (migrations: typeof MIGRATIONS) => {
    const ds = new DataSource({ type: 'postgres', url: db.url, migrations });
    await ds.initialize();
    try {
      await ds.runMigrations({ transaction: 'each' });
    } finally {
      await ds.destroy();
    }
  };

  it('queues once every existing manifest, link and blob that nothing holds, and nothing held', async () => {
    const at = MIGRATIONS.findIndex((m) => m.name === 'GcReviewQueues1765000000080');
    expect(at).toBeGreaterThan(0);
    await migrate(MIGRATIONS.slice(0, at));
    const digest = (x: string) => `sha256:${x.repeat(64)}`;
    await db.query(`INSERT INTO repositories (name) VALUES ('old/app'), ('old/lib')`);
    await db.query(`INSERT INTO blobs (digest, size) VALUES ($1, 1), ($2, 2), ($3, 3)`, [digest('a'), digest('b'), digest('c')]);
    // Both repositories link a and b; c is linked nowhere.
    await db.query(`INSERT INTO repository_blobs (repository_id, digest) SELECT r.id, b.digest FROM repositories r, blobs b WHERE b.digest < $1`, [digest('c')]);
    await db.query(
      `INSERT INTO manifests (repository_id, digest, media_type, size, content) SELECT id, $1, 'application/vnd.oci.image.manifest.v1+json', 2, '{}' FROM repositories`,
      [digest('d')],
    );
    // old/app's manifest is tagged and references a; old/lib's is untagged and references nothing.
    await db.query(
      `INSERT INTO manifest_references (manifest_id, digest, kind, size)
       SELECT m.id, $1, 'blob', 1 FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE r.name = 'old/app'`,
      [digest('a')],
    );
    await db.query(`INSERT INTO tags (repository_id, name, manifest_id) SELECT repository_id, 'latest', id FROM manifests m WHERE repository_id = (SELECT id FROM repositories WHERE name = 'old/app')`);

    await migrate(MIGRATIONS);
    expect(
      await db.query('SELECT r.name FROM gc_manifest_reviews q JOIN manifests m ON m.id = q.manifest_id JOIN repositories r ON r.id = m.repository_id'),
    ).toEqual([{ name: 'old/lib' }]);
    expect(
      await db.query('SELECT r.name, q.digest FROM gc_link_reviews q JOIN repositories r ON r.id = q.repository_id ORDER BY r.name, q.digest'),
    ).toEqual([
      { name: 'old/app', digest: digest('b') },
      { name: 'old/lib', digest: digest('a') },
      { name: 'old/lib', digest: digest('b') },
    ]);
    expect(await db.query('SELECT digest FROM gc_blob_reviews')).toEqual([{ digest: digest('c') }]);
  });
});

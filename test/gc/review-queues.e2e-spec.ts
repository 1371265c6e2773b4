/**
 * The review queues GC reads instead of scanning the registry: each change that may leave
 * something unreferenced queues its key (triggers), a collection looks only at queued
 * keys, removes the keys it decided and keeps those still within the review delay, and a
 * dry run leaves the queues as they were. The review delay is long here: nothing is
 * settled until a test moves its seen_at into the past.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { RegistryClient, buildImage, buildIndex, sha256 } from '../support/http.js';
import { Api, expectStatus } from '../admin/support.js';
import { type GcRegistry, gcSuiteAvailable, startGcRegistry } from './support.js';

const available = await gcSuiteAvailable('gc/review-queues');

describe.skipIf(!available)('garbage collection: review queues', () => {
  let registry: GcRegistry;
  let c: RegistryClient;
  let admin: Api;

  beforeAll(async () => {
    registry = await startGcRegistry({ GC_REVIEW_DELAY_SECONDS: '3600' });
    c = new RegistryClient(registry.url, registry.admin);
    admin = await Api.login(registry.url, registry.admin);
  });
  afterAll(async () => {
    await registry?.close();
  });

  const repositoryId = async (name: string) => (await registry.sql<{ id: string }>('SELECT id::text FROM repositories WHERE name = $1', [name]))[0].id;
  const manifestId = async (repo: string, digest: string) =>
    (await registry.sql<{ id: string }>('SELECT m.id::text FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE r.name = $1 AND m.digest = $2', [repo, digest]))[0]
      .id;
  const queuedLinks = async (repoId: string) =>
    (await registry.sql<{ digest: string }>('SELECT DISTINCT digest FROM gc_link_reviews WHERE repository_id = $1 ORDER BY digest', [repoId])).map((r) => r.digest);
  const queuedBlobs = async (digests: string[]) =>
    (await registry.sql<{ digest: string }>('SELECT DISTINCT digest FROM gc_blob_reviews WHERE digest = ANY($1::text[]) ORDER BY digest', [digests])).map((r) => r.digest);
  const queuedManifests = async (ids: string[]) =>
    (await registry.sql<{ id: string }>('SELECT DISTINCT manifest_id::text AS id FROM gc_manifest_reviews WHERE manifest_id = ANY($1::bigint[]) ORDER BY 1', [ids])).map(
      (r) => r.id,
    );
  /** Empties the queues, as a collection that decided everything would. */
  const clearQueues = () => registry.sql('TRUNCATE gc_manifest_reviews, gc_link_reviews, gc_blob_reviews');
  const settle = (repo: string) =>
    registry.sql(
      `WITH r AS (SELECT id FROM repositories WHERE name = $1),
            l AS (UPDATE repository_blobs SET seen_at = now() - interval '2 hours' WHERE repository_id IN (SELECT id FROM r))
       UPDATE manifests SET seen_at = now() - interval '2 hours' WHERE repository_id IN (SELECT id FROM r)`,
      [repo],
    );
  const sorted = (xs: string[]) => [...xs].sort();

  it('queues a pushed link and blob, the links, blobs and children of a deleted manifest, and the manifests a tag leaves', async () => {
    const repo = 'queue/paths';
    const blob = randomBytes(64);
    await c.pushBlob(repo, blob);
    const repoId = await repositoryId(repo);
    expect(await queuedLinks(repoId)).toEqual([sha256(blob)]);
    expect(await queuedBlobs([sha256(blob)])).toEqual([sha256(blob)]);

    const a = await c.pushImage(repo, 'v1', buildImage({ layers: 1, layerSize: 300 }));
    const child = await c.pushImage(repo, 'child', buildImage({ layers: 1, layerSize: 200 }));
    const index = buildIndex([child.descriptor]);
    expect((await c.pushManifest(repo, index.digest, index.manifestBytes, index.mediaType)).status).toBe(201);
    const [aId, childId, indexId] = [await manifestId(repo, a.digest), await manifestId(repo, child.digest), await manifestId(repo, index.digest)];
    expect(await queuedManifests([aId, childId, indexId])).toEqual(sorted([aId, childId, indexId]));

    // A tag moved to another manifest: the manifest it left.
    await clearQueues();
    const b = await c.pushImage(repo, 'v1', buildImage({ layers: 1, layerSize: 400 }));
    const bId = await manifestId(repo, b.digest);
    expect(await queuedManifests([aId, bId])).toEqual(sorted([aId, bId]));
    // A tag deleted: its manifest.
    await clearQueues();
    expect((await c.delete(`/v2/${repo}/manifests/v1`)).status).toBe(202);
    expect(await queuedManifests([aId, bId])).toEqual([bId]);

    // A manifest deleted: its blobs as links of the repository and as blobs.
    await clearQueues();
    expect((await c.delete(`/v2/${repo}/manifests/${a.digest}`)).status).toBe(202);
    expect(await queuedLinks(repoId)).toEqual(sorted(a.blobs.map(sha256)));
    expect(await queuedBlobs(a.blobs.map(sha256))).toEqual(sorted(a.blobs.map(sha256)));
    // An index deleted: its child, still tagged here, is reviewed (and kept) anyway.
    await clearQueues();
    expect((await c.delete(`/v2/${repo}/manifests/${index.digest}`)).status).toBe(202);
    expect(await queuedManifests([childId])).toEqual([childId]);
    // A blob unlinked by digest: the blob.
    await clearQueues();
    expect((await c.delete(`/v2/${repo}/blobs/${sha256(blob)}`)).status).toBe(202);
    expect(await queuedBlobs([sha256(blob)])).toEqual([sha256(blob)]);
  });

  it('queues the blobs of a deleted repository, and nothing else of it', async () => {
    const repo = 'queue/doomed';
    const image = await c.pushImage(repo, 'latest', buildImage({ layers: 2, layerSize: 300 }));
    const repoId = await repositoryId(repo);
    await clearQueues();
    expectStatus(await admin.delete(`/repositories/${repo}`), 204);
    expect(await queuedBlobs(image.blobs.map(sha256))).toEqual(sorted(image.blobs.map(sha256)));
    expect(await registry.sql('SELECT count(*)::int AS n FROM gc_link_reviews WHERE repository_id = $1', [repoId])).toEqual([{ n: 0 }]);
    expect(await registry.sql('SELECT count(*)::int AS n FROM gc_manifest_reviews')).toEqual([{ n: 0 }]);
    expect(await registry.gc({})).toMatchObject({ status: 'succeeded', blobsDeleted: image.blobs.length });
  });

  it('queues the blobs of the repositories of a namespace deleted with force, and collects them', async () => {
    expectStatus(await admin.post('/namespaces', { name: 'queueorg' }), 201);
    const images = [await c.pushImage('queueorg/app', 'v1', buildImage({ layers: 1, layerSize: 310 })), await c.pushImage('queueorg/tools/cli', 'v1', buildImage({ layers: 1, layerSize: 320 }))];
    const digests = images.flatMap((i) => i.blobs.map(sha256));
    await clearQueues();
    expectStatus(await admin.delete('/namespaces/queueorg?force=true'), 204);
    expect(await queuedBlobs(digests)).toEqual(sorted(digests));
    expect(await registry.sql('SELECT count(*)::int AS n FROM gc_link_reviews')).toEqual([{ n: 0 }]);
    expect(await registry.gc({})).toMatchObject({ status: 'succeeded', blobsDeleted: digests.length });
    for (const digest of digests) expect(await registry.hasBlobFile(digest)).toBe(false);
  });

  it('looks only at the queues: a link nobody queued is not collected, the same link once queued is', async () => {
    const repo = 'queue/unseen';
    await c.pushImage(repo, 'latest', buildImage({ layers: 1, layerSize: 100 }));
    const repoId = await repositoryId(repo);
    const bytes = randomBytes(128);
    const digest = sha256(bytes);
    // Written with the triggers off (as a restored dump would be): nothing queues it.
    const raw = new pg.Client({ connectionString: registry.databaseUrl });
    await raw.connect();
    try {
      await raw.query('SET session_replication_role = replica');
      await raw.query('INSERT INTO blobs (digest, size) VALUES ($1, $2)', [digest, bytes.length]);
      await raw.query(`INSERT INTO repository_blobs (repository_id, digest, seen_at) VALUES ($1, $2, now() - interval '2 hours')`, [repoId, digest]);
    } finally {
      await raw.end();
    }
    await clearQueues();
    expect(await registry.gc({ deleteUntagged: true })).toMatchObject({ status: 'succeeded', linksDeleted: 0, blobsDeleted: 0 });
    expect(await registry.sql('SELECT count(*)::int AS n FROM repository_blobs WHERE digest = $1', [digest])).toEqual([{ n: 1 }]);

    await registry.sql('INSERT INTO gc_link_reviews (repository_id, digest) VALUES ($1, $2)', [repoId, digest]);
    expect(await registry.gc({})).toMatchObject({ status: 'succeeded', linksDeleted: 1, blobsDeleted: 1, bytesFreed: bytes.length, sample: { blobs: [digest] } });
    expect(await registry.sql('SELECT count(*)::int AS n FROM blobs WHERE digest = $1', [digest])).toEqual([{ n: 0 }]);
    expect(await queuedLinks(repoId)).toEqual([]);
    expect(await queuedBlobs([digest])).toEqual([]);
  });

  it('removes the keys it decided, and those held whatever their age, and keeps the others within the review delay', async () => {
    const repo = 'queue/decided';
    await clearQueues();
    const image = await c.pushImage(repo, 'latest', buildImage({ layers: 1, layerSize: 150 }));
    const loose = await c.pushImage(repo, 'loose', buildImage({ layers: 1, layerSize: 160 }));
    expect((await c.delete(`/v2/${repo}/manifests/loose`)).status).toBe(202);
    const fresh = randomBytes(96);
    await c.pushBlob(repo, fresh);
    const repoId = await repositoryId(repo);
    const [imageId, looseId] = [await manifestId(repo, image.digest), await manifestId(repo, loose.digest)];

    // Nothing settled. Held keys leave the queue at once: the tagged manifest, the links its
    // manifests reference, the blobs (all linked). Those nothing holds stay until they settle:
    // the untagged manifest and the link of the loose blob.
    expect(await registry.gc({ deleteUntagged: true })).toMatchObject({ status: 'succeeded', manifestsDeleted: 0, linksDeleted: 0, blobsDeleted: 0 });
    expect(await queuedLinks(repoId)).toEqual([sha256(fresh)]);
    expect(await queuedManifests([imageId, looseId])).toEqual([looseId]);
    expect(await queuedBlobs([...image.blobs.map(sha256), ...loose.blobs.map(sha256), sha256(fresh)])).toEqual([]);

    // Settled: the untagged manifest goes, then its links and blobs, and the loose link with its blob.
    await settle(repo);
    expect(await registry.gc({ deleteUntagged: true })).toMatchObject({
      status: 'succeeded',
      manifestsDeleted: 1,
      linksDeleted: loose.blobs.length + 1,
      blobsDeleted: loose.blobs.length + 1,
    });
    expect(await queuedLinks(repoId)).toEqual([]);
    expect(await queuedManifests([imageId, looseId])).toEqual([]);
    expect(await queuedBlobs([sha256(fresh)])).toEqual([]);
    expect(await registry.hasBlobFile(sha256(fresh))).toBe(false);
    for (const blob of image.blobs) expect(await registry.hasBlobFile(sha256(blob))).toBe(true);
  });

  it('a run that keeps untagged manifests keeps only their entries, one each, for a later deleteUntagged run', async () => {
    const repo = 'queue/prune';
    await clearQueues();
    const tagged = await c.pushImage(repo, 'kept', buildImage({ layers: 1, layerSize: 230 }));
    const child = await c.pushImage(repo, 'child', buildImage({ layers: 1, layerSize: 240 }));
    const index = buildIndex([child.descriptor]);
    expect((await c.pushManifest(repo, 'multi', index.manifestBytes, index.mediaType)).status).toBe(201);
    const loose = await c.pushImage(repo, 'loose', buildImage({ layers: 1, layerSize: 250 }));
    // Untagged: the loose image (garbage) and the child (held by the tagged index). Loose is queued twice.
    for (const tag of ['child', 'loose']) expect((await c.delete(`/v2/${repo}/manifests/${tag}`)).status).toBe(202);
    const [taggedId, childId, indexId, looseId] = await Promise.all([tagged, child, index, loose].map((m) => manifestId(repo, m.digest)));
    const entries = async (id: string) => Number((await registry.sql<{ n: string }>('SELECT count(*) AS n FROM gc_manifest_reviews WHERE manifest_id = $1', [id]))[0].n);
    expect(await entries(looseId)).toBe(2);

    expect(await registry.gc({ deleteUntagged: false })).toMatchObject({ status: 'succeeded', manifestsDeleted: 0 });
    expect(await queuedManifests([taggedId, childId, indexId, looseId])).toEqual([looseId]);
    expect(await entries(looseId)).toBe(1);

    await settle(repo);
    expect(await registry.gc({ deleteUntagged: true })).toMatchObject({ status: 'succeeded', manifestsDeleted: 1, sample: { manifests: [loose.digest] } });
  });

  it('a dry run predicts a cascade in one run (untagged index, its children, their links and blobs) and leaves the queues as they were', async () => {
    const repo = 'queue/dry';
    await clearQueues();
    const childA = await c.pushImage(repo, 'a', buildImage({ layers: 1, layerSize: 210 }));
    const childB = await c.pushImage(repo, 'b', buildImage({ layers: 1, layerSize: 220 }));
    const index = buildIndex([childA.descriptor, childB.descriptor]);
    expect((await c.pushManifest(repo, 'multi', index.manifestBytes, index.mediaType)).status).toBe(201);
    // The children held only by the index, the index by nothing.
    for (const tag of ['a', 'b', 'multi']) expect((await c.delete(`/v2/${repo}/manifests/${tag}`)).status).toBe(202);
    await settle(repo);
    const blobs = [...childA.blobs, ...childB.blobs];

    const snapshot = () =>
      registry.sql(
        `SELECT 'm' AS q, id::text, manifest_id::text AS key FROM gc_manifest_reviews
         UNION ALL SELECT 'l', id::text, repository_id || ' ' || digest FROM gc_link_reviews
         UNION ALL SELECT 'b', id::text, digest FROM gc_blob_reviews ORDER BY 1, 2`,
      );
    const before = await snapshot();
    const dry = await registry.gc({ dryRun: true, deleteUntagged: true });
    expect(dry).toMatchObject({ status: 'succeeded', manifestsDeleted: 3, linksDeleted: blobs.length, blobsDeleted: blobs.length });
    expect(await snapshot()).toEqual(before);

    const real = await registry.gc({ deleteUntagged: true });
    expect(real).toMatchObject({ status: 'succeeded', manifestsDeleted: 3, linksDeleted: blobs.length, blobsDeleted: blobs.length, bytesFreed: dry.bytesFreed });
    for (const blob of blobs) expect(await registry.hasBlobFile(sha256(blob))).toBe(false);
    expect(await registry.gc({ dryRun: true, deleteUntagged: true })).toMatchObject({ manifestsDeleted: 0, linksDeleted: 0, blobsDeleted: 0 });
  });
});

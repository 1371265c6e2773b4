/**
 * What garbage collection frees and what it keeps: space comes back after tag and
 * repository deletions (files gone, bytes in gc_runs); children of a tagged index and
 * referrers of a kept manifest survive; a dry run changes nothing and reports what the
 * real run then frees; a blob linked just before a run survives it; a file whose row
 * is gone (a crash between the two) goes at the next run.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryClient, buildImage, buildIndex, sha256 } from '../support/http.js';
import { Api, expectStatus } from '../admin/support.js';
import { type GcRegistry, gcSuiteAvailable, sleep, startGcRegistry } from './support.js';

const available = await gcSuiteAvailable('gc/space');
const REVIEW_DELAY_MS = 1000;

describe.skipIf(!available)('garbage collection: space freed, structure kept', () => {
  let registry: GcRegistry;
  let c: RegistryClient;
  let admin: Api;

  beforeAll(async () => {
    registry = await startGcRegistry({ GC_REVIEW_DELAY_SECONDS: String(REVIEW_DELAY_MS / 1000) });
    c = new RegistryClient(registry.url, registry.admin);
    admin = await Api.login(registry.url, registry.admin);
  });
  afterAll(async () => {
    await registry?.close();
  });

  const size = (blobs: Buffer[]) => blobs.reduce((sum, b) => sum + b.length, 0);
  const digests = (blobs: Buffer[]) => blobs.map((b) => sha256(b));

  it('frees what deleted tags and repositories leave, keeps index children and referrers, and a dry run predicts it', async () => {
    const repo = 'space/app';
    const kept = await c.pushImage(repo, 'v1', buildImage({ layers: 2, layerSize: 3000 }));
    const untagged = await c.pushImage(repo, 'v2', buildImage({ layers: 2, layerSize: 5000 }));
    // An image pushed by digest only and never tagged.
    const amd64 = buildImage({ layerSize: 800 });
    await c.pushImage(repo, amd64.digest, amd64);
    const childA = buildImage({ layerSize: 700 });
    const childB = buildImage({ layerSize: 900 });
    // A tagged multi-arch index: its children are pushed by digest only.
    await c.pushImage(repo, childA.digest, childA);
    await c.pushImage(repo, childB.digest, childB);
    const index = buildIndex([childA.descriptor, childB.descriptor]);
    expect((await c.pushManifest(repo, 'multi', index.manifestBytes, index.mediaType)).status).toBe(201);
    // An untagged index over untagged children: all of it goes with deleteUntagged, in one run.
    const orphanChild = buildImage({ layerSize: 1100 });
    await c.pushImage(repo, orphanChild.digest, orphanChild);
    const orphanIndex = buildIndex([orphanChild.descriptor]);
    expect((await c.pushManifest(repo, orphanIndex.digest, orphanIndex.manifestBytes, orphanIndex.mediaType)).status).toBe(201);
    // A signature-like referrer of the kept image, pushed by digest.
    const signature = buildImage({ layers: 1, layerSize: 400, artifactType: 'application/vnd.example.signature', subject: kept.descriptor });
    await c.pushImage(repo, signature.digest, signature);
    // A repository that is deleted whole.
    const doomedRepo = 'space/old';
    const doomed = await c.pushImage(doomedRepo, 'latest', buildImage({ layers: 3, layerSize: 2000 }));

    expectStatus(await admin.delete(`/repositories/${doomedRepo}`), 204);
    expect((await c.get('/v2/_catalog')).json().repositories).not.toContain(doomedRepo);
    expect((await c.delete(`/v2/${repo}/manifests/v2`)).status).toBe(202);
    await sleep(REVIEW_DELAY_MS + 200);

    // Without deleteUntagged: only the deleted repository's blobs (the untagged manifest still references its own).
    const first = await registry.gc({});
    expect(first).toMatchObject({ status: 'succeeded', blobsDeleted: 4, manifestsDeleted: 0, bytesFreed: size(doomed.blobs) });
    for (const digest of digests(doomed.blobs)) expect(await registry.hasBlobFile(digest)).toBe(false);
    expect(await registry.hasBlobFile(sha256(untagged.layers[0]))).toBe(true);

    const goingBlobs = [...untagged.blobs, ...orphanChild.blobs, ...amd64.blobs];
    const goingManifests = [untagged.digest, orphanIndex.digest, orphanChild.digest, amd64.digest];
    const manifestsBefore = await registry.sql('SELECT count(*)::int AS n FROM manifests');
    const dry = await registry.gc({ dryRun: true, deleteUntagged: true });
    expect(dry).toMatchObject({
      status: 'succeeded',
      dryRun: true,
      manifestsDeleted: goingManifests.length,
      blobsDeleted: goingBlobs.length,
      bytesFreed: size(goingBlobs),
    });
    expect(dry.sample?.manifests.sort()).toEqual([...goingManifests].sort());
    expect(dry.sample?.blobs.sort()).toEqual(digests(goingBlobs).sort());
    expect(await registry.sql('SELECT count(*)::int AS n FROM manifests')).toEqual(manifestsBefore);
    for (const digest of digests(goingBlobs)) expect(await registry.hasBlobFile(digest)).toBe(true);
    expect((await c.get(`/v2/${repo}/manifests/${untagged.digest}`)).status).toBe(200);

    const real = await registry.gc({ deleteUntagged: true });
    expect(real).toMatchObject({
      status: 'succeeded',
      dryRun: false,
      manifestsDeleted: dry.manifestsDeleted,
      blobsDeleted: dry.blobsDeleted,
      bytesFreed: dry.bytesFreed,
    });
    for (const digest of digests(goingBlobs)) expect(await registry.hasBlobFile(digest)).toBe(false);
    for (const digest of goingManifests) expect((await c.get(`/v2/${repo}/manifests/${digest}`)).status).toBe(404);

    // What stays: the tagged image, the index and its children, the referrer, all of their blobs.
    for (const image of [kept, childA, childB, signature]) {
      const res = await c.get(`/v2/${repo}/manifests/${image.digest}`);
      expect(res.status).toBe(200);
      for (const blob of image.blobs) {
        const got = await c.get(`/v2/${repo}/blobs/${sha256(blob)}`);
        expect(got.status).toBe(200);
        expect(sha256(got.body)).toBe(sha256(blob));
      }
    }
    expect((await c.get(`/v2/${repo}/manifests/multi`)).status).toBe(200);
    const referrers = (await c.get(`/v2/${repo}/referrers/${kept.digest}`)).json();
    expect(referrers.manifests.map((d: { digest: string }) => d.digest)).toEqual([signature.digest]);

    // A second run finds nothing more.
    expect(await registry.gc({ deleteUntagged: true })).toMatchObject({ blobsDeleted: 0, manifestsDeleted: 0, bytesFreed: 0 });

    const runs = expectStatus(await admin.get('/system/gc?perPage=10'), 200);
    expect(runs.total).toBe(4);
    expect(runs.items.map((r: { dryRun: boolean }) => r.dryRun)).toEqual([false, false, true, false]);
    expect(runs.items.find((r: { id: string }) => r.id === real.id)).toMatchObject({ bytesFreed: real.bytesFreed, blobsDeleted: real.blobsDeleted });
    const [row] = await registry.sql('SELECT bytes_freed::bigint AS bytes, status, trigger FROM gc_runs WHERE id = $1', [real.id]);
    expect(row).toEqual({ bytes: String(real.bytesFreed), status: 'succeeded', trigger: 'api' });
  });

  it('never takes a blob linked moments ago; takes it once the review delay has passed', async () => {
    const repo = 'space/fresh';
    const blob = Buffer.from(`fresh-${Date.now()}-${Math.random()}`);
    const digest = await c.pushBlob(repo, blob);
    expect((await registry.gc({ deleteUntagged: true })).sample?.blobs).not.toContain(digest);
    expect((await c.head(`/v2/${repo}/blobs/${digest}`)).status).toBe(200);
    expect(await registry.hasBlobFile(digest)).toBe(true);

    await sleep(REVIEW_DELAY_MS + 200);
    // Uploading it again (as a client does before its manifest PUT) refreshes it.
    await c.pushBlob(repo, blob);
    expect((await registry.gc({})).sample?.blobs).not.toContain(digest);
    expect(await registry.hasBlobFile(digest)).toBe(true);
    await sleep(REVIEW_DELAY_MS + 200);
    expect(await registry.gc({})).toMatchObject({ linksDeleted: 1, blobsDeleted: 1, bytesFreed: blob.length, sample: { blobs: [digest] } });
    expect((await c.head(`/v2/${repo}/blobs/${digest}`)).status).toBe(404);
    expect(await registry.hasBlobFile(digest)).toBe(false);
    // And it can be pushed again.
    await c.pushBlob(repo, blob);
    expect((await c.get(`/v2/${repo}/blobs/${digest}`)).body.equals(blob)).toBe(true);
  });

  it('leaves a blob alone right after a client checked it with HEAD (before its manifest PUT)', async () => {
    const repo = 'space/checked';
    const blob = Buffer.from(`checked-${Date.now()}-${Math.random()}`);
    const digest = await c.pushBlob(repo, blob);
    await sleep(REVIEW_DELAY_MS + 200);
    expect((await c.head(`/v2/${repo}/blobs/${digest}`)).status).toBe(200);
    expect((await registry.gc({})).sample?.blobs).not.toContain(digest);
    expect(await registry.hasBlobFile(digest)).toBe(true);
    await sleep(REVIEW_DELAY_MS + 200);
    expect((await registry.gc({})).sample?.blobs).toContain(digest);
    expect((await c.head(`/v2/${repo}/blobs/${digest}`)).status).toBe(404);
  });

  it('removes a file whose row is gone (a crash between row and file)', async () => {
    const bytes = Buffer.from('left behind by a crash');
    const digest = sha256(bytes);
    const hex = digest.slice('sha256:'.length);
    const dir = join(registry.storageRoot, 'blobs', 'sha256', hex.slice(0, 2), hex);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'data'), bytes);
    const dry = await registry.gc({ dryRun: true });
    expect(dry).toMatchObject({ orphanFilesDeleted: 1, bytesFreed: bytes.length });
    expect(await registry.hasBlobFile(digest)).toBe(true);
    expect(await registry.gc({})).toMatchObject({ orphanFilesDeleted: 1, bytesFreed: bytes.length });
    expect(await registry.hasBlobFile(digest)).toBe(false);
  });

  it('keeps the file of a completion cut off after its move, which its retry needs, until the session goes', async () => {
    const repo = 'gcspace/pending';
    const uuid = (await c.startUpload(repo)).split('/').pop()!.split('?')[0];
    const bytes = Buffer.from('moved by a completion that crashed before committing');
    const digest = sha256(bytes);
    await registry.sql('UPDATE uploads SET digest = $1 WHERE id = $2', [digest, uuid]);
    const hex = digest.slice('sha256:'.length);
    const dir = join(registry.storageRoot, 'blobs', 'sha256', hex.slice(0, 2), hex);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'data'), bytes);
    expect(await registry.gc({})).toMatchObject({ orphanFilesDeleted: 0 });
    expect(await registry.hasBlobFile(digest)).toBe(true);
    await registry.sql('DELETE FROM uploads WHERE id = $1', [uuid]);
    expect(await registry.gc({})).toMatchObject({ orphanFilesDeleted: 1 });
    expect(await registry.hasBlobFile(digest)).toBe(false);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, buildImage, errorCode, expectError, randomBlob, sha256, withQuery } from '../support/http.js';
import {
  type AdminRegistry,
  Api,
  type RoleFixture,
  adminSuiteAvailable,
  expectApiError,
  expectStatus,
  roleFixture,
  startAdminRegistry,
  uniqueName,
} from '../admin/support.js';

const available = await adminSuiteAvailable('quotas');

const QUOTA_MESSAGE = /^namespace "[a-z0-9]+" quota exceeded: [\d.]+ (B|KiB|MiB) used of [\d.]+ (B|KiB|MiB), this (blob|manifest) needs [\d.]+ (B|KiB|MiB)$/;

describe.skipIf(!available)('storage usage and namespace quotas', () => {
  let registry: AdminRegistry;
  let admin: Api;
  let v2: RegistryClient;

  beforeAll(async () => {
    registry = await startAdminRegistry();
    admin = await Api.login(registry.url, registry.admin);
    v2 = new RegistryClient(registry.url, registry.admin);
  });
  afterAll(async () => {
    await registry?.close();
  });

  async function organisation(): Promise<string> {
    const ns = uniqueName('q');
    expectStatus(await admin.post('/namespaces', { name: ns }), 201);
    return ns;
  }

  async function usageOf(ns: string): Promise<{ totalBytes: number; blobBytes: number; manifestBytes: number; quotaBytes: number | null }> {
    return expectStatus(await admin.get(`/namespaces/${ns}/usage`), 200);
  }

  async function setQuota(ns: string, quotaBytes: number | null) {
    return expectStatus(await admin.put(`/namespaces/${ns}/quota`, { quotaBytes }), 200);
  }

  /** Pushes a blob with POST + PUT and returns the final response. */
  async function putBlob(repo: string, data: Buffer) {
    const location = await v2.startUpload(repo);
    const res = await v2.put(withQuery(location, { digest: sha256(data) }), { body: data });
    return { res, location };
  }

  it('counts a blob shared by two repositories of a namespace once, and each repository its own manifests', async () => {
    const ns = await organisation();
    const image = buildImage({ layers: 2, layerSize: 3000 });
    await v2.pushImage(`${ns}/one`, 'v1', image);
    await v2.pushImage(`${ns}/two`, 'v1', image);
    const blobBytes = image.blobs.reduce((n, b) => n + b.length, 0);
    const manifestBytes = image.manifestBytes.length;

    const usage = await usageOf(ns);
    expect(usage).toEqual({
      namespace: ns,
      repositories: 2,
      blobBytes,
      manifestBytes: 2 * manifestBytes,
      totalBytes: blobBytes + 2 * manifestBytes,
      quotaBytes: null,
    });

    const repo = expectStatus(await admin.get(`/repositories/${ns}/one`), 200);
    expect(repo.usage).toEqual({ blobBytes, manifestBytes, totalBytes: blobBytes + manifestBytes });
    const list = expectStatus(await admin.get(`/repositories?namespace=${ns}`), 200);
    expect(list.items.map((r: { usage: unknown }) => r.usage)).toEqual([repo.usage, repo.usage]);
  });

  describe('who sees and sets what', () => {
    let team: RoleFixture;
    beforeAll(async () => {
      team = await roleFixture(admin, 'qa');
    });

    it('members read the usage and quota; administrators alone set the quota', async () => {
      expectStatus(await team.reader.get(`/namespaces/${team.namespace}/usage`), 200);
      expectApiError(await team.outsider.get(`/namespaces/${team.namespace}/usage`), 404);
      expectApiError(await team.owner.put(`/namespaces/${team.namespace}/quota`, { quotaBytes: 1 }), 403);
      const set = expectStatus(await admin.put(`/namespaces/${team.namespace}/quota`, { quotaBytes: 1 << 30 }), 200);
      expect(set.quotaBytes).toBe(1 << 30);
      expect(expectStatus(await team.owner.get(`/namespaces/${team.namespace}/usage`), 200).quotaBytes).toBe(1 << 30);
      expectApiError(await admin.put(`/namespaces/${team.namespace}/quota`, { quotaBytes: -1 }), 400, 'quotaBytes');
      expectApiError(await admin.put(`/namespaces/${team.namespace}/quota`, { quotaBytes: 1.5 }), 400, 'quotaBytes');
      expectApiError(await admin.put(`/namespaces/nosuchns${Date.now()}/quota`, { quotaBytes: 1 }), 404);
      const audit = await registry.sql(`SELECT detail FROM audit_log WHERE action = 'namespace.quota' AND target = $1`, [`namespace:${team.namespace}`]);
      expect(audit).toEqual([{ detail: { quotaBytes: 1 << 30 } }]);
    });
  });

  it('refuses a blob that would exceed the quota with DENIED, links nothing and drops the session', async () => {
    const ns = await organisation();
    await v2.pushBlob(`${ns}/app`, randomBlob(4000));
    await setQuota(ns, 4000 + 1000);
    const big = randomBlob(2000);
    const { res, location } = await putBlob(`${ns}/app`, big);
    const body = expectError(res, 403, 'DENIED');
    expect(body.errors[0].message).toMatch(QUOTA_MESSAGE);
    expect(body.errors[0].message).toContain(`namespace "${ns}" quota exceeded: 3.9 KiB used of 4.9 KiB, this blob needs 2 KiB`);
    expect((await v2.head(`/v2/${ns}/app/blobs/${sha256(big)}`)).status).toBe(404);
    expect(errorCode(await v2.get(location))).toBe('BLOB_UPLOAD_UNKNOWN');
    expect(await registry.sql('SELECT 1 FROM blobs WHERE digest = $1', [sha256(big)])).toEqual([]);

    // The same in one request (POST ?digest= with the body).
    const single = await v2.post(`/v2/${ns}/app/blobs/uploads/?digest=${sha256(big)}`, { body: big });
    expectError(single, 403, 'DENIED');

    // What fits still goes in; then the full namespace refuses a new session up front.
    expect((await putBlob(`${ns}/app`, randomBlob(1000))).res.status).toBe(201);
    const start = await v2.post(`/v2/${ns}/app/blobs/uploads/`);
    expect(expectError(start, 403, 'DENIED').errors[0].message).toBe(`namespace "${ns}" quota exceeded: 4.9 KiB used of 4.9 KiB`);
  });

  it('lets a full namespace take blobs it already holds, by upload or mount, but not new ones by mount', async () => {
    const ns = await organisation();
    const other = await organisation();
    const shared = randomBlob(3000);
    await v2.pushBlob(`${ns}/a`, shared);
    const foreign = randomBlob(500);
    await v2.pushBlob(`${other}/x`, foreign);
    await setQuota(ns, 3000);

    const mounted = await v2.post(`/v2/${ns}/b/blobs/uploads/?mount=${sha256(shared)}&from=${ns}/a`);
    expect(mounted.status, mounted.text).toBe(201);
    // The session would be refused (the namespace is full), so the upload goes in one request.
    const again = await v2.post(`/v2/${ns}/c/blobs/uploads/?digest=${sha256(shared)}`, { body: shared });
    expectError(again, 403, 'DENIED');
    await setQuota(ns, 3001);
    expect((await v2.post(`/v2/${ns}/c/blobs/uploads/?digest=${sha256(shared)}`, { body: shared })).status).toBe(201);
    const refused = await v2.post(`/v2/${ns}/b/blobs/uploads/?mount=${sha256(foreign)}&from=${other}/x`);
    expect(expectError(refused, 403, 'DENIED').errors[0].message).toMatch(QUOTA_MESSAGE);
    expect((await v2.head(`/v2/${ns}/b/blobs/${sha256(foreign)}`)).status).toBe(404);
    expect((await usageOf(ns)).totalBytes).toBe(3000);
  });

  it('counts manifests: a new one must fit, the same one pushed again adds nothing', async () => {
    const ns = await organisation();
    const image = buildImage({ layers: 1, layerSize: 1000 });
    for (const blob of image.blobs) await v2.pushBlob(`${ns}/app`, blob);
    const blobBytes = image.blobs.reduce((n, b) => n + b.length, 0);
    await setQuota(ns, blobBytes + image.manifestBytes.length - 1);
    const refused = await v2.pushManifest(`${ns}/app`, 'v1', image.manifestBytes, image.mediaType);
    expect(expectError(refused, 403, 'DENIED').errors[0].message).toMatch(QUOTA_MESSAGE);
    expect((await v2.get(`/v2/${ns}/app/manifests/v1`)).status).toBe(404);

    await setQuota(ns, blobBytes + image.manifestBytes.length);
    expect((await v2.pushManifest(`${ns}/app`, 'v1', image.manifestBytes, image.mediaType)).status).toBe(201);
    expect((await v2.pushManifest(`${ns}/app`, 'v2', image.manifestBytes, image.mediaType)).status).toBe(201);
    expect((await usageOf(ns)).totalBytes).toBe(blobBytes + image.manifestBytes.length);
  });

  it('lets only one of two concurrent pushes take the last bytes', async () => {
    const ns = await organisation();
    await setQuota(ns, 6000);
    const blobs = Array.from({ length: 4 }, () => randomBlob(4000));
    const sessions = await Promise.all(blobs.map((_, i) => v2.startUpload(`${ns}/r${i}`)));
    const answers = await Promise.all(sessions.map((location, i) => v2.put(withQuery(location, { digest: sha256(blobs[i]) }), { body: blobs[i] })));
    expect(answers.map((a) => a.status).sort()).toEqual([201, 403, 403, 403]);
    expect((await usageOf(ns)).totalBytes).toBe(4000);
  });

  it('gives back what is deleted: the running count is recounted before refusing', async () => {
    const ns = await organisation();
    await setQuota(ns, 5000);
    const first = randomBlob(4000);
    await v2.pushBlob(`${ns}/app`, first);
    expect((await v2.delete(`/v2/${ns}/app/blobs/${sha256(first)}`)).status).toBe(202);
    await v2.pushBlob(`${ns}/app`, randomBlob(4000));
    expect((await usageOf(ns)).totalBytes).toBe(4000);
    expectError((await putBlob(`${ns}/app`, randomBlob(1001))).res, 403, 'DENIED');
  });

  it('removing the quota lets pushes in again', async () => {
    const ns = await organisation();
    await setQuota(ns, 0);
    expectError(await v2.post(`/v2/${ns}/app/blobs/uploads/`), 403, 'DENIED');
    expect((await setQuota(ns, null)).quotaBytes).toBeNull();
    await v2.pushBlob(`${ns}/app`, randomBlob(100));
  });

  it('answers quickly for a namespace with thousands of repositories', async () => {
    const ns = await organisation();
    // 3000 repositories, each linking 20 of 1000 blobs, and 30 000 blobs elsewhere.
    await registry.sql(`INSERT INTO blobs (digest, size) SELECT 'sha256:' || md5($1 || i), 1000 FROM generate_series(1, 31000) i`, [ns]);
    await registry.sql(`INSERT INTO repositories (name) SELECT $1 || '/r' || i FROM generate_series(1, 3000) i`, [ns]);
    await registry.sql(
      `INSERT INTO repository_blobs (repository_id, digest)
       SELECT r.id, 'sha256:' || md5($1 || (1 + (r.id * 7 + j) % 1000)) FROM repositories r, generate_series(1, 20) j
        WHERE r.namespace = $1 ON CONFLICT DO NOTHING`,
      [ns],
    );
    await registry.sql('ANALYZE');
    const started = performance.now();
    const usage = await usageOf(ns);
    const elapsed = performance.now() - started;
    expect(usage).toMatchObject({ repositories: 3000, blobBytes: 1000 * 1000 });
    expect(elapsed).toBeLessThan(1000);

    await setQuota(ns, 2000 * 1000);
    const pushStarted = performance.now();
    await v2.pushBlob(`${ns}/r1`, randomBlob(1000));
    expect(performance.now() - pushStarted).toBeLessThan(1000);
  });
});

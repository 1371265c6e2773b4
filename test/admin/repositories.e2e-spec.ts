import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../support/http.js';
import {
  type AdminRegistry,
  Api,
  type RoleFixture,
  adminSuiteAvailable,
  createUser,
  expectApiError,
  expectStatus,
  pushImage,
  roleFixture,
  startAdminRegistry,
  uniqueName,
} from './support.js';

const available = await adminSuiteAvailable('admin/repositories');

describe.skipIf(!available)('admin API: repositories and tags', () => {
  let registry: AdminRegistry;
  let admin: Api;
  let team: RoleFixture;
  let publicOrg: string;

  beforeAll(async () => {
    registry = await startAdminRegistry();
    admin = await Api.login(registry.url, registry.admin);
    team = await roleFixture(admin, 'team');
    publicOrg = uniqueName('pub');
    expectStatus(await admin.post('/namespaces', { name: publicOrg, visibility: 'public' }), 201);
  });
  afterAll(async () => {
    await registry?.close();
  });

  const names = (page: { items: { name: string }[] }) => page.items.map((r) => r.name);

  it('lists only the repositories the caller may pull', async () => {
    const privateOther = uniqueName('priv');
    expectStatus(await admin.post('/namespaces', { name: privateOther }), 201);
    await pushImage(registry, `${team.namespace}/app`, 'v1');
    await pushImage(registry, `${publicOrg}/base`, 'v1');
    await pushImage(registry, `${privateOther}/secret`, 'v1');
    const everything = names(expectStatus(await admin.get('/repositories?perPage=100'), 200));
    expect(everything).toEqual(expect.arrayContaining([`${team.namespace}/app`, `${publicOrg}/base`, `${privateOther}/secret`]));
    const reader = names(expectStatus(await team.reader.get('/repositories?perPage=100'), 200));
    expect(reader).toEqual(expect.arrayContaining([`${team.namespace}/app`, `${publicOrg}/base`]));
    expect(reader).not.toContain(`${privateOther}/secret`);
    const outsider = names(expectStatus(await team.outsider.get('/repositories?perPage=100'), 200));
    expect(outsider).toContain(`${publicOrg}/base`);
    expect(outsider).not.toContain(`${team.namespace}/app`);
    expect(outsider).not.toContain(`${privateOther}/secret`);
    const filtered = expectStatus(await team.reader.get(`/repositories?namespace=${team.namespace}`), 200);
    expect(names(filtered)).toEqual([`${team.namespace}/app`]);
    expect(filtered.total).toBe(1);
    expect(names(expectStatus(await team.outsider.get(`/repositories?namespace=${privateOther}`), 200))).toEqual([]);
    expect(names(expectStatus(await admin.get(`/repositories?q=${privateOther.slice(0, 10)}`), 200))).toEqual([`${privateOther}/secret`]);
    expectApiError(await admin.get('/repositories?namespace=Bad!&perPage=x'), 400, 'namespace', 'perPage');
  });

  it('shows a repository with its tags and sizes: shared blobs count once, each tag its image', async () => {
    const repo = `${team.namespace}/sizes`;
    const client = new RegistryClient(registry.url, registry.admin);
    const one = await client.pushImage(repo, 'one');
    const two = await client.pushImage(repo, 'two');
    // A second tag on the first image adds no blobs.
    expect((await client.pushManifest(repo, 'same', one.manifestBytes, one.mediaType)).status).toBe(201);
    const imageSize = (image: typeof one) => image.blobs.reduce((sum, b) => sum + b.length, 0);
    const detail = expectStatus(await team.reader.get(`/repositories/${repo}`), 200);
    expect(detail).toMatchObject({ name: repo, namespace: team.namespace, tagCount: 3, size: imageSize(one) + imageSize(two) });
    expect(detail.tags).toEqual([
      { name: 'one', digest: one.digest, mediaType: one.mediaType, size: imageSize(one), updatedAt: expect.any(String) },
      { name: 'same', digest: one.digest, mediaType: one.mediaType, size: imageSize(one), updatedAt: expect.any(String) },
      { name: 'two', digest: two.digest, mediaType: two.mediaType, size: imageSize(two), updatedAt: expect.any(String) },
    ]);
    const tags = expectStatus(await team.reader.get(`/repositories/${repo}/tags?perPage=2&page=2`), 200);
    expect(tags).toMatchObject({ total: 3, page: 2, perPage: 2, items: [{ name: 'two', digest: two.digest }] });
    // Encoded slashes reach the same repository.
    expect(expectStatus(await team.reader.get(`/repositories/${encodeURIComponent(repo)}`), 200).name).toBe(repo);
  });

  it('hides private repositories from outsiders (404) and answers 404 for unknown ones, 400 for bad names', async () => {
    await pushImage(registry, `${team.namespace}/hidden`, 'v1');
    expectApiError(await team.outsider.get(`/repositories/${team.namespace}/hidden`), 404);
    expectApiError(await team.outsider.get(`/repositories/${team.namespace}/hidden/tags`), 404);
    expectApiError(await team.outsider.delete(`/repositories/${team.namespace}/hidden`), 404);
    expectApiError(await team.outsider.delete(`/repositories/${team.namespace}/hidden/tags/v1`), 404);
    expectApiError(await team.reader.get(`/repositories/${team.namespace}/nothing-here`), 404);
    expectApiError(await admin.get(`/repositories/${uniqueName('none')}/app`), 404);
    expectApiError(await admin.get('/repositories/Team/App'), 400, 'name');
    expectApiError(await admin.delete(`/repositories/${team.namespace}/hidden/tags/.bad`), 400, 'tag');
    expectStatus(await team.outsider.get(`/repositories/${publicOrg}/base`), 200);
  });

  it('only maintainers and owners delete tags; the manifest stays', async () => {
    const repo = `${team.namespace}/tagged`;
    const image = await pushImage(registry, repo, 'v1');
    await pushImage(registry, repo, 'v2');
    for (const role of ['reader', 'developer'] as const) {
      const refused = expectApiError(await team[role].delete(`/repositories/${repo}/tags/v1`), 403);
      expect(refused.message).toContain('maintainer');
    }
    expectApiError(await team.outsider.delete(`/repositories/${publicOrg}/base/tags/v1`), 403);
    expectStatus(await team.maintainer.delete(`/repositories/${repo}/tags/v1`), 204);
    expectApiError(await team.maintainer.delete(`/repositories/${repo}/tags/v1`), 404);
    expectStatus(await team.owner.delete(`/repositories/${repo}/tags/v2`), 204);
    const manifest = await new RegistryClient(registry.url, registry.admin).get(`/v2/${repo}/manifests/${image.digest}`, {
      headers: { Accept: image.mediaType },
    });
    expect(manifest.status).toBe(200);
    const audit = expectStatus(await admin.get(`/audit?action=tag.delete&actor=${team.names.maintainer}`), 200);
    expect(audit.items[0]).toMatchObject({ target: `repository:${repo}`, detail: { tag: 'v1', digest: image.digest } });
  });

  it('only maintainers and owners delete repositories; blobs stay in storage', async () => {
    const repo = `${team.namespace}/doomed`;
    const image = await pushImage(registry, repo, 'v1');
    for (const role of ['reader', 'developer'] as const) expectApiError(await team[role].delete(`/repositories/${repo}`), 403);
    expectApiError(await team.outsider.delete(`/repositories/${publicOrg}/base`), 403);
    expectStatus(await team.maintainer.delete(`/repositories/${repo}`), 204);
    expectApiError(await team.maintainer.get(`/repositories/${repo}`), 404);
    expectApiError(await team.maintainer.delete(`/repositories/${repo}`), 404);
    expect(await registry.sql(`SELECT 1 FROM repositories WHERE name = $1`, [repo])).toEqual([]);
    expect(await registry.sql(`SELECT 1 FROM blobs WHERE digest = $1`, [image.manifest.layers[0].digest])).toHaveLength(1);
    const owned = `${team.namespace}/owned`;
    await pushImage(registry, owned, 'v1');
    expectStatus(await team.owner.delete(`/repositories/${owned}`), 204);
    const audit = expectStatus(await admin.get('/audit?action=repository.delete'), 200);
    expect(audit.items.map((e: { actor: string; target: string }) => [e.actor, e.target])).toEqual([
      [team.names.owner, `repository:${owned}`],
      [team.names.maintainer, `repository:${repo}`],
    ]);
  });

  it('a user manages the repositories of their personal namespace', async () => {
    const nina = await createUser(admin, 'nina');
    await pushImage(registry, `${nina.username}/tool`, 'v1');
    expect(names(expectStatus(await nina.api.get(`/repositories?namespace=${nina.username}`), 200))).toEqual([`${nina.username}/tool`]);
    expectApiError(await team.owner.get(`/repositories/${nina.username}/tool`), 404);
    expectStatus(await nina.api.delete(`/repositories/${nina.username}/tool`), 204);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

const available = await adminSuiteAvailable('admin/namespaces');

describe.skipIf(!available)('admin API: namespaces and members', () => {
  let registry: AdminRegistry;
  let admin: Api;
  let team: RoleFixture;

  beforeAll(async () => {
    registry = await startAdminRegistry();
    admin = await Api.login(registry.url, registry.admin);
    team = await roleFixture(admin, 'team');
  });
  afterAll(async () => {
    await registry?.close();
  });

  describe('namespaces', () => {
    it('administrators create organisations (private by default); others get 403', async () => {
      const name = uniqueName('org');
      const created = expectStatus(await admin.post('/namespaces', { name }), 201);
      expect(created).toMatchObject({ name, kind: 'organization', visibility: 'private', owner: null });
      const open = expectStatus(await admin.post('/namespaces', { name: uniqueName('pub'), visibility: 'public' }), 201);
      expect(open.visibility).toBe('public');
      expectApiError(await admin.post('/namespaces', { name }), 409);
      expectApiError(await admin.post('/namespaces', { name: registry.admin.username }), 409);
      expectApiError(await team.owner.post('/namespaces', { name: uniqueName('org') }), 403);
      expectApiError(await admin.post('/namespaces', { name: 'Not_Valid!', visibility: 'secret' }), 400, 'name', 'visibility');
    });

    it('lists all namespaces for administrators; others see theirs and the public ones', async () => {
      const publicOrg = uniqueName('pub');
      expectStatus(await admin.post('/namespaces', { name: publicOrg, visibility: 'public' }), 201);
      const names = async (api: Api, q = '') => {
        const page = expectStatus(await api.get(`/namespaces?perPage=100${q}`), 200);
        return page.items.map((n: { name: string }) => n.name);
      };
      const all = await names(admin);
      expect(all).toEqual(expect.arrayContaining([team.namespace, publicOrg, team.names.reader]));
      const readers = await names(team.reader);
      expect(readers).toEqual(expect.arrayContaining([team.namespace, publicOrg, team.names.reader]));
      expect(readers).not.toContain(team.names.owner);
      const outsiders = await names(team.outsider);
      expect(outsiders).toContain(publicOrg);
      expect(outsiders).not.toContain(team.namespace);
      expect(await names(team.outsider, `&q=${team.namespace}`)).toEqual([]);
      const mine = expectStatus(await team.developer.get(`/namespaces?q=${team.namespace}`), 200);
      expect(mine).toMatchObject({ total: 1, items: [{ name: team.namespace, role: 'developer' }] });
    });

    it('a private namespace is 404 to non-members, a public one is readable by all', async () => {
      expectStatus(await team.reader.get(`/namespaces/${team.namespace}`), 200);
      expectApiError(await team.outsider.get(`/namespaces/${team.namespace}`), 404);
      expectApiError(await team.outsider.get(`/namespaces/${uniqueName('none')}`), 404);
      const publicOrg = uniqueName('pub');
      expectStatus(await admin.post('/namespaces', { name: publicOrg, visibility: 'public' }), 201);
      expect(expectStatus(await team.outsider.get(`/namespaces/${publicOrg}`), 200)).toMatchObject({ name: publicOrg, role: null });
    });

    it('only owners change visibility (PATCH), and it is audited', async () => {
      for (const role of ['reader', 'developer', 'maintainer'] as const) {
        expectApiError(await team[role].patch(`/namespaces/${team.namespace}`, { visibility: 'public' }), 403);
      }
      expectApiError(await team.outsider.patch(`/namespaces/${team.namespace}`, { visibility: 'public' }), 404);
      expectApiError(await team.owner.patch(`/namespaces/${team.namespace}`, { visibility: 'open' }), 400, 'visibility');
      const changed = expectStatus(await team.owner.patch(`/namespaces/${team.namespace}`, { visibility: 'public' }), 200);
      expect(changed).toMatchObject({ visibility: 'public', role: 'owner' });
      // Public now: outsiders see it, but still may not change it.
      expectStatus(await team.outsider.get(`/namespaces/${team.namespace}`), 200);
      expectApiError(await team.outsider.patch(`/namespaces/${team.namespace}`, { visibility: 'private' }), 403);
      expectStatus(await team.owner.patch(`/namespaces/${team.namespace}`, { visibility: 'private' }), 200);
      const audit = expectStatus(await admin.get(`/audit?action=namespace.update&actor=${team.names.owner}`), 200);
      expect(audit.items.map((e: { detail: { visibility: string } }) => e.detail.visibility)).toEqual(['private', 'public']);
    });

    it('a user may make their personal namespace public', async () => {
      const ivan = await createUser(admin, 'ivan');
      expectStatus(await ivan.api.patch(`/namespaces/${ivan.username}`, { visibility: 'public' }), 200);
      expectStatus(await team.outsider.get(`/namespaces/${ivan.username}`), 200);
    });

    it('deletes organisations (administrators); refuses one holding repositories unless force', async () => {
      const org = uniqueName('org');
      expectStatus(await admin.post('/namespaces', { name: org }), 201);
      await pushImage(registry, `${org}/app`, 'v1');
      await pushImage(registry, `${org}/tools/cli`, 'v1');
      const refused = expectApiError(await admin.delete(`/namespaces/${org}`), 409);
      expect(refused.message).toContain('2 repositories');
      expectApiError(await admin.delete(`/namespaces/${org}?force=yes`), 400, 'force');
      expectApiError(await team.owner.delete(`/namespaces/${team.namespace}`), 403);
      expectStatus(await admin.delete(`/namespaces/${org}?force=true`), 204);
      expectApiError(await admin.get(`/namespaces/${org}`), 404);
      expect(await registry.sql(`SELECT name FROM repositories WHERE name LIKE $1`, [`${org}/%`])).toEqual([]);
      const empty = uniqueName('org');
      expectStatus(await admin.post('/namespaces', { name: empty }), 201);
      expectStatus(await admin.delete(`/namespaces/${empty}`), 204);
      expectApiError(await admin.delete(`/namespaces/${empty}`), 404);
      expectApiError(await admin.delete(`/namespaces/${team.names.reader}`), 409);
      const audit = expectStatus(await admin.get(`/audit?action=namespace.delete`), 200);
      expect(audit.items.map((e: { target: string }) => e.target)).toEqual([`namespace:${empty}`, `namespace:${org}`]);
    });
  });

  describe('members', () => {
    it('owners set roles with PUT (201 added, 200 changed) and members list them', async () => {
      const org = uniqueName('org');
      expectStatus(await admin.post('/namespaces', { name: org }), 201);
      const judy = await createUser(admin, 'judy');
      const added = expectStatus(await admin.put(`/namespaces/${org}/members/${judy.username}`, { role: 'owner' }), 201);
      expect(added).toMatchObject({ username: judy.username, role: 'owner' });
      const ken = await createUser(admin, 'ken');
      expectStatus(await judy.api.put(`/namespaces/${org}/members/${ken.username}`, { role: 'reader' }), 201);
      expect(expectStatus(await judy.api.put(`/namespaces/${org}/members/${ken.username}`, { role: 'developer' }), 200)).toMatchObject({ role: 'developer' });
      expectStatus(await judy.api.put(`/namespaces/${org}/members/${ken.username}`, { role: 'developer' }), 200);
      const list = expectStatus(await ken.api.get(`/namespaces/${org}/members`), 200);
      expect(list.items).toEqual([
        { username: judy.username, role: 'owner', createdAt: expect.any(String) },
        { username: ken.username, role: 'developer', createdAt: expect.any(String) },
      ].sort((a, b) => a.username.localeCompare(b.username)));
      const audit = expectStatus(await admin.get(`/audit?action=namespace.member.set&actor=${judy.username}`), 200);
      // Setting the role a member already has changes nothing and records nothing.
      expect(audit.items.map((e: { detail: unknown }) => e.detail)).toEqual([
        { username: ken.username, role: 'developer', previousRole: 'reader' },
        { username: ken.username, role: 'reader', previousRole: null },
      ]);
      expectStatus(await judy.api.delete(`/namespaces/${org}/members/${ken.username}`), 204);
      expectApiError(await judy.api.delete(`/namespaces/${org}/members/${ken.username}`), 404);
      expectApiError(await ken.api.get(`/namespaces/${org}/members`), 404);
    });

    it('validates roles and refers to existing users (400, 404)', async () => {
      expectApiError(await team.owner.put(`/namespaces/${team.namespace}/members/${team.names.outsider}`, { role: 'admin' }), 400, 'role');
      expectApiError(await team.owner.put(`/namespaces/${team.namespace}/members/${team.names.outsider}`, {}), 400, 'role');
      expectApiError(await team.owner.put(`/namespaces/${team.namespace}/members/${uniqueName('ghost')}`, { role: 'reader' }), 404);
      expectApiError(await admin.put(`/namespaces/${uniqueName('none')}/members/${team.names.outsider}`, { role: 'reader' }), 404);
    });

    it('only owners manage members; members list them; outsiders of a private namespace get 404', async () => {
      for (const role of ['reader', 'developer', 'maintainer'] as const) {
        expectStatus(await team[role].get(`/namespaces/${team.namespace}/members`), 200);
        expectApiError(await team[role].put(`/namespaces/${team.namespace}/members/${team.names.outsider}`, { role: 'reader' }), 403);
        expectApiError(await team[role].delete(`/namespaces/${team.namespace}/members/${team.names.reader}`), 403);
      }
      expectApiError(await team.outsider.get(`/namespaces/${team.namespace}/members`), 404);
      expectApiError(await team.outsider.put(`/namespaces/${team.namespace}/members/${team.names.outsider}`, { role: 'owner' }), 404);
      expectApiError(await team.outsider.delete(`/namespaces/${team.namespace}/members/${team.names.reader}`), 404);
    });

    it('keeps the last owner of an organisation (409), and the owner of a personal namespace', async () => {
      const org = uniqueName('org');
      expectStatus(await admin.post('/namespaces', { name: org }), 201);
      const leo = await createUser(admin, 'leo');
      const mia = await createUser(admin, 'mia');
      expectStatus(await admin.put(`/namespaces/${org}/members/${leo.username}`, { role: 'owner' }), 201);
      expectApiError(await leo.api.put(`/namespaces/${org}/members/${leo.username}`, { role: 'maintainer' }), 409);
      expectApiError(await leo.api.delete(`/namespaces/${org}/members/${leo.username}`), 409);
      expectStatus(await leo.api.put(`/namespaces/${org}/members/${mia.username}`, { role: 'owner' }), 201);
      expectStatus(await leo.api.put(`/namespaces/${org}/members/${leo.username}`, { role: 'maintainer' }), 200);
      expectApiError(await admin.delete(`/namespaces/${org}/members/${mia.username}`), 409);
      expectApiError(await leo.api.put(`/namespaces/${org}/members/${mia.username}`, { role: 'reader' }), 403);

      expectStatus(await leo.api.put(`/namespaces/${leo.username}/members/${mia.username}`, { role: 'owner' }), 201);
      expectApiError(await mia.api.put(`/namespaces/${leo.username}/members/${leo.username}`, { role: 'reader' }), 409);
      expectApiError(await mia.api.delete(`/namespaces/${leo.username}/members/${leo.username}`), 409);
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AdminRegistry,
  Api,
  adminSuiteAvailable,
  createUser,
  expectApiError,
  expectStatus,
  newPassword,
  pushImage,
  startAdminRegistry,
  uniqueName,
} from './support.js';

const available = await adminSuiteAvailable('admin/users');

describe.skipIf(!available)('admin API: users', () => {
  let registry: AdminRegistry;
  let admin: Api;

  beforeAll(async () => {
    registry = await startAdminRegistry();
    admin = await Api.login(registry.url, registry.admin);
  });
  afterAll(async () => {
    await registry?.close();
  });

  it('the first administrator exists from start-up, created by `system`', async () => {
    const me = expectStatus(await admin.get(`/users/${registry.admin.username}`), 200);
    expect(me).toMatchObject({ username: registry.admin.username, isAdmin: true, disabled: false });
    const audit = expectStatus(await admin.get(`/audit?action=user.create&actor=system`), 200);
    expect(audit.items).toEqual([expect.objectContaining({ actor: 'system', target: `user:${registry.admin.username}` })]);
  });

  it('creates a user with a personal namespace they own, never showing the password hash', async () => {
    const username = uniqueName('alice');
    const created = expectStatus(await admin.post('/users', { username, password: newPassword() }), 201);
    expect(created).toEqual({
      username,
      isAdmin: false,
      disabled: false,
      passwordChangedAt: expect.any(String),
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const namespace = expectStatus(await admin.get(`/namespaces/${username}`), 200);
    expect(namespace).toMatchObject({ name: username, kind: 'user', owner: username, visibility: 'private' });
    const members = expectStatus(await admin.get(`/namespaces/${username}/members`), 200);
    expect(members.items).toEqual([expect.objectContaining({ username, role: 'owner' })]);
    const stored = await registry.sql(`SELECT password_hash FROM users WHERE username = $1`, [username]);
    expect(stored[0].password_hash).toMatch(/^\$argon2id\$/);
    expect(JSON.stringify(created)).not.toContain('argon2');
  });

  it('refuses duplicates and names taken by a namespace (409)', async () => {
    const { username } = await createUser(admin, 'dup');
    expectApiError(await admin.post('/users', { username, password: newPassword() }), 409);
    const org = uniqueName('org');
    expectStatus(await admin.post('/namespaces', { name: org }), 201);
    const body = expectApiError(await admin.post('/users', { username: org, password: newPassword() }), 409);
    expect(body.message).toContain('namespace');
    expect((await registry.sql(`SELECT 1 FROM users WHERE username = $1`, [org])).length).toBe(0);
  });

  it('validates the body field by field (400)', async () => {
    let body = expectApiError(await admin.post('/users', { username: 'Bad Name', password: 'short', isAdmin: 'yes', extra: 1 }), 400, 'username', 'password', 'isAdmin', 'extra');
    expect(body.errors.every((e: { message: string }) => typeof e.message === 'string' && e.message.length > 0)).toBe(true);
    body = expectApiError(await admin.post('/users', { username: 'a', password: 'x'.repeat(257) }), 400, 'username', 'password');
    expectApiError(await admin.post('/users', { username: 'a--b_', password: newPassword() }), 400, 'username');
    expectApiError(await admin.post('/users', { username: `a${'b'.repeat(64)}`, password: newPassword() }), 400, 'username');
    expectApiError(await admin.post('/users'), 400, 'body');
    expectApiError(await admin.request('POST', '/api/v1/users', '{"username": ', { 'content-type': 'application/json' }), 400);
    expectApiError(await admin.patch(`/users/${registry.admin.username}`, {}), 400, 'body');
    expectApiError(await admin.get('/users?page=0&perPage=1000'), 400, 'page', 'perPage');
  });

  it('lists users with search and paging', async () => {
    const prefix = uniqueName('page');
    for (const n of ['a', 'b', 'c']) expectStatus(await admin.post('/users', { username: `${prefix}-${n}`, password: newPassword() }), 201);
    const first = expectStatus(await admin.get(`/users?q=${prefix}&perPage=2`), 200);
    expect(first).toMatchObject({ page: 1, perPage: 2, total: 3 });
    expect(first.items.map((u: { username: string }) => u.username)).toEqual([`${prefix}-a`, `${prefix}-b`]);
    const second = expectStatus(await admin.get(`/users?q=${prefix}&perPage=2&page=2`), 200);
    expect(second.items.map((u: { username: string }) => u.username)).toEqual([`${prefix}-c`]);
    expect(JSON.stringify(first)).not.toMatch(/password_?hash/i);
  });

  it('only administrators manage users; a user may read themselves (403 otherwise)', async () => {
    const alice = await createUser(admin, 'alice');
    const bob = await createUser(admin, 'bob');
    expectStatus(await alice.api.get(`/users/${alice.username}`), 200);
    expectApiError(await alice.api.get(`/users/${bob.username}`), 403);
    expectApiError(await alice.api.get('/users'), 403);
    expectApiError(await alice.api.post('/users', { username: uniqueName('x'), password: newPassword() }), 403);
    expectApiError(await alice.api.patch(`/users/${alice.username}`, { isAdmin: true }), 403);
    expectApiError(await alice.api.delete(`/users/${bob.username}`), 403);
    expectApiError(await new Api(registry.url).get(`/users/${alice.username}`), 401);
    expectApiError(await admin.get(`/users/${uniqueName('ghost')}`), 404);
  });

  it('updates isAdmin and disabled; a disabled user cannot sign in', async () => {
    const carol = await createUser(admin, 'carol');
    const promoted = expectStatus(await admin.patch(`/users/${carol.username}`, { isAdmin: true }), 200);
    expect(promoted).toMatchObject({ isAdmin: true, disabled: false });
    expectStatus(await carol.api.get('/users'), 200);
    expectStatus(await admin.patch(`/users/${carol.username}`, { isAdmin: false, disabled: true }), 200);
    expectStatus(await new Api(registry.url).request('POST', '/api/v1/auth/login', { username: carol.username, password: carol.password }), 401);
    const audit = expectStatus(await admin.get('/audit?action=user.update'), 200);
    expect(audit.items[0]).toMatchObject({ actor: registry.admin.username, target: `user:${carol.username}`, detail: { isAdmin: false, disabled: true } });
  });

  it('nobody may disable, demote or delete themselves (403)', async () => {
    const dave = await createUser(admin, 'dave', true);
    expectApiError(await dave.api.patch(`/users/${dave.username}`, { disabled: true }), 403);
    expectApiError(await dave.api.patch(`/users/${dave.username}`, { isAdmin: false }), 403);
    expectApiError(await dave.api.delete(`/users/${dave.username}`), 403);
    expectStatus(await dave.api.patch(`/users/${dave.username}`, { isAdmin: true }), 200);
  });

  it('changes one’s own password with the current one; old credentials stop working', async () => {
    const erin = await createUser(admin, 'erin');
    const next = newPassword();
    expectApiError(await erin.api.put('/users/me/password', { currentPassword: 'wrong-password', newPassword: next }), 403);
    expectApiError(await erin.api.put('/users/me/password', { currentPassword: erin.password, newPassword: 'short' }), 400, 'newPassword');
    const before = (await registry.sql(`SELECT password_changed_at FROM users WHERE username = $1`, [erin.username]))[0].password_changed_at;
    expectStatus(await erin.api.put('/users/me/password', { currentPassword: erin.password, newPassword: next }), 204);
    const after = (await registry.sql(`SELECT password_changed_at FROM users WHERE username = $1`, [erin.username]))[0].password_changed_at;
    expect(after.getTime()).toBeGreaterThan(before.getTime());
    const login = (password: string) => new Api(registry.url).request('POST', '/api/v1/auth/login', { username: erin.username, password });
    expectStatus(await login(erin.password), 401);
    expectStatus(await login(next), 200);
    const audit = expectStatus(await admin.get(`/audit?action=user.password.set&actor=${erin.username}`), 200);
    expect(audit.items).toHaveLength(1);
    expect(JSON.stringify(audit.items)).not.toContain(next);
  });

  it('deletes a user with their personal namespace; refuses while it holds repositories unless force', async () => {
    const frank = await createUser(admin, 'frank');
    await pushImage(registry, `${frank.username}/app`, 'v1');
    const refused = expectApiError(await admin.delete(`/users/${frank.username}`), 409);
    expect(refused.message).toContain('force=true');
    expectStatus(await admin.delete(`/users/${frank.username}?force=true`), 204);
    expectApiError(await admin.get(`/users/${frank.username}`), 404);
    expectApiError(await admin.get(`/namespaces/${frank.username}`), 404);
    expect(await registry.sql(`SELECT name FROM repositories WHERE name LIKE $1`, [`${frank.username}/%`])).toEqual([]);
    expectApiError(await admin.delete(`/users/${frank.username}`), 404);
    const audit = expectStatus(await admin.get(`/audit?action=user.delete`), 200);
    expect(audit.items[0]).toMatchObject({ target: `user:${frank.username}`, detail: { repositoriesDeleted: 1 } });
  });

  it('refuses deleting the last owner of an organisation (409)', async () => {
    const grace = await createUser(admin, 'grace');
    const org = uniqueName('org');
    expectStatus(await admin.post('/namespaces', { name: org }), 201);
    expectStatus(await admin.put(`/namespaces/${org}/members/${grace.username}`, { role: 'owner' }), 201);
    expectApiError(await admin.delete(`/users/${grace.username}`), 409);
    const heidi = await createUser(admin, 'heidi');
    expectStatus(await admin.put(`/namespaces/${org}/members/${heidi.username}`, { role: 'owner' }), 201);
    expectStatus(await admin.delete(`/users/${grace.username}`), 204);
  });
});

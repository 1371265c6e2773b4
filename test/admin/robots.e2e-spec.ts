import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../support/http.js';
import {
  type AdminRegistry,
  Api,
  type RoleFixture,
  adminSuiteAvailable,
  expectApiError,
  expectStatus,
  pushImage,
  roleFixture,
  startAdminRegistry,
  uniqueName,
} from './support.js';

const available = await adminSuiteAvailable('admin/robots');

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe.skipIf(!available)('admin API: robot accounts', () => {
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

  /** Whether `login:secret` is accepted by the registry (GET /v2/ with Basic credentials). */
  async function registryAccepts(login: string, secret: string): Promise<boolean> {
    const res = await new RegistryClient(registry.url, { username: login, password: secret }).get('/v2/');
    return res.status === 200;
  }

  const robots = (ns = team.namespace) => `/namespaces/${ns}/robots`;

  it('creates a robot and shows its secret once; list and get never show it nor its hash', async () => {
    const name = uniqueName('ci');
    const created = expectStatus(
      await team.owner.post(robots(), { name, description: 'CI pipeline', actions: ['pull', 'push'], repositories: [`${team.namespace}/app-*`] }),
      201,
    );
    expect(created.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(created.robot).toEqual({
      name,
      username: `${team.namespace}+${name}`,
      namespace: team.namespace,
      description: 'CI pipeline',
      actions: ['pull', 'push'],
      repositories: [`${team.namespace}/app-*`],
      expiresAt: null,
      revokedAt: null,
      status: 'active',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const [stored] = await registry.sql(`SELECT secret_hash FROM robots WHERE name = $1`, [name]);
    expect(stored.secret_hash).toBe(sha256(created.secret));
    const list = await team.owner.get(robots());
    const one = await team.owner.get(`${robots()}/${name}`);
    for (const answer of [list, one]) {
      expectStatus(answer, 200);
      expect(answer.text).not.toContain(created.secret);
      expect(answer.text).not.toContain(stored.secret_hash);
      expect(answer.text).not.toMatch(/secret/i);
    }
    expect(list.body.items.map((r: { name: string }) => r.name)).toContain(name);
    expect(await registryAccepts(created.robot.username, created.secret)).toBe(true);
    const audit = expectStatus(await admin.get(`/audit?action=robot.create&actor=${team.names.owner}`), 200);
    expect(audit.items[0]).toMatchObject({ target: `robot:${team.namespace}+${name}`, detail: { actions: ['pull', 'push'] } });
    expect(JSON.stringify(audit.items)).not.toContain(created.secret);
  });

  it('validates grants field by field (400) and refuses duplicates (409)', async () => {
    expectApiError(await team.owner.post(robots(), { name: 'CI', actions: [] }), 400, 'name', 'actions');
    expectApiError(await team.owner.post(robots(), { name: 'ci', actions: ['admin'] }), 400, 'actions.0');
    expectApiError(await team.owner.post(robots(), { name: 'ci', actions: ['pull'], expiresAt: 'tomorrow' }), 400, 'expiresAt');
    expectApiError(await team.owner.post(robots(), { name: 'ci', actions: ['pull'], expiresAt: '2001-01-01T00:00:00Z' }), 400, 'expiresAt');
    expectApiError(await team.owner.post(robots(), { name: 'ci', actions: ['pull'], repositories: ['other/app'] }), 400, 'repositories.0');
    expectApiError(
      await team.owner.post(robots(), { name: 'ci', actions: ['pull'], repositories: [`${team.namespace}/ok`, `${team.namespace}*`] }),
      400,
      'repositories.1',
    );
    expectApiError(await team.owner.post(robots(), { name: 'ci', actions: ['pull'], repositories: [`${team.namespace}/Bad`] }), 400, 'repositories.0');
    expectApiError(await team.owner.post(robots(), { name: 'ci', actions: ['pull'], repositories: [] }), 400, 'repositories');
    const name = uniqueName('dup');
    expectStatus(await team.owner.post(robots(), { name, actions: ['pull'] }), 201);
    expectApiError(await team.owner.post(robots(), { name, actions: ['push'] }), 409);
  });

  it('accepts an expiry in the future and reports expired robots', async () => {
    const soon = new Date(Date.now() + 1500);
    const name = uniqueName('tmp');
    const created = expectStatus(await team.owner.post(robots(), { name, actions: ['pull'], expiresAt: soon.toISOString() }), 201);
    expect(new Date(created.robot.expiresAt).getTime()).toBe(soon.getTime());
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect(expectStatus(await team.owner.get(`${robots()}/${name}`), 200).status).toBe('expired');
  });

  it('rotating issues a new secret and invalidates the old one', async () => {
    const name = uniqueName('rot');
    const created = expectStatus(await team.owner.post(robots(), { name, actions: ['pull'] }), 201);
    const rotated = expectStatus(await team.owner.post(`${robots()}/${name}/rotate`), 200);
    expect(rotated.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(rotated.secret).not.toBe(created.secret);
    expect(rotated.robot).toMatchObject({ name, status: 'active' });
    const [stored] = await registry.sql(`SELECT secret_hash FROM robots WHERE name = $1`, [name]);
    expect(stored.secret_hash).toBe(sha256(rotated.secret));
    expect(stored.secret_hash).not.toBe(sha256(created.secret));
    expect(await registryAccepts(created.robot.username, created.secret)).toBe(false);
    expect(await registryAccepts(created.robot.username, rotated.secret)).toBe(true);
    expect(expectStatus(await team.owner.get(`${robots()}/${name}`), 200)).not.toHaveProperty('secret');
    const audit = expectStatus(await admin.get(`/audit?action=robot.rotate`), 200);
    expect(audit.items[0]).toMatchObject({ actor: team.names.owner, target: `robot:${team.namespace}+${name}` });
    expect(JSON.stringify(audit.items)).not.toContain(rotated.secret);
  });

  it('revoked robots stay listed as revoked and stop working; DELETE removes them', async () => {
    const name = uniqueName('rev');
    const created = expectStatus(await team.owner.post(robots(), { name, actions: ['pull', 'delete'] }), 201);
    const revoked = expectStatus(await team.owner.post(`${robots()}/${name}/revoke`), 200);
    expect(revoked).toMatchObject({ name, status: 'revoked', revokedAt: expect.any(String) });
    expect(revoked).not.toHaveProperty('secret');
    expect(await registryAccepts(created.robot.username, created.secret)).toBe(false);
    const listed = expectStatus(await team.owner.get(robots()), 200).items.find((r: { name: string }) => r.name === name);
    expect(listed).toMatchObject({ status: 'revoked' });
    // Revoking again changes nothing; a revoked robot cannot be given a new secret.
    expect(expectStatus(await team.owner.post(`${robots()}/${name}/revoke`), 200).revokedAt).toBe(revoked.revokedAt);
    expectApiError(await team.owner.post(`${robots()}/${name}/rotate`), 409);
    expectStatus(await team.owner.delete(`${robots()}/${name}`), 204);
    expectApiError(await team.owner.get(`${robots()}/${name}`), 404);
    expectApiError(await team.owner.delete(`${robots()}/${name}`), 404);
    const audit = expectStatus(await admin.get(`/audit?action=robot&actor=${team.names.owner}&perPage=100`), 200);
    const mine = audit.items.filter((e: { target: string }) => e.target === `robot:${team.namespace}+${name}`);
    expect(mine.map((e: { action: string }) => e.action)).toEqual(['robot.delete', 'robot.revoke', 'robot.create']);
  });

  it('a robot works within its grant only', async () => {
    const name = uniqueName('bot');
    await pushImage(registry, `${team.namespace}/app-web`, 'v1');
    const created = expectStatus(await team.owner.post(robots(), { name, actions: ['pull'], repositories: [`${team.namespace}/app-*`] }), 201);
    const client = new RegistryClient(registry.url, { username: created.robot.username, password: created.secret });
    expect((await client.get(`/v2/${team.namespace}/app-web/tags/list`)).status).toBe(200);
    expect((await client.get(`/v2/${team.namespace}/other/tags/list`)).status).toBe(403);
    // Robots have no business in the admin API.
    expectApiError(await Api.basic(registry.url, { username: created.robot.username, password: created.secret }).get('/namespaces'), 403);
  });

  it('only owners manage robots: 403 for other members, 404 for outsiders of a private namespace', async () => {
    const name = uniqueName('own');
    expectStatus(await team.owner.post(robots(), { name, actions: ['pull'] }), 201);
    for (const role of ['reader', 'developer', 'maintainer'] as const) {
      const api = team[role];
      expectApiError(await api.post(robots(), { name: uniqueName('x'), actions: ['pull'] }), 403);
      expectApiError(await api.get(robots()), 403);
      expectApiError(await api.get(`${robots()}/${name}`), 403);
      expectApiError(await api.post(`${robots()}/${name}/rotate`), 403);
      expectApiError(await api.post(`${robots()}/${name}/revoke`), 403);
      expectApiError(await api.delete(`${robots()}/${name}`), 403);
    }
    expectApiError(await team.outsider.get(robots()), 404);
    expectApiError(await team.outsider.post(`${robots()}/${name}/rotate`), 404);
    expectApiError(await admin.get(robots(uniqueName('none'))), 404);
    expectStatus(await admin.get(`${robots()}/${name}`), 200);
    expectApiError(await team.owner.get(`${robots()}/${uniqueName('ghost')}`), 404);
  });
});

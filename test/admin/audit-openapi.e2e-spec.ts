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

const available = await adminSuiteAvailable('admin/audit-openapi');

describe.skipIf(!available)('admin API: audit log and OpenAPI document', () => {
  let registry: AdminRegistry;
  let admin: Api;

  beforeAll(async () => {
    registry = await startAdminRegistry();
    admin = await Api.login(registry.url, registry.admin);
  });
  afterAll(async () => {
    await registry?.close();
  });

  it('records every change with actor, target and client address, newest first, without secrets', async () => {
    const owner = await createUser(admin, 'olga');
    const helper = await createUser(admin, 'hal');
    const org = uniqueName('org');
    await owner.api.put('/users/me/password', { currentPassword: owner.password, newPassword: newPassword() });
    expectStatus(await admin.post('/namespaces', { name: org }), 201);
    expectStatus(await admin.put(`/namespaces/${org}/members/${owner.username}`, { role: 'owner' }), 201);
    const api = await Api.login(registry.url, { username: registry.admin.username, password: registry.admin.password });
    expectStatus(await api.put(`/namespaces/${org}/members/${helper.username}`, { role: 'reader' }), 201);
    expectStatus(await api.delete(`/namespaces/${org}/members/${helper.username}`), 204);
    expectStatus(await api.patch(`/namespaces/${org}`, { visibility: 'public' }), 200);
    const robot = expectStatus(await api.post(`/namespaces/${org}/robots`, { name: 'ci', actions: ['push'] }), 201);
    const rotated = expectStatus(await api.post(`/namespaces/${org}/robots/ci/rotate`), 200);
    expectStatus(await api.post(`/namespaces/${org}/robots/ci/revoke`), 200);
    expectStatus(await api.delete(`/namespaces/${org}/robots/ci`), 204);
    await pushImage(registry, `${org}/app`, 'v1');
    expectStatus(await api.delete(`/repositories/${org}/app/tags/v1`), 204);
    expectStatus(await api.delete(`/repositories/${org}/app`), 204);
    expectStatus(await api.patch(`/users/${helper.username}`, { disabled: true }), 200);
    expectStatus(await api.delete(`/users/${helper.username}`), 204);
    expectStatus(await api.delete(`/namespaces/${org}`), 204);

    const log = expectStatus(await admin.get(`/audit?actor=${registry.admin.username}&perPage=14`), 200);
    expect(log.items.map((e: { action: string; target: string }) => `${e.action} ${e.target}`)).toEqual([
      `namespace.delete namespace:${org}`,
      `user.delete user:${helper.username}`,
      `user.update user:${helper.username}`,
      `repository.delete repository:${org}/app`,
      `tag.delete repository:${org}/app`,
      `robot.delete robot:${org}+ci`,
      `robot.revoke robot:${org}+ci`,
      `robot.rotate robot:${org}+ci`,
      `robot.create robot:${org}+ci`,
      `namespace.update namespace:${org}`,
      `namespace.member.remove namespace:${org}`,
      `namespace.member.set namespace:${org}`,
      `namespace.member.set namespace:${org}`,
      `namespace.create namespace:${org}`,
    ]);
    for (const entry of log.items) {
      expect(entry).toMatchObject({ id: expect.any(String), at: expect.any(String), actor: registry.admin.username });
      expect(entry.clientAddr).toMatch(/127\.0\.0\.1$/);
    }
    const times = log.items.map((e: { at: string }) => Date.parse(e.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const everything = expectStatus(await admin.get('/audit?perPage=100'), 200);
    expect(JSON.stringify(everything)).not.toContain(robot.secret);
    expect(JSON.stringify(everything)).not.toContain(rotated.secret);
    expect(JSON.stringify(everything)).not.toContain(owner.password);
    expect(JSON.stringify(everything)).not.toMatch(/argon2/);
  });

  it('filters by actor and action (exact or family) and pages', async () => {
    const family = expectStatus(await admin.get('/audit?action=robot&perPage=100'), 200);
    expect(family.items.length).toBeGreaterThanOrEqual(4);
    expect(family.items.every((e: { action: string }) => e.action.startsWith('robot.'))).toBe(true);
    const exact = expectStatus(await admin.get('/audit?action=robot.rotate'), 200);
    expect(exact.items.every((e: { action: string }) => e.action === 'robot.rotate')).toBe(true);
    const paged = expectStatus(await admin.get('/audit?perPage=3&page=2'), 200);
    expect(paged).toMatchObject({ page: 2, perPage: 3, items: expect.any(Array) });
    expect(paged.items).toHaveLength(3);
    expect(paged.total).toBeGreaterThan(6);
    expect(expectStatus(await admin.get(`/audit?actor=${uniqueName('nobody')}`), 200)).toMatchObject({ items: [], total: 0 });
    expectApiError(await admin.get('/audit?page=-1'), 400, 'page');
  });

  it('is for administrators only', async () => {
    const user = await createUser(admin, 'peek');
    expectApiError(await user.api.get('/audit'), 403);
    expectApiError(await new Api(registry.url).get('/audit'), 401);
  });

  it('serves the OpenAPI document and UI at /api/docs without credentials', async () => {
    const ui = await new Api(registry.url).request('GET', '/api/docs');
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toContain('text/html');
    const doc = expectStatus(await new Api(registry.url).request('GET', '/api/docs-json'), 200);
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.components.securitySchemes).toMatchObject({
      bearer: { type: 'http', scheme: 'bearer' },
      basic: { type: 'http', scheme: 'basic' },
    });
    expect(doc.security).toEqual([{ bearer: [] }, { basic: [] }]);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/users',
        '/api/v1/users/me/password',
        '/api/v1/users/{username}',
        '/api/v1/namespaces',
        '/api/v1/namespaces/{ns}',
        '/api/v1/namespaces/{ns}/members',
        '/api/v1/namespaces/{ns}/members/{username}',
        '/api/v1/namespaces/{ns}/robots',
        '/api/v1/namespaces/{ns}/robots/{name}',
        '/api/v1/namespaces/{ns}/robots/{name}/rotate',
        '/api/v1/namespaces/{ns}/robots/{name}/revoke',
        '/api/v1/repositories',
        '/api/v1/repositories/{name}',
        '/api/v1/repositories/{name}/tags',
        '/api/v1/repositories/{name}/tags/{tag}',
        '/api/v1/audit',
      ]),
    );
    expect(Object.keys(doc.paths).every((path) => path.startsWith('/api/'))).toBe(true);
    const createUserOp = doc.paths['/api/v1/users'].post;
    expect(createUserOp.summary).toEqual(expect.any(String));
    const component = (schema: { $ref: string }) => doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')];
    expect(component(createUserOp.requestBody.content['application/json'].schema)).toMatchObject({
      type: 'object',
      required: ['username', 'password'],
      properties: { username: { type: 'string', pattern: expect.any(String) }, password: { minLength: 8, maxLength: 256 } },
    });
    const robotSchema = component(doc.paths['/api/v1/namespaces/{ns}/robots'].post.requestBody.content['application/json'].schema);
    expect(robotSchema.properties.actions).toMatchObject({ type: 'array' });
    expect(component(robotSchema.properties.actions.items)).toMatchObject({ enum: ['pull', 'push', 'delete'] });
    for (const [path, operations] of Object.entries<Record<string, { summary?: string }>>(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) expect(operation.summary, `${method} ${path}`).toEqual(expect.any(String));
    }
  });
});

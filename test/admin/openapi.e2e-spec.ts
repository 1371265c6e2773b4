import SwaggerParser from '@apidevtools/swagger-parser';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum.js';
import { MetadataScanner, ModulesContainer } from '@nestjs/core';
import { Ajv, type ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_ROUTE } from '@berth/auth';
import { type AdminRegistry, Api, type Answer, adminSuiteAvailable, createUser, expectStatus, pushImage, startAdminRegistry, uniqueName } from './support.js';

const available = await adminSuiteAvailable('admin/openapi');

interface MappedRoute {
  method: string;
  /** As OpenAPI writes it: `/api/v1/repositories/{name}/tags`. */
  path: string;
  params: string[];
  takesBody: boolean;
  isPublic: boolean;
}

type Operation = {
  operationId?: string;
  security?: unknown[];
  parameters?: { name: string; in: string; schema?: { type?: string } }[];
  requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
  responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>;
};

/** Express writes `:ns` and `*name`; OpenAPI `{ns}` and `{name}`. */
function template(path: string): string {
  return path.replace(/[:*]([A-Za-z0-9_]+)/g, '{$1}');
}

/** The key prefix of a @Body() argument in the route metadata. */
const BODY_ARGUMENT = RouteParamtypes.BODY;

/** The /api/v1 routes Nest mapped, from the controllers' metadata: what a handler reads, whether the global guard lets it through. */
function nestRoutes(registry: AdminRegistry): MappedRoute[] {
  const routes: MappedRoute[] = [];
  const scanner = new MetadataScanner();
  for (const module of registry.app.get(ModulesContainer).values()) {
    for (const { metatype, instance } of module.controllers.values()) {
      if (!metatype || !instance) continue;
      const prototype = Object.getPrototypeOf(instance);
      const prefix = String(Reflect.getMetadata(PATH_METADATA, metatype) ?? '');
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        const methodPath = Reflect.getMetadata(PATH_METADATA, handler);
        if (methodPath === undefined) continue;
        const path = template(`/${prefix}/${methodPath}`.replace(/\/+/g, '/').replace(/(.)\/$/, '$1'));
        if (!path.startsWith('/api/v1/')) continue;
        const args: Record<string, unknown> = Reflect.getMetadata(ROUTE_ARGS_METADATA, metatype, name) ?? {};
        routes.push({
          method: RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler)].toLowerCase(),
          path,
          params: [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]),
          takesBody: Object.keys(args).some((key) => key.startsWith(`${BODY_ARGUMENT}:`)),
          isPublic: Boolean(Reflect.getMetadata(PUBLIC_ROUTE, handler) || Reflect.getMetadata(PUBLIC_ROUTE, metatype)),
        });
      }
    }
  }
  return routes;
}

/** The /api/v1 routes the HTTP server answers, from Express's router. */
function expressRoutes(registry: AdminRegistry): string[] {
  const router = registry.app.getHttpAdapter().getInstance().router as { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
  return router.stack
    .filter((layer) => layer.route?.path.startsWith('/api/v1/'))
    .flatMap((layer) => Object.keys(layer.route!.methods).map((method) => `${method} ${template(layer.route!.path)}`));
}

const componentName = (ref: string | undefined) => ref?.match(/^#\/components\/schemas\/([A-Za-z]+)$/)?.[1];

describe.skipIf(!available)('admin API: the OpenAPI document', () => {
  let registry: AdminRegistry;
  let admin: Api;
  let doc: any;

  beforeAll(async () => {
    registry = await startAdminRegistry();
    admin = await Api.login(registry.url, registry.admin);
    doc = expectStatus(await new Api(registry.url).request('GET', '/api/docs-json'), 200);
  });
  afterAll(async () => {
    await registry?.close();
  });

  it('is a valid OpenAPI 3 document (swagger-parser)', async () => {
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeDefined();
  });

  it('has every mapped /api/v1 route, with its parameters, body, answers and errors as named components', () => {
    const routes = nestRoutes(registry);
    expect(routes.length).toBeGreaterThan(40);
    expect(routes.map((r) => `${r.method} ${r.path}`).sort()).toEqual(expressRoutes(registry).sort());
    const documented = Object.entries<Record<string, Operation>>(doc.paths).flatMap(([path, item]) =>
      path.startsWith('/api/v1/') ? Object.keys(item).map((method) => `${method} ${path}`) : [],
    );
    expect(documented.sort()).toEqual(routes.map((r) => `${r.method} ${r.path}`).sort());

    const schemas = doc.components.schemas;
    const operationIds = new Set<string>();
    for (const route of routes) {
      const where = `${route.method} ${route.path}`;
      const operation: Operation = doc.paths[route.path][route.method];
      expect(operation.operationId, where).toMatch(/^[a-z][A-Za-z]+$/);
      expect(operationIds.has(operation.operationId!), `${where}: operationId ${operation.operationId} is taken`).toBe(false);
      operationIds.add(operation.operationId!);

      const pathParams = (operation.parameters ?? []).filter((p) => p.in === 'path');
      expect(pathParams.map((p) => p.name).sort(), where).toEqual([...route.params].sort());
      for (const param of pathParams) expect(param.schema?.type, `${where}: {${param.name}}`).toBe('string');

      if (route.takesBody) {
        const ref = operation.requestBody?.content['application/json']?.schema.$ref;
        expect(schemas[componentName(ref) ?? ''], `${where}: request body ${ref}`).toBeDefined();
      } else {
        expect(operation.requestBody, where).toBeUndefined();
      }

      const statuses = Object.keys(operation.responses);
      const successes = statuses.filter((s) => s.startsWith('2'));
      expect(successes.length, `${where}: a success`).toBeGreaterThan(0);
      for (const status of statuses) {
        const ref = operation.responses[status].content?.['application/json']?.schema.$ref;
        if (status === '204') expect(operation.responses[status].content, where).toBeUndefined();
        else if (status.startsWith('2')) expect(schemas[componentName(ref) ?? ''], `${where} ${status}: ${ref}`).toBeDefined();
        else expect(ref, `${where} ${status}`).toBe('#/components/schemas/ApiError');
      }
      expect(statuses, where).toContain('500');
      if (route.params.length) expect(statuses, where).toEqual(expect.arrayContaining(['400', '404']));
      if (route.takesBody) expect(statuses, where).toEqual(expect.arrayContaining(['400', '413']));

      // Public: no security requirement; the rest inherit the document's bearer or basic.
      if (route.isPublic) expect(operation.security, where).toEqual([]);
      else {
        expect(operation.security, where).toBeUndefined();
        expect(statuses, where).toEqual(expect.arrayContaining(['401', '403']));
      }
    }
    expect(doc.security).toEqual([{ bearer: [] }, { basic: [] }]);
    // OpenAPI 3.0 ignores `nullable` without a `type` (beside a $ref, say), and an enum must list null: a generator would drop the null.
    expect(uselessNullables(doc)).toEqual([]);
  });

  it('keeps its operationIds and schema names: the console generates its client from them', () => {
    const ids = Object.fromEntries(
      Object.entries<Record<string, Operation>>(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => [`${method} ${path}`, op.operationId])),
    );
    expect(ids).toEqual({
      'post /api/v1/auth/login': 'login',
      'post /api/v1/users': 'createUser',
      'get /api/v1/users': 'listUsers',
      'put /api/v1/users/me/password': 'changeOwnPassword',
      'get /api/v1/users/{username}': 'getUser',
      'patch /api/v1/users/{username}': 'updateUser',
      'delete /api/v1/users/{username}': 'deleteUser',
      'post /api/v1/namespaces': 'createNamespace',
      'get /api/v1/namespaces': 'listNamespaces',
      'get /api/v1/namespaces/{ns}': 'getNamespace',
      'patch /api/v1/namespaces/{ns}': 'updateNamespace',
      'delete /api/v1/namespaces/{ns}': 'deleteNamespace',
      'get /api/v1/namespaces/{ns}/usage': 'getNamespaceUsage',
      'put /api/v1/namespaces/{ns}/quota': 'setNamespaceQuota',
      'get /api/v1/namespaces/{ns}/members': 'listMembers',
      'put /api/v1/namespaces/{ns}/members/{username}': 'setMember',
      'delete /api/v1/namespaces/{ns}/members/{username}': 'removeMember',
      'post /api/v1/namespaces/{ns}/robots': 'createRobot',
      'get /api/v1/namespaces/{ns}/robots': 'listRobots',
      'get /api/v1/namespaces/{ns}/robots/{name}': 'getRobot',
      'delete /api/v1/namespaces/{ns}/robots/{name}': 'deleteRobot',
      'post /api/v1/namespaces/{ns}/robots/{name}/rotate': 'rotateRobotSecret',
      'post /api/v1/namespaces/{ns}/robots/{name}/revoke': 'revokeRobot',
      'get /api/v1/repositories': 'listRepositories',
      'get /api/v1/repositories/{name}/tags': 'listTags',
      'delete /api/v1/repositories/{name}/tags/{tag}': 'deleteTag',
      'get /api/v1/repositories/{name}': 'getRepository',
      'delete /api/v1/repositories/{name}': 'deleteRepository',
      'get /api/v1/audit': 'listAuditEntries',
      'post /api/v1/system/gc': 'startGc',
      'get /api/v1/system/gc': 'listGcRuns',
      'get /api/v1/system/gc/{id}': 'getGcRun',
      'post /api/v1/webhooks': 'createWebhook',
      'get /api/v1/webhooks': 'listWebhooks',
      'get /api/v1/webhooks/{id}': 'getWebhook',
      'patch /api/v1/webhooks/{id}': 'updateWebhook',
      'delete /api/v1/webhooks/{id}': 'deleteWebhook',
      'post /api/v1/webhooks/{id}/rotate-secret': 'rotateWebhookSecret',
      'post /api/v1/webhooks/{id}/ping': 'pingWebhook',
      'get /api/v1/webhooks/{id}/deliveries': 'listWebhookDeliveries',
      'get /api/v1/webhooks/{id}/deliveries/{deliveryId}': 'getWebhookDelivery',
      'post /api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver': 'redeliverWebhookDelivery',
      'post /api/v1/namespaces/{ns}/webhooks': 'createNamespaceWebhook',
      'get /api/v1/namespaces/{ns}/webhooks': 'listNamespaceWebhooks',
      'get /api/v1/namespaces/{ns}/webhooks/{id}': 'getNamespaceWebhook',
      'patch /api/v1/namespaces/{ns}/webhooks/{id}': 'updateNamespaceWebhook',
      'delete /api/v1/namespaces/{ns}/webhooks/{id}': 'deleteNamespaceWebhook',
      'post /api/v1/namespaces/{ns}/webhooks/{id}/rotate-secret': 'rotateNamespaceWebhookSecret',
      'post /api/v1/namespaces/{ns}/webhooks/{id}/ping': 'pingNamespaceWebhook',
      'get /api/v1/namespaces/{ns}/webhooks/{id}/deliveries': 'listNamespaceWebhookDeliveries',
      'get /api/v1/namespaces/{ns}/webhooks/{id}/deliveries/{deliveryId}': 'getNamespaceWebhookDelivery',
      'post /api/v1/namespaces/{ns}/webhooks/{id}/deliveries/{deliveryId}/redeliver': 'redeliverNamespaceWebhookDelivery',
      'get /api/v1/system/notifications': 'getNotificationsStatus',
    });
    expect(Object.keys(doc.components.schemas).sort()).toEqual([
      'ApiError', 'AuditEntry', 'AuditPage', 'ChangePasswordRequest', 'CreateNamespaceRequest', 'CreateRobotRequest', 'CreateUserRequest',
      'CreateWebhookRequest', 'Delivery', 'DeliveryAttempt', 'DeliveryDetail', 'DeliveryPage', 'GcRun', 'GcRunPage', 'LoginRequest', 'LoginToken',
      'Member', 'MemberList', 'Namespace', 'NamespacePage', 'NamespaceUsage', 'NotificationsStatus', 'RegistryAction', 'Repository', 'RepositoryPage',
      'RepositorySummary', 'Robot', 'RobotList', 'RobotWithSecret', 'Role', 'SetMemberRequest', 'SetQuotaRequest', 'StartGcRequest', 'StorageUsage',
      'Tag', 'TagPage', 'UpdateNamespaceRequest', 'UpdateUserRequest', 'UpdateWebhookRequest', 'Upstream', 'UpstreamRequest', 'UpstreamUpdate', 'User', 'UserPage', 'Visibility', 'Webhook',
      'WebhookAction', 'WebhookPage', 'WebhookWithSecret',
    ]);
  });

  it('describes the login: its body, its token, no credentials needed', () => {
    const login: Operation = doc.paths['/api/v1/auth/login'].post;
    expect(login).toMatchObject({ operationId: 'login', security: [] });
    expect(login.requestBody!.content['application/json'].schema.$ref).toBe('#/components/schemas/LoginRequest');
    expect(doc.components.schemas.LoginRequest).toMatchObject({ type: 'object', required: ['username', 'password'] });
    expect(login.responses['200'].content!['application/json'].schema.$ref).toBe('#/components/schemas/LoginToken');
    expect(doc.components.schemas.LoginToken.required).toEqual(['token', 'expiresIn', 'issuedAt']);
  });

  it("documents the repository name as one string, slashes and all", () => {
    for (const path of ['/api/v1/repositories/{name}', '/api/v1/repositories/{name}/tags', '/api/v1/repositories/{name}/tags/{tag}']) {
      for (const operation of Object.values<Operation>(doc.paths[path])) {
        expect(operation.parameters!.find((p) => p.name === 'name')).toMatchObject({ in: 'path', required: true, schema: { type: 'string' } });
      }
    }
  });

  it('answers as it documents: each status is listed for its operation, each body matches its schema', async () => {
    const check = answersChecker(doc);
    const api = (caller: Api) => ({
      get: async (path: string, status = 200) => check('get', path, await caller.get(path), status),
      post: async (path: string, json: unknown, status: number) => check('post', path, await caller.post(path, json), status),
      put: async (path: string, json: unknown, status = 200) => check('put', path, await caller.put(path, json), status),
      patch: async (path: string, json: unknown, status = 200) => check('patch', path, await caller.patch(path, json), status),
      delete: async (path: string, status = 204) => check('delete', path, await caller.delete(path), status),
    });
    const as = api(admin);
    const org = uniqueName('doc');
    const user = await createUser(admin, 'doc');

    check('post', '/auth/login', await new Api(registry.url).request('POST', '/api/v1/auth/login', registry.admin), 200);
    check('post', '/auth/login', await new Api(registry.url).request('POST', '/api/v1/auth/login', { username: 'nobody', password: 'wrong' }), 401);
    await as.post('/users', { username: uniqueName('doc'), password: 'long-enough-pw' }, 201);
    await as.post('/users', { username: user.username, password: 'long-enough-pw' }, 409);
    await as.post('/users', { username: 'X' }, 400);
    await as.get('/users?perPage=2');
    await as.get(`/users/${user.username}`);
    await as.get(`/users/${uniqueName('none')}`, 404);
    await as.patch(`/users/${user.username}`, { disabled: false });
    await api(user.api).get('/users', 403);
    await api(new Api(registry.url)).get('/namespaces', 401);

    await as.post('/namespaces', { name: org }, 201);
    await as.get('/namespaces');
    await as.get(`/namespaces/${org}`);
    await as.patch(`/namespaces/${org}`, { visibility: 'public' });
    await as.put(`/namespaces/${org}/quota`, { quotaBytes: 1 << 30 });
    await as.get(`/namespaces/${org}/usage`);
    await as.put(`/namespaces/${org}/members/${user.username}`, { role: 'reader' }, 201);
    await as.put(`/namespaces/${org}/members/${user.username}`, { role: 'developer' });
    await as.get(`/namespaces/${org}/members`);
    await as.delete(`/namespaces/${org}/members/${user.username}`);
    await as.post(`/namespaces/${org}/robots`, { name: 'ci', actions: ['push'], expiresAt: '2030-01-01T00:00:00+01:00' }, 201);
    await as.get(`/namespaces/${org}/robots`);
    await as.get(`/namespaces/${org}/robots/ci`);
    await as.post(`/namespaces/${org}/robots/ci/rotate`, undefined, 200);
    await as.post(`/namespaces/${org}/robots/ci/revoke`, undefined, 200);
    await as.delete(`/namespaces/${org}/robots/ci`);

    await pushImage(registry, `${org}/team/app`, 'v1');
    await as.get(`/repositories?namespace=${org}`);
    await as.get(`/repositories/${org}/team/app`);
    await as.get(`/repositories/${org}/team/app/tags`);
    await as.get(`/repositories/${org}/team/none`, 404);
    // As a generated client sends it.
    await as.get(`/repositories/${encodeURIComponent(`${org}/team/app`)}/tags`);
    await as.delete(`/repositories/${org}/team/app/tags/v1`);
    await as.delete(`/repositories/${org}/team/app`);
    await as.delete(`/namespaces/${org}`);

    const hook = await as.post('/webhooks', { name: 'doc', url: 'https://hooks.example.com/berth', headers: { 'X-Token': 'sekrit' } }, 201);
    await as.get('/webhooks');
    await as.get(`/webhooks/${hook.webhook.id}`);
    await as.patch(`/webhooks/${hook.webhook.id}`, { enabled: false });
    await as.post(`/webhooks/${hook.webhook.id}/rotate-secret`, undefined, 200);
    await as.get(`/webhooks/${hook.webhook.id}/deliveries`);
    // Without REDIS_URL notifications are off: a ping is refused.
    await as.post(`/webhooks/${hook.webhook.id}/ping`, undefined, 409);
    await as.delete(`/webhooks/${hook.webhook.id}`);
    await as.get('/system/notifications');

    const run = await as.post('/system/gc', { dryRun: true }, 202);
    await as.get('/system/gc');
    await as.get(`/system/gc/${run.id}`);
    await as.get('/audit?perPage=5');
    await as.get('/audit?page=0', 400);
    await as.put('/users/me/password', '{"currentPassword": ', 400);
  });
});

/** JSON pointers of the schemas that say `nullable` but give no `type`, or an enum without null. */
function uselessNullables(value: unknown, pointer = ''): string[] {
  if (!value || typeof value !== 'object') return [];
  const schema = value as { nullable?: unknown; type?: unknown; enum?: unknown[] };
  const useless = !Array.isArray(value) && schema.nullable === true && (!schema.type || (schema.enum && !schema.enum.includes(null)));
  return [...(useless ? [pointer] : []), ...Object.entries(value).flatMap(([key, child]) => uselessNullables(child, `${pointer}/${key}`))];
}

/**
 * Checks an answer against the document: its status must be one the operation lists,
 * its body must match that status's schema. Returns the body.
 */
function answersChecker(doc: any) {
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema(doc, 'openapi');
  const validators = new Map<string, ValidateFunction>();
  const templates = Object.keys(doc.paths).map((path) => ({
    path,
    pattern: new RegExp(`^${path.replace(/\{name\}/g, '.+?').replace(/\{[^}]+\}/g, '[^/]+')}$`),
    literal: path.replace(/\{[^}]+\}/g, '').length,
  }));
  return (method: string, path: string, answer: Answer, status?: number): any => {
    if (status !== undefined) expectStatus(answer, status);
    const url = `/api/v1${path.split('?')[0]}`;
    const matches = templates.filter((t) => t.pattern.test(url) && doc.paths[t.path][method]).sort((a, b) => b.literal - a.literal);
    expect(matches.length, `${method} ${url}: no operation`).toBeGreaterThan(0);
    const operation: Operation = doc.paths[matches[0].path][method];
    const where = `${operation.operationId} answered ${answer.status} ${answer.text.slice(0, 300)}`;
    const response = operation.responses[String(answer.status)];
    expect(response, `${where}: status not documented`).toBeDefined();
    const ref = response.content?.['application/json']?.schema.$ref;
    if (!ref) {
      expect(answer.text, where).toBe('');
      return answer.body;
    }
    const key = `openapi${ref}`;
    if (!validators.has(key)) validators.set(key, ajv.compile({ $ref: key }));
    const validate = validators.get(key)!;
    expect(validate(answer.body) ? [] : validate.errors, where).toEqual([]);
    return answer.body;
  };
}

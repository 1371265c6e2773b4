/**
 * Helpers for the admin API suites (test/admin): a registry with the admin API, and a
 * small JSON client that logs in through POST /api/v1/auth/login.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { expect } from 'vitest';
import { RegistryClient } from '../support/http.js';
import { TestDatabase, postgresAvailable } from '../support/database.js';
import type { Credentials } from '../support/registry.js';

export interface AdminRegistry {
  url: string;
  /** The running application, for checks against its routes. */
  app: INestApplication;
  admin: Credentials;
  /** Runs SQL on the registry's database (for checks the API does not expose, such as stored hashes). */
  sql<T = any>(query: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export const ADMIN: Credentials = { username: 'admin', password: `admin-${randomBytes(6).toString('hex')}` };

/** Whether the suite can run; with CI=true a missing Postgres throws instead. */
export async function adminSuiteAvailable(suite: string): Promise<boolean> {
  const ok = await postgresAvailable();
  if (!ok) console.warn(`[${suite}] SKIPPED: Postgres is not reachable at TEST_DATABASE_URL; start Postgres to run the admin API suite.`);
  return ok;
}

/**
 * The registry as apps/registry/src/bootstrap.ts builds it, on a fresh Postgres database
 * this suite can also query. Until the app module imports the AdminModule, the suite
 * composes the same application around it (AppModule + AdminModule, same middleware).
 * `env` adds settings (e.g. lower limits).
 */
export async function startAdminRegistry(env: Record<string, string> = {}): Promise<AdminRegistry> {
  const [admin, { AppModule }, { BerthConfig }] = await Promise.all([
    import('@berth/admin'),
    import('../../apps/registry/src/app.module.js'),
    import('@berth/config'),
  ]);
  const database = await TestDatabase.create('berth_admin');
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-admin-'));
  const settings = {
    ...env,
    DATABASE_URL: database.url,
    DATA_DIR: dataDir,
    STORAGE_DRIVER: 'inmemory',
    LOG_LEVEL: 'warn',
    AUTO_CREATE_NAMESPACES: 'true',
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
  };
  const wired = AppModule.forRoot(new BerthConfig(settings)).imports?.includes(admin.AdminModule);
  const app = wired ? await (await import('../../apps/registry/src/bootstrap.js')).createRegistryApp(settings) : await composeApp(settings);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    admin: ADMIN,
    sql: (query, params) => database.query(query, params),
    close: async () => {
      await app.close();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** bootstrap.ts's application with the AdminModule added, for as long as the app module lacks it. */
async function composeApp(env: Record<string, string>): Promise<INestApplication> {
  const [{ NestFactory }, { default: express }, { BerthConfig }, { RegistryExceptionFilter, rewriteV2Path }, admin, accounts, { AppModule }] =
    await Promise.all([
      import('@nestjs/core'),
      import('express'),
      import('@berth/config'),
      import('@berth/distribution'),
      import('@berth/admin'),
      import('../../libs/auth/src/accounts/index.js'),
      import('../../apps/registry/src/app.module.js'),
    ]);
  const config = new BerthConfig(env);
  const app = await NestFactory.create(
    { module: class AdminTestModule {}, imports: [AppModule.forRoot(config), admin.AdminModule] },
    { bodyParser: false, logger: ['error', 'warn'] },
  );
  app.use((req: any, res: any, next: () => void) => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (req.url.startsWith('/v2/')) req.url = rewriteV2Path(req.url);
    next();
  });
  app.use('/auth/token', express.urlencoded({ extended: false, limit: '16kb' }));
  app.use('/api', express.json({ limit: '1mb' }), admin.apiBodyErrorHandler);
  app.useGlobalFilters(new RegistryExceptionFilter());
  admin.setupAdminOpenApi(app);
  await app.init();
  await app.get(accounts.UserService).ensureInitialAdmin(config.admin.username, config.admin.password, () => undefined);
  return app;
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

/** The admin API as one caller: a bearer token from the login endpoint, Basic credentials, or nobody. */
export class Api {
  constructor(
    readonly baseUrl: string,
    private readonly authorization?: string,
  ) {}

  static async login(baseUrl: string, credentials: Credentials): Promise<Api> {
    const answer = await new Api(baseUrl).request('POST', '/api/v1/auth/login', credentials);
    if (answer.status !== 200 || typeof answer.body?.token !== 'string') {
      throw new Error(`login as ${credentials.username}: ${answer.status} ${answer.text.slice(0, 300)}`);
    }
    return new Api(baseUrl, `Bearer ${answer.body.token}`);
  }

  static basic(baseUrl: string, credentials: Credentials): Api {
    return new Api(baseUrl, `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`);
  }

  async request(method: string, path: string, json?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        ...(this.authorization ? { authorization: this.authorization } : {}),
        ...(json !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: json === undefined ? undefined : typeof json === 'string' ? json : JSON.stringify(json),
    });
    const text = await res.text();
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, headers: res.headers, text, body };
  }

  get(path: string) {
    return this.request('GET', `/api/v1${path}`);
  }
  post(path: string, json?: unknown) {
    return this.request('POST', `/api/v1${path}`, json);
  }
  put(path: string, json?: unknown) {
    return this.request('PUT', `/api/v1${path}`, json);
  }
  patch(path: string, json?: unknown) {
    return this.request('PATCH', `/api/v1${path}`, json);
  }
  delete(path: string) {
    return this.request('DELETE', `/api/v1${path}`);
  }
}

/** Asserts the status, showing the body when it differs; returns the parsed body. */
export function expectStatus(answer: Answer, status: number): any {
  expect(answer.status, `${answer.status} ${answer.text.slice(0, 500)}`).toBe(status);
  return answer.body;
}

/** Asserts an API error: status, the common body shape, and (for 400) the offending fields. */
export function expectApiError(answer: Answer, status: number, ...fields: string[]): any {
  const body = expectStatus(answer, status);
  expect(body).toMatchObject({ statusCode: status, error: expect.any(String), message: expect.any(String) });
  if (fields.length) expect(body.errors.map((e: { field: string }) => e.field)).toEqual(expect.arrayContaining(fields));
  return body;
}

/** A unique account name. */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

export function newPassword(): string {
  return `pw-${randomBytes(9).toString('base64url')}`;
}

/** Creates a user through the API (as `admin`) and logs them in. */
export async function createUser(admin: Api, prefix = 'u', isAdmin = false): Promise<{ username: string; password: string; api: Api }> {
  const credentials = { username: uniqueName(prefix), password: newPassword() };
  expectStatus(await admin.post('/users', { ...credentials, ...(isAdmin ? { isAdmin } : {}) }), 201);
  return { ...credentials, api: await Api.login(admin.baseUrl, credentials) };
}

/** Pushes a small image over /v2 (HTTP Basic as the registry administrator). */
export async function pushImage(registry: AdminRegistry, repository: string, tag: string) {
  return new RegistryClient(registry.url, registry.admin).pushImage(repository, tag);
}

export interface RoleFixture {
  namespace: string;
  reader: Api;
  developer: Api;
  maintainer: Api;
  owner: Api;
  /** Signed in, but no member. */
  outsider: Api;
  names: Record<'reader' | 'developer' | 'maintainer' | 'owner' | 'outsider', string>;
}

/** A private organisation with one member of each role, and an outsider. */
export async function roleFixture(admin: Api, prefix = 'org'): Promise<RoleFixture> {
  const namespace = uniqueName(prefix);
  expectStatus(await admin.post('/namespaces', { name: namespace }), 201);
  const [reader, developer, maintainer, owner, outsider] = await Promise.all(
    ['reader', 'developer', 'maintainer', 'owner', 'outsider'].map((role) => createUser(admin, role.slice(0, 3))),
  );
  for (const [role, user] of Object.entries({ reader, developer, maintainer, owner })) {
    expectStatus(await admin.put(`/namespaces/${namespace}/members/${user.username}`, { role }), 201);
  }
  return {
    namespace,
    reader: reader.api,
    developer: developer.api,
    maintainer: maintainer.api,
    owner: owner.api,
    outsider: outsider.api,
    names: { reader: reader.username, developer: developer.username, maintainer: maintainer.username, owner: owner.username, outsider: outsider.username },
  };
}

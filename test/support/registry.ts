import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { TestDatabase } from './database.js';

// Also here for the suites that import them with the registry helpers.
export { TEST_DATABASE_URL, postgresAvailable } from './database.js';

/**
 * Starts the real registry in this process on a random port, with its own fresh
 * database (a new Postgres database, or the embedded one) and its own storage root.
 * With E2E_REGISTRY_URL set, tests run against that server instead (used to check
 * the suite itself against Distribution).
 */
export interface TestRegistry {
  url: string; // e.g. http://127.0.0.1:40123
  host: string; // e.g. 127.0.0.1:40123
  dataDir: string;
  /**
   * The system administrator Berth creates at start-up (ADMIN_USERNAME / ADMIN_PASSWORD).
   * Against E2E_REGISTRY_URL: E2E_REGISTRY_USER / E2E_REGISTRY_PASSWORD, undefined when
   * unset (Distribution runs without auth).
   */
  admin?: Credentials;
  close(): Promise<void>;
}

export interface Credentials {
  username: string;
  password: string;
}

/** The password of the first administrator of every registry startRegistry() starts. */
export const TEST_ADMIN_PASSWORD = 'berth-test-admin-Pa55word';

/** `Basic base64(username:password)`, the value of an Authorization header. */
export function basicAuth(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
}

/**
 * Administrator credentials of the registries started by this process, by origin, so
 * that a client created from a bare URL (new RegistryClient(url)) can authenticate.
 */
const knownCredentials = new Map<string, Credentials>();

export function rememberCredentials(url: string, credentials: Credentials | undefined): void {
  if (credentials) knownCredentials.set(new URL(url).origin, credentials);
}

export function credentialsFor(url: string): Credentials | undefined {
  return knownCredentials.get(new URL(url).origin);
}

/** The administrator an in-process Berth starts with, given the environment it is started with. */
export function adminEnv(env: Record<string, string> = {}): { env: Record<string, string>; admin: Credentials } {
  const admin = { username: env.ADMIN_USERNAME ?? 'admin', password: env.ADMIN_PASSWORD ?? TEST_ADMIN_PASSWORD };
  return { env: { ADMIN_USERNAME: admin.username, ADMIN_PASSWORD: admin.password }, admin };
}

/** E2E_REGISTRY_USER / E2E_REGISTRY_PASSWORD, for a registry given by E2E_REGISTRY_URL. */
export function externalCredentials(): Credentials | undefined {
  const username = process.env.E2E_REGISTRY_USER;
  const password = process.env.E2E_REGISTRY_PASSWORD;
  return username && password !== undefined ? { username, password } : undefined;
}

export interface StartOptions {
  embedded?: boolean; // no DATABASE_URL: the embedded PostgreSQL server under dataDir
  /**
   * Default: TEST_STORAGE_DRIVER, else filesystem. `s3` starts a private s3rver for the
   * registry, with redirects off (blob GETs answer with the bytes, as the API suite
   * expects; test/s3 covers redirects).
   */
  storageDriver?: 'filesystem' | 'inmemory' | 's3';
  env?: Record<string, string>;
}

export async function startRegistry(options: StartOptions = {}): Promise<TestRegistry> {
  const external = process.env.E2E_REGISTRY_URL;
  if (external) {
    const u = new URL(external);
    const url = external.replace(/\/$/, '');
    const admin = externalCredentials();
    rememberCredentials(url, admin);
    return { url, host: u.host, dataDir: '', admin, close: async () => undefined };
  }
  return startInProcessRegistry(options);
}

export interface InProcessOptions extends StartOptions {
  /** Where the registry writes its JSON log lines (default: stdout). */
  logDestination?: { write(line: string): void };
}

export interface InProcessRegistry extends TestRegistry {
  admin: Credentials;
  app: INestApplication;
  /** The registry's own database; absent when embedded. */
  database?: TestDatabase;
}

/** The real registry (createRegistryApp) in this process, whatever E2E_REGISTRY_URL says. */
export async function startInProcessRegistry(options: InProcessOptions = {}): Promise<InProcessRegistry> {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-test-'));
  const db = options.embedded ? undefined : await TestDatabase.create('berth_test');
  const storageDriver = options.storageDriver ?? (process.env.TEST_STORAGE_DRIVER as StartOptions['storageDriver']) ?? 'filesystem';
  const s3 = storageDriver === 's3' ? await (await import('../../libs/storage/src/s3/testing/s3-test-server.js')).S3TestServer.start() : undefined;
  const { createRegistryApp } = await import('../../apps/registry/src/bootstrap.js');
  const { env: adminVars, admin } = adminEnv(options.env);
  let app: Awaited<ReturnType<typeof createRegistryApp>>;
  try {
    app = await createRegistryApp(
      {
        PORT: '0',
        DATA_DIR: dataDir,
        STORAGE_DRIVER: storageDriver,
        ...(s3 ? { ...s3.env(), STORAGE_REDIRECT: 'false' } : {}),
        LOG_LEVEL: 'warn',
        // The suites push as the administrator into namespaces they never create; the
        // production default (refusal) has its own suite, test/admin/namespace-on-push.
        AUTO_CREATE_NAMESPACES: 'true',
        ...(db ? { DATABASE_URL: db.url } : {}),
        ...options.env,
        ...adminVars,
      },
      { logDestination: options.logDestination },
    );
    await app.listen(0, '127.0.0.1');
  } catch (err) {
    // A registry that fails to start must not leave its database, directory and store behind.
    await db?.drop().catch(() => undefined);
    await s3?.stop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const { port } = app.getHttpServer().address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  rememberCredentials(`http://${host}`, admin);
  return {
    url: `http://${host}`,
    host,
    dataDir,
    admin,
    app,
    database: db,
    close: async () => {
      await app.close();
      await db?.drop();
      await s3?.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

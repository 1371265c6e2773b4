/**
 * Helpers for the garbage collection suites (test/gc): the real registry on a fresh
 * Postgres database with filesystem storage, whose services, SQL and files the tests
 * can reach, and which runs no schedule of its own.
 */
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import pg from 'pg';
import { type GcOptions, type GcRun, GcRunService } from '@berth/gc';
import { type Credentials, TEST_DATABASE_URL, TEST_ADMIN_PASSWORD, postgresAvailable, rememberCredentials } from '../support/registry.js';

export interface GcRegistry {
  url: string;
  admin: Credentials;
  databaseUrl: string;
  dataDir: string;
  storageRoot: string;
  app: INestApplication;
  sql<T = any>(query: string, params?: unknown[]): Promise<T[]>;
  /** One collection through the same service as the API, waited for. */
  gc(options: Partial<GcOptions>): Promise<GcRun>;
  /** Whether storage holds the blob's file. */
  hasBlobFile(digest: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Whether the suite can run; with CI=true a missing Postgres throws instead. */
export async function gcSuiteAvailable(suite: string): Promise<boolean> {
  const ok = await postgresAvailable();
  if (!ok) console.warn(`[${suite}] SKIPPED: Postgres is not reachable at TEST_DATABASE_URL`);
  return ok;
}

export async function startGcRegistry(env: Record<string, string> = {}): Promise<GcRegistry> {
  const name = `berth_gc_${randomBytes(6).toString('hex')}`;
  const server = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await server.connect();
  await server.query(`CREATE DATABASE ${name}`);
  await server.end();
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-gc-'));
  const storageRoot = join(dataDir, 'storage');
  const admin = { username: 'admin', password: TEST_ADMIN_PASSWORD };
  const { createRegistryApp } = await import('../../apps/registry/src/bootstrap.js');
  const app = await createRegistryApp({
    PORT: '0',
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    STORAGE_DRIVER: 'filesystem',
    LOG_LEVEL: 'warn',
    ADMIN_USERNAME: admin.username,
    ADMIN_PASSWORD: admin.password,
    GC_SCHEDULE: 'off',
    UPLOAD_PURGE_SCHEDULE: 'off',
    ...env,
  });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  rememberCredentials(base, admin);
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  return {
    url: base,
    admin,
    databaseUrl,
    dataDir,
    storageRoot,
    app,
    sql: async (query, params) => (await db.query(query, params)).rows,
    gc: async (options) => (await app.get(GcRunService).start('api', { dryRun: false, deleteUntagged: false, ...options })).done,
    hasBlobFile: async (digest) => {
      const hex = digest.slice('sha256:'.length);
      return access(join(storageRoot, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data')).then(
        () => true,
        () => false,
      );
    },
    close: async () => {
      await db.end();
      await app.close();
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

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
  close(): Promise<void>;
}

export interface StartOptions {
  embedded?: boolean; // no DATABASE_URL: embedded PGlite under dataDir
  storageDriver?: 'filesystem' | 'inmemory';
  env?: Record<string, string>;
}

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** True when Postgres answers; under CI a missing Postgres is a failure, never a skip. */
export async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch (err) {
    if (process.env.CI === 'true') throw err;
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function createDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `berth_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function startRegistry(options: StartOptions = {}): Promise<TestRegistry> {
  const external = process.env.E2E_REGISTRY_URL;
  if (external) {
    const u = new URL(external);
    return { url: external.replace(/\/$/, ''), host: u.host, dataDir: '', close: async () => undefined };
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-test-'));
  const db = options.embedded ? undefined : await createDatabase();
  const { createRegistryApp } = await import('../../apps/registry/src/bootstrap.js');
  const app = await createRegistryApp({
    PORT: '0',
    DATA_DIR: dataDir,
    STORAGE_DRIVER: options.storageDriver ?? 'filesystem',
    LOG_LEVEL: 'warn',
    ...(db ? { DATABASE_URL: db.url } : {}),
    ...options.env,
  });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  return {
    url: `http://${host}`,
    host,
    dataDir,
    close: async () => {
      await app.close();
      await db?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Throw-away Postgres databases for tests: one per registry, suite or fixture, created
 * empty on the server at TEST_DATABASE_URL (the application migrates it) and dropped
 * WITH (FORCE) at the end.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

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

/** Runs one statement on the database of TEST_DATABASE_URL itself (CREATE / DROP DATABASE). */
async function serverQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** TEST_DATABASE_URL with another database name. */
function databaseUrl(name: string): string {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A fresh, empty Postgres database named `<prefix>_<random>`, with one connection for query(); drop() ends both. */
export class TestDatabase {
  private constructor(
    readonly name: string,
    readonly url: string,
    private readonly client: pg.Client,
  ) {}

  static async create(prefix = 'berth_test'): Promise<TestDatabase> {
    const name = `${prefix}_${randomBytes(6).toString('hex')}`;
    await serverQuery(`CREATE DATABASE ${name}`);
    const url = databaseUrl(name);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    return new TestDatabase(name, url, client);
  }

  async query<T = any>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.client.query(sql, params)).rows as T[];
  }

  /** Closes query()'s connection and drops the database, whoever else is still connected. */
  async drop(): Promise<void> {
    await this.client.end().catch(() => undefined);
    await serverQuery(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
  }
}

/**
 * Throw-away Postgres databases for tests: one per registry, suite or fixture, created
 * empty on the server at TEST_DATABASE_URL (the application migrates it) and dropped
 * WITH (FORCE) at the end. Each names its creator (PID and host) in its comment, so a
 * later run drops the ones an interrupted run left behind (dropAbandonedDatabases).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
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
    await serverQuery(`COMMENT ON DATABASE ${name} IS '${JSON.stringify(creator())}'`);
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

interface Creator {
  berthTest: true;
  pid: number;
  host: string;
}

function creator(): Creator {
  return { berthTest: true, pid: process.pid, host: hostname() };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Drops the test databases whose creating process is dead (an interrupted run's). Only
 * those this helper created on this host are considered: other test runs on the same
 * server, live or from another machine, and databases without that comment are left alone.
 */
export async function dropAbandonedDatabases(): Promise<string[]> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string; comment: string | null }>(
      "SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname LIKE 'berth\\_%'",
    );
    const dropped: string[] = [];
    for (const { datname, comment } of rows) {
      let owner: Partial<Creator>;
      try {
        owner = JSON.parse(comment ?? '');
      } catch {
        continue;
      }
      if (owner.berthTest !== true || owner.host !== hostname() || !Number.isInteger(owner.pid) || isAlive(owner.pid!)) continue;
      await client.query(`DROP DATABASE IF EXISTS "${datname.replaceAll('"', '""')}" WITH (FORCE)`);
      dropped.push(datname);
    }
    return dropped;
  } finally {
    await client.end();
  }
}

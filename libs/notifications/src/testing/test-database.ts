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

/** A fresh, empty Postgres database (the application migrates it), dropped at the end. */
export class TestDatabase {
  private constructor(
    readonly name: string,
    readonly url: string,
    private readonly client: pg.Client,
  ) {}

  static async create(): Promise<TestDatabase> {
    const name = `berth_notify_${randomBytes(6).toString('hex')}`;
    await TestDatabase.admin(`CREATE DATABASE ${name}`);
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/${name}`;
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    return new TestDatabase(name, url.toString(), client);
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.client.query(sql, params)).rows as T[];
  }

  async drop(): Promise<void> {
    await this.client.end().catch(() => undefined);
    await TestDatabase.admin(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
  }

  private static async admin(sql: string): Promise<void> {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }
}

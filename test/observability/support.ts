/**
 * A registry for the observability suite: the real application (createRegistryApp)
 * on a fresh Postgres database this suite can also query, with its JSON log lines
 * captured in memory instead of written to stdout.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { RegistryClient } from '../support/http.js';
import { type Credentials, TEST_DATABASE_URL, adminEnv, rememberCredentials } from '../support/registry.js';

export interface ObservedRegistry {
  url: string;
  admin: Credentials;
  /** Authenticates as the administrator with HTTP Basic. */
  client: RegistryClient;
  /** Every line the registry logged so far, raw. */
  lines: string[];
  /** The lines parsed (each must be one JSON object). */
  entries(): Record<string, any>[];
  sql<T = any>(query: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export async function startObservedRegistry(env: Record<string, string> = {}): Promise<ObservedRegistry> {
  const name = `berth_obs_${randomBytes(6).toString('hex')}`;
  const server = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await server.connect();
  await server.query(`CREATE DATABASE ${name}`);
  await server.end();
  const dbUrl = new URL(TEST_DATABASE_URL);
  dbUrl.pathname = `/${name}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-obs-'));
  const lines: string[] = [];
  const { env: adminVars, admin } = adminEnv();
  const { createRegistryApp } = await import('../../apps/registry/src/bootstrap.js');
  const app = await createRegistryApp(
    { PORT: '0', DATA_DIR: dataDir, STORAGE_DRIVER: 'filesystem', LOG_LEVEL: 'log', DATABASE_URL: dbUrl.toString(), ...env, ...adminVars },
    { logDestination: { write: (line: string) => void lines.push(line) } },
  );
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  rememberCredentials(url, admin);
  const db = new pg.Client({ connectionString: dbUrl.toString() });
  await db.connect();
  return {
    url,
    admin,
    client: new RegistryClient(url, admin),
    lines,
    entries: () => lines.map((line) => JSON.parse(line)),
    sql: async (query, params) => (await db.query(query, params)).rows,
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

/** One sample of a metric in Prometheus text: its value, or undefined when the series is absent. */
export function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    if (line.slice(0, at) === series) return Number(line.slice(at + 1));
  }
  return undefined;
}

/**
 * A Berth instance that can be stopped and started again on the SAME Postgres database
 * and data directory, to check that state (upload sessions, ...) survives a restart.
 * startRegistry() cannot do this: every call creates a fresh database and directory.
 * Only usable in-process (never with E2E_REGISTRY_URL).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestDatabase } from '../support/database.js';
import { adminEnv, rememberCredentials, type Credentials } from '../support/registry.js';

interface App {
  listen(port: number, host: string): Promise<unknown>;
  getHttpServer(): { address(): AddressInfo | string | null };
  close(): Promise<void>;
}

export interface RestartableRegistry {
  /** Base URL of the running instance (the port may change on restart). */
  readonly url: string;
  readonly dataDir: string;
  /** The first administrator (ADMIN_USERNAME / ADMIN_PASSWORD), the same across restarts. */
  readonly admin: Credentials;
  /** Closes the running instance and starts a new one on the same database and data dir. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startRestartableRegistry(options: { env?: Record<string, string> } = {}): Promise<RestartableRegistry> {
  if (process.env.E2E_REGISTRY_URL) throw new Error('startRestartableRegistry needs the in-process registry');
  const database = await TestDatabase.create('berth_test');
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-restart-'));
  const { env: adminVars, admin } = adminEnv(options.env);
  const env = {
    PORT: '0',
    DATA_DIR: dataDir,
    STORAGE_DRIVER: 'filesystem',
    LOG_LEVEL: 'warn',
    AUTO_CREATE_NAMESPACES: 'true',
    DATABASE_URL: database.url,
    ...options.env,
    ...adminVars,
  };

  let app: App | undefined;
  let url = '';
  const boot = async () => {
    const { createRegistryApp } = (await import('../../apps/registry/src/bootstrap.js')) as {
      createRegistryApp(env: Record<string, string>): Promise<App>;
    };
    app = await createRegistryApp({ ...env });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    url = `http://127.0.0.1:${port}`;
    // So that new RegistryClient(reg.url) authenticates as the administrator, on every port.
    rememberCredentials(url, admin);
  };

  await boot();
  return {
    get url() {
      return url;
    },
    dataDir,
    admin,
    restart: async () => {
      await app?.close();
      app = undefined;
      await boot();
    },
    close: async () => {
      await app?.close();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Helpers for the garbage collection suites (test/gc): the real registry on a fresh
 * Postgres database with filesystem storage, whose services, SQL and files the tests
 * can reach, and which runs no schedule of its own.
 */
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { INestApplication } from '@nestjs/common';
import { type GcOptions, type GcRun, GcRunService } from '@berth/gc';
import { postgresAvailable } from '../support/database.js';
import { type Credentials, startInProcessRegistry } from '../support/registry.js';

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
  const registry = await startInProcessRegistry({
    storageDriver: 'filesystem',
    env: { GC_SCHEDULE: 'off', UPLOAD_PURGE_SCHEDULE: 'off', ...env },
  });
  const { app } = registry;
  const database = registry.database!;
  const storageRoot = join(registry.dataDir, 'storage');
  return {
    url: registry.url,
    admin: registry.admin,
    databaseUrl: database.url,
    dataDir: registry.dataDir,
    storageRoot,
    app,
    sql: (query, params) => database.query(query, params),
    gc: async (options) => (await app.get(GcRunService).start('api', { dryRun: false, deleteUntagged: false, ...options })).done,
    hasBlobFile: async (digest) => {
      const hex = digest.slice('sha256:'.length);
      return access(join(storageRoot, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data')).then(
        () => true,
        () => false,
      );
    },
    close: registry.close,
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const CLI = fileURLToPath(new URL('../../apps/cli/src/main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the CLI through tsx with `env` (and nothing else of this process's environment but PATH and HOME), to its exit. */
export function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['tsx', CLI, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

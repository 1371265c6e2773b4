/** Builds and starts Berth (dist/apps/registry/src/main.js) as a child process. */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import pg from 'pg';
import { errorMessage, trackChild, type Scope } from './cleanup.js';
import type { BenchConfig, BerthMode } from './config.js';
import { freePort, startServer, waitForRegistry } from './server-process.js';
import type { RunningTarget } from './target.js';

/** Migrations and an embedded database may make the first start slow. */
const STARTUP_TIMEOUT_MS = 60_000;

export function berthVersion(config: BenchConfig): string {
  const pkg = JSON.parse(readFileSync(join(config.repoRoot, 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

/** Runs `npm run build` so the bench always measures the current source. */
export async function buildBerth(config: BenchConfig): Promise<void> {
  console.log('  building Berth (npm run build; BENCH_SKIP_BUILD=1 skips this)…');
  const started = performance.now();
  let output = '';
  const code = await new Promise<number | null>((resolveCode) => {
    const child = spawn('npm', ['run', 'build'], { cwd: config.repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(child); // so an interrupted run does not leave a compiler behind
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-8_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', (err) => {
      output += `\n${err.message}`;
      resolveCode(null);
    });
    child.once('exit', resolveCode);
  });
  if (code !== 0) {
    const tail = output.trim().split('\n').slice(-30).join('\n    ');
    throw new Error(`Berth build failed (npm run build exited ${code}):\n    ${tail}`);
  }
  console.log(`  build done in ${((performance.now() - started) / 1000).toFixed(1)}s`);
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

async function withAdminClient<T>(config: BenchConfig, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: config.adminDatabaseUrl, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `cannot connect to Postgres at ${redact(config.adminDatabaseUrl)} (${errorMessage(err)}); ` +
        'set BENCH_DATABASE_URL, or BENCH_CONFIGS=distribution,berth-embedded-bearer to leave Postgres out',
    );
  }
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A fresh database per run, so Berth starts from empty tables; dropped in cleanup. */
async function createDatabase(config: BenchConfig, scope: Scope): Promise<{ name: string; url: string }> {
  const name = `berth_bench_${randomBytes(6).toString('hex')}`;
  await withAdminClient(config, (client) => client.query(`CREATE DATABASE ${name}`));
  scope.defer(`drop database ${name}`, async () => {
    // FORCE: a pool connection the server did not close must not block the drop.
    await withAdminClient(config, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  });
  const url = new URL(config.adminDatabaseUrl);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

export interface BerthStartOptions {
  mode: BerthMode;
  /** Repositories the bench will use: a bearer token is issued for exactly these. */
  repositories: string[];
  /** Added to (and overriding) the environment Berth starts with (figure 7: REDIS_URL, ...). */
  env?: Record<string, string>;
  /** Server label in messages (default "Berth"). */
  label?: string;
}

/** Starts a built Berth; also returns the first administrator, for the admin API. */
export async function startBerth(
  config: BenchConfig,
  scope: Scope,
  options: BerthStartOptions,
): Promise<{ target: RunningTarget; admin: { username: string; password: string } }> {
  if (!existsSync(config.berthMain)) {
    throw new Error(
      `Berth is not built: ${relative(config.repoRoot, config.berthMain)} does not exist ` +
        '(run `npm run build`, or drop BENCH_SKIP_BUILD)',
    );
  }

  const dataDir = await mkdtemp(join(tmpdir(), 'berth-bench-data-'));
  scope.defer('remove Berth DATA_DIR', () => rm(dataDir, { recursive: true, force: true, maxRetries: 3 }));

  // Berth always runs with auth on: the first administrator is created at start-up from these.
  const admin = { username: 'bench-admin', password: randomBytes(18).toString('base64url') };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(await freePort()),
    DATA_DIR: dataDir,
    STORAGE_DRIVER: 'filesystem',
    LOG_LEVEL: 'warn',
    // The bench pushes as the administrator into namespaces it never creates.
    AUTO_CREATE_NAMESPACES: 'true',
    ADMIN_USERNAME: admin.username,
    ADMIN_PASSWORD: admin.password,
    // One token outlives the whole run (a real client would fetch a fresh one per operation).
    TOKEN_TTL_SECONDS: '3600',
  };
  // Notifications stay off unless asked for: an inherited REDIS_URL must not change figures 1-5.
  delete env.REDIS_URL;
  Object.assign(env, options.env);
  const { mode } = options;
  const notes = [
    'filesystem storage',
    mode.auth === 'basic'
      ? 'auth on: Basic credentials on every request'
      : 'auth on: one bearer token (Docker token flow, fetched untimed) on every request',
  ];
  if (mode.database === 'embedded') {
    // An inherited DATABASE_URL would silently point Berth at a real server.
    delete env.DATABASE_URL;
    notes.push('database: embedded (no DATABASE_URL), inside the measured process tree');
  } else {
    const db = await createDatabase(config, scope);
    env.DATABASE_URL = db.url;
    notes.push(`database: Postgres, fresh database ${db.name} (the Postgres server's memory is not in the RSS figures)`);
  }

  // The same memory settings as `npm start` and the Dockerfile.
  env.MALLOC_ARENA_MAX = '2';
  const label = options.label ?? 'Berth';
  const nodeFlags = ['--max-semi-space-size=8', '--max-old-space-size=128', '--no-concurrent-array-buffer-sweeping'];
  // For a profile of the measured process (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"): never for published figures.
  nodeFlags.push(...(process.env.BENCH_BERTH_FLAGS ?? '').split(/\s+/).filter(Boolean));
  const server = startServer(scope, label, process.execPath, [...nodeFlags, config.berthMain], { env, cwd: config.repoRoot });
  const baseUrl = `http://127.0.0.1:${env.PORT}`;
  await waitForRegistry(server, baseUrl, STARTUP_TIMEOUT_MS);

  const version = berthVersion(config);
  const authorization =
    mode.auth === 'basic'
      ? `Basic ${Buffer.from(`${admin.username}:${admin.password}`).toString('base64')}`
      : `Bearer ${await fetchToken(baseUrl, admin, options.repositories)}`;
  return { target: { label: `Berth ${version}`, version, baseUrl, server, notes, authorization }, admin };
}

/** The Docker token flow: Basic credentials to the token endpoint, for every bench repository (`actions` on each). */
export async function fetchToken(
  baseUrl: string,
  admin: { username: string; password: string },
  repositories: string[],
  actions = 'pull,push',
): Promise<string> {
  const url = new URL('/auth/token', baseUrl);
  url.searchParams.set('service', 'berth-registry');
  for (const repo of repositories) url.searchParams.append('scope', `repository:${repo}:${actions}`);
  const res = await fetch(url, {
    headers: { authorization: `Basic ${Buffer.from(`${admin.username}:${admin.password}`).toString('base64')}` },
  });
  if (!res.ok) throw new Error(`Berth token endpoint answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

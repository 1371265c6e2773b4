import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { REDIS_SERVER_BIN } from '../../libs/notifications/src/testing/redis-server.js';
import { TEST_DATABASE_URL, TestDatabase, dropAbandonedDatabases, postgresAvailable } from './database.js';
import { orphanedTestRedisServers } from './global-setup.js';
import { tiedToThisProcess } from './tied-process.js';
import { freePort } from './ports.js';

const linux = process.platform === 'linux';
const redis = linux && existsSync(REDIS_SERVER_BIN);
if (!redis) console.warn(`[test clean-up] redis parts SKIPPED: needs Linux and ${REDIS_SERVER_BIN}`);
const postgres = await postgresAvailable();
if (!postgres) console.warn('[test clean-up] database part SKIPPED: Postgres is not reachable at TEST_DATABASE_URL');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number): Promise<boolean> {
  // The kernel kills at once; the bound only keeps a failure from hanging.
  for (let i = 0; i < 200 && alive(pid); i++) await sleep(50);
  return !alive(pid);
}

/** The redis-servers among a process's children (a script run through tsx has esbuild's too). */
function redisChildrenOf(pid: number): number[] {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return children.filter((child) => readFileSync(`/proc/${child}/comm`, 'utf8').trim() === 'redis-server');
}

/** A node process running `script` (TypeScript sources importable), until it prints a line. */
async function nodeScript(script: string): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ['--import', './test/support/register-ts.mjs', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (c) => (output += c));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    child.once('exit', (code) => reject(new Error(`the script exited (${code}) early:\n${output}`)));
  });
  return { child, line };
}

const strays: number[] = [];
afterAll(() => {
  for (const pid of strays) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

describe.skipIf(!redis)('private redis-servers of the tests', () => {
  it('die with the test process that started them, even when it is SIGKILLed', async () => {
    const { child } = await nodeScript(`
      const { RedisServer: A } = await import('./libs/notifications/src/testing/redis-server.ts');
      const { RedisServer: B } = await import('./test/notifications/support.ts');
      await A.start();
      await B.start();
      console.log('started');
      setInterval(() => undefined, 1000);
    `);
    const servers = redisChildrenOf(child.pid!);
    strays.push(...servers);
    expect(servers).toHaveLength(2);

    child.kill('SIGKILL');
    for (const pid of servers) expect(await gone(pid), `redis-server ${pid} outlived its test process`).toBe(true);
  }, 300_000);

  it('left orphaned by an older run are found at the next run, and live ones are not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-redis-'));
    const ownDir = await mkdtemp(join(tmpdir(), 'berth-redis-'));
    try {
      const args = (port: number, d: string) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', d];
      // Started the way older runs did, then its parent gone: adopted by PID 1.
      const shell = spawnSync('sh', ['-c', `"$0" "$@" >/dev/null 2>&1 & echo $!`, REDIS_SERVER_BIN, ...args(await freePort(), dir)], { encoding: 'utf8' });
      const orphan = Number(shell.stdout.trim());
      strays.push(orphan);
      const live = spawn(...tiedToThisProcess(REDIS_SERVER_BIN, args(await freePort(), ownDir)), { stdio: 'ignore' });
      strays.push(live.pid!);
      for (let i = 0; i < 100 && !orphanedTestRedisServers().includes(orphan); i++) await sleep(50);

      const found = orphanedTestRedisServers();
      expect(found).toContain(orphan);
      expect(found).not.toContain(live.pid);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rm(ownDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe.skipIf(!postgres)('throw-away databases of the tests', () => {
  async function exists(name: string): Promise<boolean> {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      return (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
    } finally {
      await client.end();
    }
  }

  it('are dropped at the next run once their creating process is dead; live runs and unmarked ones are left alone', async () => {
    // A test process that dies before its afterAll.
    const { child, line: abandoned } = await nodeScript(`
      const { TestDatabase } = await import('./test/support/database.ts');
      console.log((await TestDatabase.create('berth_test')).name);
      setInterval(() => undefined, 1000);
    `);
    child.kill('SIGKILL');
    await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    const own = await TestDatabase.create('berth_test');
    const unmarked = `berth_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${unmarked}`);
    try {
      expect(await exists(abandoned)).toBe(true);

      const dropped = await dropAbandonedDatabases();
      expect(dropped).toContain(abandoned);
      expect(dropped).not.toContain(own.name);
      expect(dropped).not.toContain(unmarked);
      expect(await exists(abandoned)).toBe(false);
      expect(await exists(own.name)).toBe(true);
      expect(await exists(unmarked)).toBe(true);
    } finally {
      await own.drop();
      await admin.query(`DROP DATABASE IF EXISTS ${unmarked} WITH (FORCE)`);
      await admin.query(`DROP DATABASE IF EXISTS ${abandoned} WITH (FORCE)`);
      await admin.end();
    }
  }, 300_000);
});

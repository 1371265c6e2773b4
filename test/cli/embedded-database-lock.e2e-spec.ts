import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../admin/support.js';
import { freePort, acceptsConnections } from '../support/ports.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** PostgreSQL servers (postmasters) running on the embedded database under `dataDir`. */
async function serversOn(dataDir: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').includes(join(dataDir, 'db'))) found.push(Number(entry));
  }
  return found;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

// No DATABASE_URL anywhere here: both processes use the embedded database under DATA_DIR.
describe('embedded database: one process at a time (real registry and CLI processes)', () => {
  const ADMIN_PASSWORD = `admin-${randomBytes(8).toString('hex')}`;
  let dataDir: string;
  let registry: ChildProcess | undefined;

  function env(): NodeJS.ProcessEnv {
    const { DATABASE_URL: _ignored, ...rest } = process.env;
    return { ...rest, DATA_DIR: dataDir, LOG_LEVEL: 'warn', ADMIN_PASSWORD };
  }

  async function startRegistry(port: number): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['--import', './test/support/register-ts.mjs', 'apps/registry/src/main.ts'], {
      env: { ...env(), PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    registry = child;
    let output = '';
    child.stdout!.on('data', (c) => (output += c));
    child.stderr!.on('data', (c) => (output += c));
    // Generous: started from source, on a busy machine, this can take a minute.
    for (let i = 0; i < 3000; i++) {
      if (child.exitCode !== null) throw new Error(`the registry exited at start-up:\n${output}`);
      if (await acceptsConnections(port)) return child;
      await sleep(100);
    }
    throw new Error(`the registry did not start:\n${output}`);
  }

  /** The CLI from source, as `npm run cli` runs it from the build. */
  function cli(args: string[], stdin = ''): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', './test/support/register-ts.mjs', 'apps/cli/src/main.ts', ...args], {
        env: env(),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(stdin);
    });
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-lock-'));
  });
  afterEach(() => {
    if (registry && registry.exitCode === null) registry.kill('SIGKILL');
  });
  afterAll(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses the CLI while the registry runs, naming the process and what to do; after the registry stops the CLI works and its user survives a restart', async () => {
    const port = await freePort();
    const running = await startRegistry(port);

    const refused = await cli(['user', 'create', 'ops', '--password-stdin'], 'correct-horse-battery\n');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`the embedded database under ${join(dataDir, 'db')} is in use by process ${running.pid}`);
    expect(refused.stderr).toContain('DATABASE_URL');
    expect(refused.stderr).not.toMatch(/\n\s+at /);

    running.kill('SIGTERM');
    expect(await exited(running)).toBe(0);
    expect(existsSync(join(dataDir, 'db.lock'))).toBe(false);

    const created = await cli(['user', 'create', 'ops', '--password-stdin'], 'correct-horse-battery\n');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('created user ops');

    await startRegistry(port);
    // Throws unless the user the CLI created is in the database the registry opens.
    await Api.login(`http://127.0.0.1:${port}`, { username: 'ops', password: 'correct-horse-battery' });
  }, 900_000);

  it('takes over the lock of a registry killed with SIGKILL', async () => {
    const port = await freePort();
    const killed = await startRegistry(port);
    killed.kill('SIGKILL');
    await exited(killed);
    expect(existsSync(join(dataDir, 'db.lock'))).toBe(true);
    // Its database server outlives it: the next process must stop that orphan, not be blocked by it.
    expect(await serversOn(dataDir)).toHaveLength(1);

    const created = await cli(['user', 'create', 'dev', '--password-stdin'], 'correct-horse-battery\n');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('created user dev');
    expect(await serversOn(dataDir)).toEqual([]);
  }, 600_000);
});

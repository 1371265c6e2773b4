import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, expectStatus } from '../admin/support.js';
import { TestDatabase, postgresAvailable } from '../support/database.js';

const available = await postgresAvailable();
if (!available) console.warn('[cli users] SKIPPED: Postgres is not reachable at TEST_DATABASE_URL');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe.skipIf(!available)('CLI: user create and user reset-password', () => {
  let database: TestDatabase;
  let dataDir: string;
  let app: { close(): Promise<void>; getHttpServer(): { address(): AddressInfo | string | null } } | undefined;
  let url: string;

  /** Runs the CLI from source, as `npm run cli` runs it from the build. */
  function cli(args: string[], stdin?: string): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'apps/cli/src/main.ts', ...args], {
        env: { ...process.env, DATABASE_URL: database.url, DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(stdin ?? '');
    });
  }

  const printedPassword = (run: Run) => /^password: (\S+)$/m.exec(run.stdout)?.[1];

  beforeAll(async () => {
    database = await TestDatabase.create('berth_test');
    dataDir = await mkdtemp(join(tmpdir(), 'berth-cli-'));
    const { createRegistryApp } = await import('../../apps/registry/src/bootstrap.js');
    const started = await createRegistryApp({
      DATABASE_URL: database.url,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      AUTO_CREATE_NAMESPACES: 'true',
      ADMIN_PASSWORD: `admin-${randomBytes(8).toString('hex')}`,
    });
    await started.listen(0, '127.0.0.1');
    app = started;
    url = `http://127.0.0.1:${(started.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('creates an administrator with a generated password, printed once, that logs in', async () => {
    const run = await cli(['user', 'create', 'ops', '--admin']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('created administrator ops');
    const password = printedPassword(run);
    expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const api = await Api.login(url, { username: 'ops', password: password! });
    expect(expectStatus(await api.get('/users/ops'), 200)).toMatchObject({ username: 'ops', isAdmin: true });
    // Only administrators list users: the flag took effect.
    expectStatus(await api.get('/users'), 200);
  });

  it('creates a user with the password from stdin, then resets it', async () => {
    const created = await cli(['user', 'create', 'dev', '--password-stdin'], 'correct-horse-battery\n');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('created user dev');
    expect(printedPassword(created)).toBeUndefined();
    const dev = await Api.login(url, { username: 'dev', password: 'correct-horse-battery' });
    expect((await dev.get('/users')).status).toBe(403);

    const reset = await cli(['user', 'reset-password', 'dev']);
    expect(reset.code, reset.stderr).toBe(0);
    const password = printedPassword(reset)!;
    await Api.login(url, { username: 'dev', password });
    expect((await new Api(url).request('POST', '/api/v1/auth/login', { username: 'dev', password: 'correct-horse-battery' })).status).toBe(401);

    const fromStdin = await cli(['user', 'reset-password', 'dev', '--password-stdin'], 'another-long-secret');
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    await Api.login(url, { username: 'dev', password: 'another-long-secret' });
    // The failed login above is audited too (auth.login.failed, written within a second): only the CLI's changes here.
    const audit = await database.query(`SELECT actor, action FROM audit_log WHERE target = 'user:dev' AND action LIKE 'user.%' ORDER BY id`);
    expect(audit).toEqual([
      { actor: 'cli', action: 'user.create' },
      { actor: 'cli', action: 'user.password.set' },
      { actor: 'cli', action: 'user.password.set' },
    ]);
  });

  // Each CLI run starts Node and transpiles the sources: separate tests keep each under its own timeout on a loaded machine.
  it('explains refusals: a taken name, a short password, an unknown user', async () => {
    const taken = await cli(['user', 'create', 'dev']);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain('the user dev already exists');
    const short = await cli(['user', 'create', 'shorty', '--password-stdin'], 'abc');
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('password');
    const unknown = await cli(['user', 'reset-password', 'nobody']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('nobody');
  });

  it('answers a bad command line with its usage and exit code 2', async () => {
    const lines = [['user', 'create'], ['user', 'rename', 'dev'], ['user', 'create', 'x', '--root'], ['user', 'reset-password', 'dev', '--admin']];
    const runs = await Promise.all(lines.map((args) => cli(args)));
    runs.forEach((bad, i) => {
      expect(bad.code, lines[i].join(' ')).toBe(2);
      expect(bad.stderr).toContain('usage: berth-cli');
    });
  });
});

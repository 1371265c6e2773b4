import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, randomBlob, sha256, withQuery } from '../support/http.js';
import { TestDatabase, postgresAvailable } from '../support/database.js';
import { basicAuth } from '../support/registry.js';
import { freePort, acceptsConnections } from '../support/ports.js';

const available = await postgresAvailable();
if (!available) console.warn('[graceful shutdown] SKIPPED: Postgres is not reachable at TEST_DATABASE_URL');

const ADMIN = { username: 'admin', password: `admin-${randomBytes(6).toString('hex')}` };

/** A PUT whose body the test sends in two halves, on its own connection. */
function slowPut(url: string, body: Buffer): { sendRest(): void; response: Promise<http.IncomingMessage> } {
  const half = Math.floor(body.length / 2);
  const req = http.request(url, {
    method: 'PUT',
    agent: false,
    headers: { Authorization: basicAuth(ADMIN), 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) },
  });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    req.on('error', reject);
  });
  req.write(body.subarray(0, half));
  return { sendRest: () => req.end(body.subarray(half)), response };
}

describe.skipIf(!available)('graceful shutdown (apps/registry/src/main.ts as a process)', () => {
  let database: TestDatabase;
  let dataDir: string;
  let child: ChildProcess | undefined;
  let output = '';

  /** Starts the registry from source and waits until it answers. */
  async function start(port: number, env: Record<string, string> = {}): Promise<{ process: ChildProcess; exited: Promise<number | null> }> {
    const started = spawn(process.execPath, ['--import', './test/support/register-ts.mjs', 'apps/registry/src/main.ts'], {
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: database.url,
        DATA_DIR: dataDir,
        ADMIN_USERNAME: ADMIN.username,
        ADMIN_PASSWORD: ADMIN.password,
        LOG_LEVEL: 'log',
        AUTO_CREATE_NAMESPACES: 'true',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = started;
    started.stdout!.on('data', (c) => (output += c));
    started.stderr!.on('data', (c) => (output += c));
    const exited = new Promise<number | null>((resolve) => started.once('exit', (code) => resolve(code)));
    // Generous: started from source on a busy machine, start-up can take a minute.
    for (let i = 0; i < 3000; i++) {
      if (started.exitCode !== null) throw new Error(`the registry exited at start-up:\n${output}`);
      if (await acceptsConnections(port)) return { process: started, exited };
      await sleep(100);
    }
    throw new Error(`the registry did not start:\n${output}`);
  }

  beforeAll(async () => {
    database = await TestDatabase.create('berth_test');
    dataDir = await mkdtemp(join(tmpdir(), 'berth-shutdown-'));
  });
  afterEach(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    output = '';
  });
  afterAll(async () => {
    await database?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('finishes an upload in flight after SIGTERM, refuses new connections, exits 0; the blob is there after a restart', async () => {
    const port = await freePort();
    const registry = await start(port);
    const url = `http://127.0.0.1:${port}`;
    const client = new RegistryClient(url, ADMIN);
    // A keep-alive connection idle at SIGTERM must not hold the shutdown up.
    expect((await client.get('/v2/')).status).toBe(200);

    const blob = randomBlob(4 * 1024 * 1024);
    const location = await client.startUpload('admin/app');
    const upload = slowPut(withQuery(location, { digest: sha256(blob) }), blob);
    await sleep(300);

    registry.process.kill('SIGTERM');
    await sleep(500);
    expect(await acceptsConnections(port)).toBe(false);
    expect(registry.process.exitCode).toBeNull();

    upload.sendRest();
    expect((await upload.response).statusCode).toBe(201);
    expect(await registry.exited).toBe(0);
    expect(output).toContain('SIGTERM: refusing new connections');

    await start(port);
    const res = await client.get(`/v2/admin/app/blobs/${sha256(blob)}`);
    expect(res.status).toBe(200);
    expect(sha256(res.body)).toBe(sha256(blob));
    child!.kill('SIGTERM');
    expect(await new Promise((resolve) => child!.once('exit', resolve))).toBe(0);
  }, 600_000);

  it('gives up on a stalled request after SHUTDOWN_TIMEOUT_SECONDS and still exits 0', async () => {
    const port = await freePort();
    const registry = await start(port, { SHUTDOWN_TIMEOUT_SECONDS: '1' });
    const client = new RegistryClient(`http://127.0.0.1:${port}`, ADMIN);
    const location = await client.startUpload('admin/stalled');
    const stalled = slowPut(withQuery(location, { digest: sha256(randomBlob(10)) }), randomBlob(1024 * 1024));
    stalled.response.catch(() => undefined);
    await sleep(300);
    const signalled = Date.now();
    registry.process.kill('SIGTERM');
    expect(await registry.exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(output).toContain('requests still running after 1 s');
  }, 300_000);
});

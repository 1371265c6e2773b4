import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Api, expectApiError, expectStatus, newPassword } from '../admin/support.js';
import { RegistryClient, buildImage, expectError, randomBlob, sha256 } from '../support/http.js';
import { TestDatabase, postgresAvailable } from '../support/database.js';
import { TEST_ADMIN_PASSWORD } from '../support/registry.js';

const available = await postgresAvailable();
if (!available) console.warn('[read-only] SKIPPED: Postgres is not reachable at TEST_DATABASE_URL');

const ADMIN = { username: 'admin', password: TEST_ADMIN_PASSWORD };
const MESSAGE = 'the registry is in read-only mode';

describe.skipIf(!available)('read-only mode (READ_ONLY=true)', () => {
  let database: TestDatabase;
  let dataDir: string;
  let app: { close(): Promise<void>; getHttpServer(): { address(): AddressInfo | string | null } } | undefined;
  let url: string;
  let v2: RegistryClient;
  let api: Api;
  const image = buildImage();
  const blob = randomBlob(2048);

  /** The registry on this suite's database and data directory, writable or not. */
  async function boot(readOnly: boolean) {
    await app?.close();
    const { createRegistryApp } = await import('../../apps/registry/src/bootstrap.js');
    const started = await createRegistryApp({
      DATABASE_URL: database.url,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      AUTO_CREATE_NAMESPACES: 'true',
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      READ_ONLY: String(readOnly),
    });
    await started.listen(0, '127.0.0.1');
    app = started;
    url = `http://127.0.0.1:${(started.getHttpServer().address() as AddressInfo).port}`;
    v2 = new RegistryClient(url, ADMIN);
    api = await Api.login(url, ADMIN);
  }

  beforeAll(async () => {
    database = await TestDatabase.create('berth_test');
    dataDir = await mkdtemp(join(tmpdir(), 'berth-read-only-'));
    await boot(false);
    await v2.pushImage('admin/app', 'v1', image);
    await v2.pushImage('admin/app', 'v2', buildImage());
    await v2.pushBlob('admin/app', blob);
    await boot(true);
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps serving reads and tokens', async () => {
    const manifest = await v2.get('/v2/admin/app/manifests/v1', { headers: { Accept: image.mediaType } });
    expect(manifest.status).toBe(200);
    expect(manifest.body.equals(image.manifestBytes)).toBe(true);
    const read = await v2.get(`/v2/admin/app/blobs/${sha256(blob)}`);
    expect(read.status).toBe(200);
    expect(read.body.equals(blob)).toBe(true);
    expect((await v2.get('/v2/admin/app/tags/list')).json().tags).toEqual(['v1', 'v2']);
    expect((await v2.get('/v2/_catalog')).status).toBe(200);
    const token = await v2.get('/auth/token?service=berth-registry&scope=repository:admin/app:pull,push');
    expect(token.status).toBe(200);
    expect((await v2.get('/v2/admin/app/manifests/v1', { auth: { token: token.json().token }, headers: { Accept: image.mediaType } })).status).toBe(200);
  });

  it('answers every write under /v2 with 405 UNSUPPORTED and says why', async () => {
    const fresh = randomBlob(10);
    const writes = [
      await v2.post('/v2/admin/app/blobs/uploads/'),
      await v2.post(`/v2/admin/app/blobs/uploads/?digest=${sha256(fresh)}`, { body: fresh }),
      await v2.post(`/v2/admin/other/blobs/uploads/?mount=${sha256(blob)}&from=admin/app`),
      await v2.patch(`/v2/admin/app/blobs/uploads/${crypto.randomUUID()}`, { body: fresh }),
      await v2.put(`/v2/admin/app/blobs/uploads/${crypto.randomUUID()}?digest=${sha256(fresh)}`, { body: fresh }),
      await v2.delete(`/v2/admin/app/blobs/uploads/${crypto.randomUUID()}`),
      await v2.pushManifest('admin/app', 'v3', image.manifestBytes, image.mediaType),
      await v2.delete('/v2/admin/app/manifests/v2'),
      await v2.delete(`/v2/admin/app/manifests/${image.digest}`),
      await v2.delete(`/v2/admin/app/blobs/${sha256(blob)}`),
    ];
    for (const res of writes) expect(expectError(res, 405, 'UNSUPPORTED').errors[0].message).toBe(MESSAGE);
    expect((await v2.get('/v2/admin/app/tags/list')).json().tags).toEqual(['v1', 'v2']);
    expect((await v2.head(`/v2/admin/app/blobs/${sha256(blob)}`)).status).toBe(200);
    expect(v2.takeViolations()).toEqual([]);
  });

  it('refuses admin API deletions of content in its own error format, and keeps account management', async () => {
    const refusals = [
      await api.delete('/repositories/admin/app'),
      await api.delete('/repositories/admin/app/tags/v1'),
      await api.delete('/users/admin?force=true'),
    ];
    for (const answer of refusals) expect(expectApiError(answer, 405).message).toBe(MESSAGE);
    expect(expectStatus(await api.get('/repositories/admin/app'), 200).tagCount).toBe(2);

    const user = { username: `u${randomBytes(4).toString('hex')}`, password: newPassword() };
    expectStatus(await api.post('/users', user), 201);
    await Api.login(url, user);
    const org = `ro${randomBytes(3).toString('hex')}`;
    expectStatus(await api.post('/namespaces', { name: org }), 201);
    expectStatus(await api.put(`/namespaces/${org}/quota`, { quotaBytes: 1000 }), 200);
    expectApiError(await api.delete(`/namespaces/${org}?force=true`), 405);
    expect((await api.delete(`/namespaces/${org}`)).status).toBe(204);
  });

  it('allows garbage collection only as a dry run', async () => {
    for (const body of [{}, { dryRun: false }, { dryRun: false, deleteUntagged: true }]) {
      expect(expectApiError(await api.post('/system/gc', body), 405).message).toBe(MESSAGE);
    }
    const dryRun = expectStatus(await api.post('/system/gc', { dryRun: true, deleteUntagged: true }), 202);
    await vi.waitFor(async () => expect(expectStatus(await api.get(`/system/gc/${dryRun.id}`), 200).status).toBe('succeeded'), { timeout: 10_000 });
    expect(expectStatus(await api.get('/system/gc'), 200).items.map((r: { dryRun: boolean }) => r.dryRun)).toEqual([true]);
    expect((await v2.head(`/v2/admin/app/blobs/${sha256(blob)}`)).status).toBe(200);
  });
});

/**
 * Garbage collection on the embedded database (a PostgreSQL child process of the registry):
 * the same queries and locks, and the in-process flag as the one-run-at-a-time lock.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryClient, buildImage, sha256 } from '../support/http.js';
import { type TestRegistry, startRegistry } from '../support/registry.js';
import { Api, expectStatus } from '../admin/support.js';

describe('garbage collection with the embedded database', () => {
  let registry: TestRegistry;

  beforeAll(async () => {
    registry = await startRegistry({ embedded: true, storageDriver: 'filesystem', env: { GC_REVIEW_DELAY_SECONDS: '0', GC_SCHEDULE: 'off', UPLOAD_PURGE_SCHEDULE: 'off' } });
  });
  afterAll(async () => {
    await registry?.close();
  });

  it('frees an untagged image through the API', { timeout: 60_000 }, async () => {
    const c = new RegistryClient(registry.url, registry.admin);
    const kept = await c.pushImage('embedded/app', 'kept', buildImage({ layers: 1 }));
    const gone = await c.pushImage('embedded/app', 'gone', buildImage({ layers: 1 }));
    expect((await c.delete('/v2/embedded/app/manifests/gone')).status).toBe(202);

    const admin = await Api.login(registry.url, registry.admin as { username: string; password: string });
    const started = expectStatus(await admin.post('/system/gc', { deleteUntagged: true }), 202);
    let run: any;
    await vi.waitFor(
      async () => {
        run = expectStatus(await admin.get(`/system/gc/${started.id}`), 200);
        expect(run.status).not.toBe('running');
      },
      { timeout: 20_000 },
    );
    expect(run).toMatchObject({ status: 'succeeded', manifestsDeleted: 1, blobsDeleted: 2, bytesFreed: gone.blobs.reduce((n, b) => n + b.length, 0) });

    const file = (blob: Buffer) => {
      const hex = sha256(blob).slice('sha256:'.length);
      return join(registry.dataDir, 'storage', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    };
    const exists = (path: string) => access(path).then(() => true, () => false);
    for (const blob of gone.blobs) expect(await exists(file(blob))).toBe(false);
    for (const blob of kept.blobs) expect(await exists(file(blob))).toBe(true);
    expect((await c.get('/v2/embedded/app/manifests/kept')).status).toBe(200);
  });
});

/**
 * The stale upload purge: a session no chunk reached for UPLOAD_MAX_AGE_SECONDS goes with
 * its staging file; a fresh one survives and completes; a staging file with no session
 * goes once it is that old, not before.
 */
import { randomUUID } from 'node:crypto';
import { access, mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UploadPurger } from '@berth/gc';
import { RegistryClient, errorCode, sha256, withQuery } from '../support/http.js';
import { type GcRegistry, gcSuiteAvailable, sleep, startGcRegistry } from './support.js';

const available = await gcSuiteAvailable('gc/uploads-purge');
const MAX_AGE_SECONDS = 2;

describe.skipIf(!available)('stale upload purge', () => {
  let registry: GcRegistry;
  let c: RegistryClient;

  beforeAll(async () => {
    registry = await startGcRegistry({ UPLOAD_MAX_AGE_SECONDS: String(MAX_AGE_SECONDS) });
    c = new RegistryClient(registry.url, registry.admin);
  });
  afterAll(async () => {
    await registry?.close();
  });

  const exists = (path: string) => access(path).then(() => true, () => false);
  const stagingDir = (location: string) => join(registry.storageRoot, 'uploads', new URL(location).pathname.split('/').pop() as string);

  const orphan = async (ageSeconds: number) => {
    const dir = join(registry.storageRoot, 'uploads', randomUUID());
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'data'), 'cut off by a crash');
    const when = new Date(Date.now() - ageSeconds * 1000);
    await utimes(join(dir, 'data'), when, when);
    return dir;
  };

  it('purges stale sessions and old orphan staging files, and leaves fresh ones working', async () => {
    const repo = 'purge/app';
    const stale = await c.startUpload(repo);
    expect((await c.patch(stale, { body: Buffer.from('stale bytes') })).status).toBe(202);
    expect(await exists(stagingDir(stale))).toBe(true);
    await sleep(MAX_AGE_SECONDS * 1000 + 300);

    const first = Buffer.from('fresh first half, ');
    const second = Buffer.from('fresh second half');
    const fresh = await c.startUpload(repo);
    const patched = await c.patch(fresh, { body: first });
    expect(patched.status).toBe(202);
    const oldOrphan = await orphan(3600);
    const newOrphan = await orphan(0);

    expect(await registry.app.get(UploadPurger).purge()).toEqual({ sessionsDeleted: 1, orphansDeleted: 1 });

    const gone = await c.get(stale);
    expect(gone.status).toBe(404);
    expect(errorCode(gone)).toBe('BLOB_UPLOAD_UNKNOWN');
    expect(await exists(stagingDir(stale))).toBe(false);
    expect(await exists(oldOrphan)).toBe(false);
    expect(await exists(newOrphan)).toBe(true);

    const whole = Buffer.concat([first, second]);
    const done = await c.put(withQuery(patched.location as string, { digest: sha256(whole) }), { body: second });
    expect(done.status).toBe(201);
    expect((await c.get(`/v2/${repo}/blobs/${sha256(whole)}`)).body.equals(whole)).toBe(true);
  });
});

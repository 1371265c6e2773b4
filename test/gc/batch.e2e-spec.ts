/**
 * The blob phase deletes in batches (rows in one transaction, then files in one storage
 * batch) and keeps its guarantees: a digest whose lock an upload holds is skipped rather
 * than waited for, and a blob pushed again while its neighbours go is never lost.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { RegistryClient, sha256 } from '../support/http.js';
import { type GcRegistry, gcSuiteAvailable, startGcRegistry } from './support.js';

const available = await gcSuiteAvailable('gc/batch');
/** The first key of the per-digest advisory lock that uploads take (libs/distribution blob-lock.ts: 'blob'). */
const BLOB_LOCK = 0x626c6f62;

describe.skipIf(!available)('garbage collection: batched blob deletes', () => {
  let registry: GcRegistry;
  let c: RegistryClient;

  beforeAll(async () => {
    registry = await startGcRegistry({ GC_REVIEW_DELAY_SECONDS: '1' });
    c = new RegistryClient(registry.url, registry.admin);
  });
  afterAll(async () => {
    await registry?.close();
  });

  /** Blobs with a row and a file but no link or reference: all of them candidates. */
  async function seedUnreferenced(count: number): Promise<Buffer[]> {
    const contents = Array.from({ length: count }, () => randomBytes(64));
    const digests = contents.map((b) => sha256(b));
    for (let i = 0; i < count; i += 100) {
      await Promise.all(
        contents.slice(i, i + 100).map(async (bytes, j) => {
          const hex = digests[i + j].slice('sha256:'.length);
          const dir = join(registry.storageRoot, 'blobs', 'sha256', hex.slice(0, 2), hex);
          await mkdir(dir, { recursive: true });
          await writeFile(join(dir, 'data'), bytes);
        }),
      );
    }
    await registry.sql('INSERT INTO blobs (digest, size) SELECT d, 64 FROM unnest($1::text[]) AS d', [digests]);
    return contents;
  }

  it('deletes thousands in batches, skipping a digest whose lock an upload holds, without waiting for it', { timeout: 60_000 }, async () => {
    const contents = await seedUnreferenced(2500);
    const digests = contents.map((b) => sha256(b));
    // In the second batch: an upload between its storage check and its commit holds this lock.
    const held = digests[1700];
    const upload = new pg.Client({ connectionString: registry.databaseUrl });
    await upload.connect();
    try {
      await upload.query('BEGIN');
      await upload.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [BLOB_LOCK, held]);
      const run = await registry.gc({});
      expect(run).toMatchObject({ status: 'succeeded', blobsDeleted: 2499, bytesFreed: 2499 * 64, orphanFilesDeleted: 0 });
      await upload.query('COMMIT');
    } finally {
      await upload.end();
    }
    expect(await registry.sql('SELECT digest FROM blobs WHERE digest = ANY($1::text[])', [digests])).toEqual([{ digest: held }]);
    expect(await registry.hasBlobFile(held)).toBe(true);
    for (const digest of [digests[0], digests[999], digests[1000], digests[2499]]) expect(await registry.hasBlobFile(digest)).toBe(false);
    // Nothing holds it any more: the next run takes it, and finds no directory the first left behind.
    expect(await registry.gc({})).toMatchObject({ blobsDeleted: 1, orphanFilesDeleted: 0 });
    expect(await registry.hasBlobFile(held)).toBe(false);
  });

  it('keeps every blob pushed again while a batch collection deletes the others', { timeout: 60_000 }, async () => {
    const repo = 'gcbatch/race';
    const contents = await seedUnreferenced(3000);
    // Spread over all three batches.
    const repushed = contents.filter((_, i) => i % 100 === 37);
    const [run] = await Promise.all([registry.gc({}), Promise.all(repushed.map((bytes) => c.pushBlob(repo, bytes)))]);
    expect(run.status).toBe('succeeded');
    expect(run.blobsDeleted).toBeGreaterThanOrEqual(contents.length - repushed.length);
    for (const bytes of repushed) {
      const res = await c.get(`/v2/${repo}/blobs/${sha256(bytes)}`);
      expect(res.status).toBe(200);
      expect(res.body.equals(bytes)).toBe(true);
    }
    const kept = new Set(repushed.map((b) => sha256(b)));
    const rows = await registry.sql<{ n: string }>('SELECT count(*) AS n FROM blobs WHERE digest = ANY($1::text[])', [contents.map((b) => sha256(b))]);
    expect(Number(rows[0].n)).toBe(kept.size);
  });
});

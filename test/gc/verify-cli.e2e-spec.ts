/**
 * The integrity check, `npm run cli -- verify [--repair] [--restart]`, run as a real
 * process (through tsx) against a real registry's database and storage: files corrupted,
 * truncated, grown, removed and added directly under the storage root are found, `--repair`
 * fixes what can be fixed (a grown file whose first bytes are the blob is cut to length;
 * a file a pending completion moved in is left for its retry), a re-push heals the rest, an interrupted run continues where
 * it stopped, and /metrics shows the last result.
 */
import { appendFile, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { type StorageDriver, blobDataPath } from '@berth/storage';
import { S3Driver } from '../../libs/storage/src/s3/s3.driver.js';
import { S3TestServer } from '../../libs/storage/src/s3/testing/s3-test-server.js';
import { type InProcessRegistry, startInProcessRegistry } from '../support/registry.js';
import { RegistryClient, errorCode, randomBlob, sha256 } from '../support/http.js';
import { sample } from '../observability/support.js';
import { type GcRegistry, cli, gcSuiteAvailable, startGcRegistry } from './support.js';

const available = await gcSuiteAvailable('gc/verify-cli');
describe.skipIf(!available)('verify: the integrity check of blob files (CLI)', () => {
  let registry: GcRegistry;
  let client: RegistryClient;
  let env: Record<string, string>;
  const file = (digest: string) => join(registry.storageRoot, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7), 'data');
  const metrics = async () => (await fetch(`${registry.url}/metrics`)).text();

  beforeAll(async () => {
    registry = await startGcRegistry();
    client = new RegistryClient(registry.url, registry.admin);
    env = { DATABASE_URL: registry.databaseUrl, DATA_DIR: registry.dataDir, LOG_LEVEL: 'warn' };
  });
  afterAll(async () => {
    await registry?.close();
  });
  beforeEach(async () => {
    await registry.sql('DELETE FROM verify_runs');
  });

  it('finds corrupt, truncated, grown, missing and orphan files; --repair deletes the bad ones and marks them missing, cuts a grown good file to length, keeps a pending completion\'s file; a re-push heals; exit 0 once clean', { timeout: 120_000 }, async () => {
    const bytes = { good: randomBlob(3000), corrupt: randomBlob(2000), truncated: randomBlob(2500), missing: randomBlob(1500), grown: randomBlob(1800) };
    const digests = Object.fromEntries(await Promise.all(Object.entries(bytes).map(async ([k, b]) => [k, await client.pushBlob('verify/app', b)]))) as Record<
      keyof typeof bytes,
      string
    >;
    // One byte flipped (same size), half the file gone, the file removed, and a file no row knows.
    const flipped = Buffer.from(bytes.corrupt);
    flipped[1000] ^= 0xff;
    await writeFile(file(digests.corrupt), flipped);
    await truncate(file(digests.truncated), 1000);
    await rm(file(digests.missing));
    const orphanBytes = randomBlob(700);
    const orphan = sha256(orphanBytes);
    await mkdir(dirname(file(orphan)), { recursive: true });
    await writeFile(file(orphan), orphanBytes);
    // Trailing bytes after a good blob (what a cut-off PATCH then a bodiless PUT left): pulls read only the recorded size.
    const grownFile = Buffer.concat([bytes.grown, randomBlob(500)]);
    await appendFile(file(digests.grown), grownFile.subarray(1800));
    // A completion that recorded its digest and moved the file in, then crashed before committing the blob row: its retry needs the file.
    const pendingBytes = randomBlob(650);
    const pending = sha256(pendingBytes);
    await mkdir(dirname(file(pending)), { recursive: true });
    await writeFile(file(pending), pendingBytes);
    await registry.sql(`INSERT INTO uploads (id, repository_id, size, digest) SELECT $1, id, 650, $2 FROM repositories WHERE name = 'verify/app'`, [randomUUID(), pending]);

    const check = await cli(['verify'], env);
    expect(check.code, check.stderr).toBe(1);
    expect(check.stdout).toContain('blobs done: 5 blobs checked (1 ok)');
    expect(check.stdout).toContain('finished: 5 blobs checked, 1 ok');
    expect(check.stdout).toContain(`corrupt ${digests.corrupt}: file hashes to ${sha256(flipped)}`);
    expect(check.stdout).toContain(`size_mismatch ${digests.truncated}: file has 1000 bytes, 2500 recorded`);
    expect(check.stdout).toContain(`missing ${digests.missing}: recorded (1500 bytes) but no file in storage`);
    expect(check.stdout).toContain(`orphan ${orphan}: file (700 bytes) with no blob row`);
    expect(check.stdout).toContain(`size_mismatch ${digests.grown}: file has 2300 bytes, 1800 recorded, the first 1800 being the blob`);
    expect(check.stdout).not.toContain(pending);
    expect(check.stdout).toContain('5 problems remain');
    // Reporting only: every file is as it was.
    expect(await readFile(file(digests.corrupt))).toEqual(flipped);
    expect(await readFile(file(orphan))).toEqual(orphanBytes);
    expect(await readFile(file(digests.grown))).toEqual(grownFile);
    const found = await registry.sql(`SELECT digest, kind, outcome FROM verify_findings ORDER BY kind, digest`);
    expect(found).toEqual([
      { digest: digests.corrupt, kind: 'corrupt', outcome: 'found' },
      { digest: digests.missing, kind: 'missing', outcome: 'found' },
      { digest: orphan, kind: 'orphan', outcome: 'found' },
      ...[digests.truncated, digests.grown].sort().map((digest) => ({ digest, kind: 'size_mismatch', outcome: 'found' })),
    ]);
    let text = await metrics();
    expect(sample(text, 'berth_verify_blobs{result="ok"}')).toBe(1);
    for (const result of ['missing', 'corrupt', 'orphan']) expect(sample(text, `berth_verify_blobs{result="${result}"}`)).toBe(1);
    expect(sample(text, 'berth_verify_blobs{result="size_mismatch"}')).toBe(2);
    const [{ finished }] = await registry.sql(`SELECT extract(epoch FROM finished_at)::float8 AS finished FROM verify_runs WHERE status = 'finished'`);
    expect(sample(text, 'berth_verify_last_run_timestamp_seconds')).toBe(finished);

    const repair = await cli(['verify', '--repair'], env);
    expect(repair.code, repair.stderr).toBe(1);
    expect(repair.stdout).toContain(`corrupt ${digests.corrupt}: file hashes to ${sha256(flipped)}: bad file deleted, push the blob again`);
    expect(repair.stdout).toContain(`size_mismatch ${digests.truncated}: file has 1000 bytes, 2500 recorded: bad file deleted, push the blob again`);
    expect(repair.stdout).toContain(`missing ${digests.missing}: recorded (1500 bytes) but no file in storage: cannot be repaired here, push the blob again`);
    expect(repair.stdout).toContain(`orphan ${orphan}: file (700 bytes) with no blob row: deleted`);
    expect(repair.stdout).toContain(`size_mismatch ${digests.grown}: file has 2300 bytes, 1800 recorded, the first 1800 being the blob: cut to length`);
    expect(repair.stdout).toContain('3 problems remain');
    expect(await registry.hasBlobFile(orphan)).toBe(false);
    // The grown file keeps its blob, cut to length, and is served; the pending completion's file is left for its retry.
    expect(await readFile(file(digests.grown))).toEqual(bytes.grown);
    expect((await client.get(`/v2/verify/app/blobs/${digests.grown}`)).body).toEqual(bytes.grown);
    expect(await readFile(file(pending))).toEqual(pendingBytes);
    expect(await registry.hasBlobFile(digests.corrupt)).toBe(false);
    expect(await registry.hasBlobFile(digests.truncated)).toBe(false);
    // The good file is untouched; the bad blobs are marked missing: GET and the HEAD a client
    // sends before pushing answer BLOB_UNKNOWN, instead of wrong bytes and "already there".
    expect(await readFile(file(digests.good))).toEqual(bytes.good);
    expect((await client.head(`/v2/verify/app/blobs/${digests.good}`)).status).toBe(200);
    for (const digest of [digests.corrupt, digests.truncated, digests.missing]) {
      const res = await client.get(`/v2/verify/app/blobs/${digest}`);
      expect(res.status).toBe(404);
      expect(errorCode(res)).toBe('BLOB_UNKNOWN');
      expect((await client.head(`/v2/verify/app/blobs/${digest}`)).status).toBe(404);
    }
    const marked = await registry.sql(`SELECT digest FROM blobs WHERE missing_since IS NOT NULL ORDER BY digest`);
    expect(marked.map((r) => r.digest)).toEqual([digests.corrupt, digests.truncated, digests.missing].sort());

    // Pushing the bad blobs again heals them; a missing file put back is found good and unmarked.
    for (const key of ['corrupt', 'truncated'] as const) await client.pushBlob('verify/app', bytes[key]);
    for (const key of ['corrupt', 'truncated'] as const) {
      expect((await client.get(`/v2/verify/app/blobs/${digests[key]}`)).body).toEqual(bytes[key]);
      expect((await client.head(`/v2/verify/app/blobs/${digests[key]}`)).status).toBe(200);
    }
    await writeFile(file(digests.missing), bytes.missing);
    const healed = await cli(['verify', '--repair'], env);
    expect(healed.code, healed.stderr).toBe(0);
    expect(healed.stdout).toContain('finished: 5 blobs checked, 5 ok');
    expect((await client.head(`/v2/verify/app/blobs/${digests.missing}`)).status).toBe(200);
    expect(await registry.sql(`SELECT digest FROM blobs WHERE missing_since IS NOT NULL`)).toEqual([]);
    const clean = await cli(['verify'], env);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toContain('finished: 5 blobs checked, 5 ok');
    expect(clean.stdout).toContain('no problems remain');
    text = await metrics();
    expect(sample(text, 'berth_verify_blobs{result="ok"}')).toBe(5);
    expect(sample(text, 'berth_verify_blobs{result="corrupt"}')).toBe(0);
    await registry.sql(`DELETE FROM uploads WHERE digest = $1`, [pending]);
    await rm(dirname(file(pending)), { recursive: true });
  });

  it('continues an interrupted run after its cursor, keeping what it found; --restart starts afresh', { timeout: 120_000 }, async () => {
    const blobs = [randomBlob(900), randomBlob(901), randomBlob(902)];
    for (const blob of blobs) await client.pushBlob('verify/resume', blob);
    const all: { digest: string }[] = await registry.sql(`SELECT digest FROM blobs ORDER BY digest`);
    const cursor = all[1].digest;
    // A run that stopped after the second digest (its process killed while still `running`), having found one problem.
    const [{ id }] = await registry.sql(
      `INSERT INTO verify_runs (status, repair, phase, cursor, blobs_checked, blobs_ok, bytes_checked) VALUES ('running', false, 'blobs', $1, 2, 1, 1800) RETURNING id::text`,
      [cursor],
    );
    await registry.sql(`INSERT INTO verify_findings (run_id, digest, kind, expected_size, outcome) VALUES ($1, $2, 'missing', 900, 'found')`, [id, all[0].digest]);

    const resumed = await cli(['verify'], env);
    expect(resumed.code, resumed.stderr).toBe(1);
    expect(resumed.stdout).toContain(`verify run ${id} resumed in phase blobs after ${cursor} (2 blobs, 0 files checked before)`);
    expect(resumed.stdout).toContain(`finished: ${all.length} blobs checked, ${all.length - 1} ok`);
    expect(resumed.stdout).toContain(`missing ${all[0].digest}`);
    expect(await registry.sql(`SELECT id::text, status, files_checked::int AS files FROM verify_runs`)).toEqual([{ id, status: 'finished', files: all.length }]);

    await registry.sql(`UPDATE verify_runs SET status = 'interrupted', phase = 'files', cursor = $1`, [cursor]);
    const restarted = await cli(['verify', '--restart'], env);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(restarted.stdout).toContain(`verify run ${id} (interrupted) given up: starting afresh`);
    expect(restarted.stdout).toContain(`finished: ${all.length} blobs checked, ${all.length} ok`);
    expect(await registry.sql(`SELECT status FROM verify_runs ORDER BY id`)).toEqual([{ status: 'abandoned' }, { status: 'finished' }]);
  });

  it('refuses unknown options (exit 2) and --repair in read-only mode (exit 1)', { timeout: 60_000 }, async () => {
    const wrong = await cli(['verify', '--fix'], env);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('verify [--repair] [--restart]');
    const readOnly = await cli(['verify', '--repair'], { ...env, READ_ONLY: 'true' });
    expect(readOnly.code).toBe(1);
    expect(readOnly.stderr).toContain('read-only mode: verify may only check');
  });
});

describe.skipIf(!available)('verify on the s3 driver (CLI)', () => {
  let s3: S3TestServer;
  let registry: InProcessRegistry;
  let driver: StorageDriver;
  let env: Record<string, string>;

  beforeAll(async () => {
    s3 = await S3TestServer.start();
    const storage = { ...s3.env('verify/'), STORAGE_REDIRECT: 'false' };
    registry = await startInProcessRegistry({ storageDriver: 'filesystem', env: { ...storage, GC_SCHEDULE: 'off', UPLOAD_PURGE_SCHEDULE: 'off' } });
    driver = new S3Driver(s3.settings('verify/'));
    env = { DATABASE_URL: registry.database!.url, DATA_DIR: registry.dataDir, LOG_LEVEL: 'warn', ...storage };
  });
  afterAll(async () => {
    await registry?.close();
    await s3?.stop();
  });

  /** Puts `bytes` at a blob's path the way the registry does: a staged upload moved into place. */
  async function place(digest: string, bytes: Buffer): Promise<void> {
    const staging = `uploads/${randomUUID()}/data`;
    const writer = await driver.writer(staging, 0);
    await writer.write(Readable.from([bytes]));
    await writer.commit();
    await driver.move(staging, blobDataPath(digest));
  }

  it('finds a corrupt, a missing, a grown and an orphan object; --repair removes the bad ones and overwrites the grown one with its blob', { timeout: 120_000 }, async () => {
    const client = new RegistryClient(registry.url, registry.admin);
    const good = randomBlob(1200);
    const corrupt = randomBlob(1300);
    const missing = randomBlob(1400);
    const [goodDigest, corruptDigest, missingDigest] = [await client.pushBlob('s3/app', good), await client.pushBlob('s3/app', corrupt), await client.pushBlob('s3/app', missing)];
    const flipped = Buffer.from(corrupt);
    flipped[0] ^= 0xff;
    await place(corruptDigest, flipped);
    await driver.delete(blobDataPath(missingDigest));
    const orphanBytes = randomBlob(600);
    const orphan = sha256(orphanBytes);
    await place(orphan, orphanBytes);
    const grown = randomBlob(1100);
    const grownDigest = await client.pushBlob('s3/app', grown);
    await place(grownDigest, Buffer.concat([grown, randomBlob(300)]));

    const check = await cli(['verify'], env);
    expect(check.code, check.stderr).toBe(1);
    expect(check.stdout).toContain('finished: 4 blobs checked, 1 ok');
    expect(check.stdout).toContain(`size_mismatch ${grownDigest}: file has 1400 bytes, 1100 recorded, the first 1100 being the blob`);
    expect(check.stdout).toContain(`corrupt ${corruptDigest}: file hashes to ${sha256(flipped)}`);
    expect(check.stdout).toContain(`missing ${missingDigest}`);
    expect(check.stdout).toContain(`orphan ${orphan}: file (600 bytes) with no blob row`);

    const repair = await cli(['verify', '--repair'], env);
    expect(repair.code, repair.stderr).toBe(1);
    expect(repair.stdout).toContain('2 problems remain');
    expect(await driver.stat(blobDataPath(orphan))).toBeNull();
    expect(await driver.stat(blobDataPath(corruptDigest))).toBeNull();
    expect(await driver.stat(blobDataPath(goodDigest))).toMatchObject({ size: 1200 });
    expect((await client.head(`/v2/s3/app/blobs/${corruptDigest}`)).status).toBe(404);
    expect(repair.stdout).toContain(`size_mismatch ${grownDigest}: file has 1400 bytes, 1100 recorded, the first 1100 being the blob: cut to length`);
    expect(await driver.stat(blobDataPath(grownDigest))).toMatchObject({ size: 1100 });
    expect((await client.get(`/v2/s3/app/blobs/${grownDigest}`)).body).toEqual(grown);
  });
});

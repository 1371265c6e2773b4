/**
 * Starting and reading garbage collections: the admin API (administrators only, one run
 * at a time, audited) and the CLI (`gc`, `purge-uploads`, run through tsx against the
 * same database and storage).
 */
import pg from 'pg';
import { RegistryClient, buildImage, sha256 } from '../support/http.js';
import { Api, createUser, expectApiError, expectStatus } from '../admin/support.js';
import { type GcRegistry, cli, gcSuiteAvailable, sleep, startGcRegistry } from './support.js';

const available = await gcSuiteAvailable('gc/api-cli');
describe.skipIf(!available)('garbage collection: admin API and CLI', () => {
  let registry: GcRegistry;
  let admin: Api;

  beforeAll(async () => {
    registry = await startGcRegistry({ GC_REVIEW_DELAY_SECONDS: '1' });
    admin = await Api.login(registry.url, registry.admin);
  });
  afterAll(async () => {
    await registry?.close();
  });

  it('is for administrators only', async () => {
    const anonymous = new Api(registry.url);
    expectApiError(await anonymous.post('/system/gc', {}), 401);
    expectApiError(await anonymous.request('GET', '/api/v1/system/gc'), 401);
    const { api: user } = await createUser(admin, 'gcuser');
    expectApiError(await user.post('/system/gc', {}), 403);
    expectApiError(await user.get('/system/gc'), 403);
    expectApiError(await user.get('/system/gc/1'), 403);
    expect(await registry.sql('SELECT count(*)::int AS n FROM gc_runs')).toEqual([{ n: 0 }]);
  });

  it('starts a run in the background (202), lists and shows it, audits the start', async () => {
    const started = expectStatus(await admin.post('/system/gc', { dryRun: true, deleteUntagged: true }), 202);
    expect(started).toMatchObject({ id: expect.any(String), status: 'running', trigger: 'api', dryRun: true, deleteUntagged: true, requestedBy: 'admin' });
    await vi.waitFor(async () => expect(expectStatus(await admin.get(`/system/gc/${started.id}`), 200).status).toBe('succeeded'), { timeout: 10_000 });
    const run = expectStatus(await admin.get(`/system/gc/${started.id}`), 200);
    expect(run).toMatchObject({ blobsDeleted: 0, manifestsDeleted: 0, bytesFreed: 0, error: null, finishedAt: expect.any(String) });
    const page = expectStatus(await admin.get('/system/gc?page=1&perPage=5'), 200);
    expect(page).toMatchObject({ page: 1, perPage: 5, total: 1, items: [{ id: started.id }] });
    const audit = expectStatus(await admin.get('/audit?action=gc'), 200);
    expect(audit.items[0]).toMatchObject({ actor: 'admin', action: 'gc.start', target: `gc:${started.id}`, detail: { dryRun: true, deleteUntagged: true } });
  });

  it('refuses bad bodies and ids', async () => {
    expectApiError(await admin.post('/system/gc', { dryRun: 'yes' }), 400, 'dryRun');
    expectApiError(await admin.post('/system/gc', { everything: true }), 400);
    expectApiError(await admin.get('/system/gc/not-a-number'), 400);
    expectApiError(await admin.get('/system/gc/424242'), 404);
  });

  it('runs one collection at a time: 409 while another holds the lock', async () => {
    // The lock a run in another process would hold.
    const other = new pg.Client({ connectionString: registry.databaseUrl });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1, 0)', [0x6763]);
      expectApiError(await admin.post('/system/gc', {}), 409);
      await other.query('SELECT pg_advisory_unlock($1, 0)', [0x6763]);
      const started = expectStatus(await admin.post('/system/gc', {}), 202);
      await vi.waitFor(async () => expect(expectStatus(await admin.get(`/system/gc/${started.id}`), 200).status).toBe('succeeded'), { timeout: 10_000 });
    } finally {
      await other.end();
    }
  });

  it('starts the next run while the last one, already recorded as finished, still lets its lock go', async () => {
    // A run records its end, then releases the lock: a client that saw it finish may start the next one in between.
    const other = new pg.Client({ connectionString: registry.databaseUrl });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1, 0)', [0x6763]);
      const releasing = new Promise((resolve) => setTimeout(resolve, 300)).then(() => other.query('SELECT pg_advisory_unlock($1, 0)', [0x6763]));
      const started = expectStatus(await admin.post('/system/gc', { dryRun: true }), 202);
      await releasing;
      await vi.waitFor(async () => expect(expectStatus(await admin.get(`/system/gc/${started.id}`), 200).status).toBe('succeeded'), { timeout: 10_000 });
    } finally {
      await other.end();
    }
  });

  it('CLI: gc --dry-run reports, gc frees, purge-uploads purges', { timeout: 60_000 }, async () => {
    const c = new RegistryClient(registry.url, registry.admin);
    const image = await c.pushImage('cli/app', 'old', buildImage({ layers: 1, layerSize: 1500 }));
    expect((await c.delete('/v2/cli/app/manifests/old')).status).toBe(202);
    await sleep(1200);
    const env = { DATABASE_URL: registry.databaseUrl, DATA_DIR: registry.dataDir, GC_REVIEW_DELAY_SECONDS: '1', LOG_LEVEL: 'warn' };
    const bytes = image.blobs.reduce((sum, b) => sum + b.length, 0);

    const dry = await cli(['gc', '--dry-run', '--delete-untagged'], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('succeeded (dry run)');
    expect(dry.stdout).toContain(`would free ${bytes} bytes`);
    expect(dry.stdout).toContain('blobs: 2, manifests: 1');
    for (const blob of image.blobs) expect(await registry.hasBlobFile(sha256(blob))).toBe(true);

    const real = await cli(['gc', '--delete-untagged'], env);
    expect(real.code, real.stderr).toBe(0);
    expect(real.stdout).toContain(`freed ${bytes} bytes`);
    for (const blob of image.blobs) expect(await registry.hasBlobFile(sha256(blob))).toBe(false);
    const rows = await registry.sql(`SELECT dry_run AS "dryRun", bytes_freed::int AS bytes FROM gc_runs WHERE trigger = 'cli' ORDER BY id`);
    expect(rows).toEqual([
      { dryRun: true, bytes },
      { dryRun: false, bytes },
    ]);

    const purge = await cli(['purge-uploads'], env);
    expect(purge.code, purge.stderr).toBe(0);
    expect(purge.stdout).toContain('purged 0 stale upload sessions');

    const wrong = await cli(['gc', '--everything'], env);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('usage:');
  });
});

/**
 * `npm run bench -- scale`: what Berth's common operations cost as the registry grows, and
 * how fast garbage collection frees blobs. See the "Scale" section of test/bench/README.md.
 *
 * 1. One Berth on a fresh Postgres database: each operation is timed on the (nearly) empty
 *    registry, then the database is seeded with straight SQL to the issue's size and the
 *    same operations are timed again; the figure is the ratio seeded / empty (target ≤ 2).
 * 2. GC delete rate: unreferenced blobs (rows and files) on the filesystem driver, then on
 *    S3 (the project's s3rver test server), collected through the admin API, with a small
 *    push timed over and over while the collection runs.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { S3TestServer } from '../../libs/storage/src/s3/testing/s3-test-server.js';
import { errorMessage, isInterrupted, Scope } from './cleanup.js';
import { loadConfig, type BenchConfig } from './config.js';
import { bigTag, seedRegistry, seedShape, seededRepository } from './scale-seed.js';
import { freePort, startServer, waitForRegistry } from './server-process.js';

const BIG = 'scale/big';
const QUOTA_NAMESPACE = 'ns00';
const QUOTA_REPO = `${QUOTA_NAMESPACE}/probe`;
const PUSH_REPO = 'scale/push';
/** Repositories of the empty registry, so its catalog page is as full as the seeded one's. */
const CATALOG_REPOS = Array.from({ length: 120 }, (_, i) => `cat/r-${String(i).padStart(3, '0')}`);
const ADMIN = { username: 'scale-admin', password: randomBytes(18).toString('base64url') };

interface Server {
  baseUrl: string;
  databaseUrl: string;
  dataDir: string;
  token: string;
  api(method: string, path: string, body?: unknown): Promise<Response>;
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Berth on a fresh database (migrated at start-up), with no schedule of its own. */
async function startBerth(config: BenchConfig, scope: Scope, env: Record<string, string>): Promise<Server> {
  const name = `berth_scale_${randomBytes(6).toString('hex')}`;
  await withClient(config.adminDatabaseUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  // BENCH_SCALE_KEEP_DB=1 keeps it, to look at plans afterwards (EXPLAIN); drop it by hand.
  if (process.env.BENCH_SCALE_KEEP_DB === '1') console.log(`  keeping database ${name}`);
  else scope.defer(`drop database ${name}`, () => withClient(config.adminDatabaseUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined));
  const databaseUrl = Object.assign(new URL(config.adminDatabaseUrl), { pathname: `/${name}` }).toString();
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-scale-'));
  scope.defer('remove DATA_DIR', () => rm(dataDir, { recursive: true, force: true, maxRetries: 3 }));
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    STORAGE_DRIVER: 'filesystem',
    LOG_LEVEL: 'warn',
    AUTO_CREATE_NAMESPACES: 'true',
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    TOKEN_TTL_SECONDS: '3600',
    GC_SCHEDULE: 'off',
    UPLOAD_PURGE_SCHEDULE: 'off',
    // One token for every repository the bench uses (the catalog's 120 among them).
    TOKEN_MAX_SCOPES: '200',
    ...env,
  };
  delete childEnv.REDIS_URL;
  const server = startServer(scope, 'Berth', process.execPath, ['--max-semi-space-size=8', config.berthMain], { env: childEnv, cwd: config.repoRoot });
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitForRegistry(server, baseUrl, 60_000);

  const tokenUrl = new URL('/auth/token', baseUrl);
  tokenUrl.searchParams.set('service', 'berth-registry');
  for (const repo of [BIG, QUOTA_REPO, PUSH_REPO, ...CATALOG_REPOS]) tokenUrl.searchParams.append('scope', `repository:${repo}:pull,push`);
  tokenUrl.searchParams.append('scope', 'registry:catalog:*');
  const basic = `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`;
  const tokenRes = await fetch(tokenUrl, { headers: { authorization: basic } });
  if (!tokenRes.ok) throw new Error(`token endpoint answered ${tokenRes.status}`);
  const { token } = (await tokenRes.json()) as { token: string };
  const login = await fetch(`${baseUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
  if (login.status !== 200) throw new Error(`admin login answered ${login.status}`);
  const apiToken = ((await login.json()) as { token: string }).token;
  const api = (method: string, path: string, body?: unknown) =>
    fetch(`${baseUrl}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${apiToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  return { baseUrl, databaseUrl, dataDir, token, api };
}

async function call(server: Server, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Response> {
  const url = path.startsWith('http') ? path : `${server.baseUrl}${path}`;
  return fetch(url, { method, headers: { authorization: `Bearer ${server.token}`, ...headers }, body: body as BodyInit | undefined });
}

async function expectStatus(res: Response, status: number, what: string): Promise<Response> {
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${(await res.text()).slice(0, 300)}`);
  return res;
}

/** POST + monolithic PUT of one blob. */
async function pushBlob(server: Server, repo: string, bytes: Buffer): Promise<void> {
  const started = await expectStatus(await call(server, 'POST', `/v2/${repo}/blobs/uploads/`), 202, `POST upload ${repo}`);
  await started.arrayBuffer();
  const location = new URL(started.headers.get('location')!, server.baseUrl);
  location.searchParams.set('digest', sha256(bytes));
  const done = await expectStatus(await call(server, 'PUT', location.toString(), bytes, { 'content-type': 'application/octet-stream' }), 201, `PUT blob ${repo}`);
  await done.arrayBuffer();
}

/** A small image (config + one layer) pushed and tagged with every tag in `tags`. */
async function pushImage(server: Server, repo: string, tags: string[]): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }));
  const layer = randomBytes(1024);
  await pushBlob(server, repo, config);
  await pushBlob(server, repo, layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }),
  );
  for (const tag of tags) {
    const res = await call(server, 'PUT', `/v2/${repo}/manifests/${tag}`, manifest, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
    await (await expectStatus(res, 201, `PUT manifest ${repo}:${tag}`)).arrayBuffer();
  }
}

interface Timing {
  median: number;
  p90: number;
  min: number;
  max: number;
}

function summarize(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { median: at(0.5), p90: at(0.9), min: sorted[0], max: sorted[sorted.length - 1] };
}

/** `runs` timed calls of `op` (ms) after `warmup` untimed ones, one at a time. */
async function time(op: (i: number) => Promise<void>, runs: number, warmup = 5): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await op(-1 - i);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await op(i);
    samples.push(performance.now() - started);
  }
  return summarize(samples);
}

interface Operation {
  name: string;
  runs: number;
  run: (server: Server, i: number) => Promise<void>;
}

/** The same operations on the empty and the seeded registry; `deep` picks where in the big listings they read. */
function operations(deep: { tag: string; repository: string }): Operation[] {
  const get = (path: string, accept?: string) => async (server: Server) => {
    const res = await call(server, 'GET', path, undefined, accept ? { accept } : {});
    await (await expectStatus(res, 200, `GET ${path}`)).arrayBuffer();
  };
  return [
    { name: 'manifest GET by tag', runs: 300, run: (s, i) => get(`/v2/${BIG}/manifests/${deep.tag}`, 'application/vnd.oci.image.manifest.v1+json')(s) },
    { name: 'tags list page (n=100, last deep)', runs: 200, run: get(`/v2/${BIG}/tags/list?n=100&last=${deep.tag}`) },
    { name: 'catalog page (n=100, last deep)', runs: 200, run: get(`/v2/_catalog?n=100&last=${encodeURIComponent(deep.repository)}`) },
    { name: 'blob upload (POST + PUT, 1 KiB)', runs: 150, run: (s) => pushBlob(s, PUSH_REPO, randomBytes(1024)) },
    { name: 'blob upload into a quota namespace', runs: 150, run: (s) => pushBlob(s, QUOTA_REPO, randomBytes(1024)) },
  ];
}

/** A dry-run collection through the admin API, timed by the run's own start and finish. */
async function gcDryRun(server: Server, deleteUntagged: boolean): Promise<{ ms: number; blobs: number; links: number; manifests: number }> {
  // A run reads as succeeded just before it releases the collection lock: the next one may find it still held (409).
  let res = await server.api('POST', '/system/gc', { dryRun: true, deleteUntagged });
  for (let retries = 0; res.status === 409 && retries < 100; retries++) {
    await res.arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 20));
    res = await server.api('POST', '/system/gc', { dryRun: true, deleteUntagged });
  }
  const started = await expectStatus(res, 202, 'start gc');
  const { id } = (await started.json()) as { id: string };
  for (;;) {
    const run = (await (await server.api('GET', `/system/gc/${id}`)).json()) as {
      status: string;
      startedAt: string;
      finishedAt: string | null;
      blobsDeleted: number;
      linksDeleted: number;
      manifestsDeleted: number;
      error: string | null;
    };
    if (run.status === 'failed') throw new Error(`gc failed: ${run.error}`);
    if (run.status === 'succeeded') {
      return { ms: Date.parse(run.finishedAt!) - Date.parse(run.startedAt), blobs: run.blobsDeleted, links: run.linksDeleted, manifests: run.manifestsDeleted };
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function measure(server: Server, deep: { tag: string; repository: string }, log: (line: string) => void): Promise<Map<string, Timing>> {
  const figures = new Map<string, Timing>();
  for (const op of operations(deep)) {
    const timing = await time((i) => op.run(server, i), op.runs);
    figures.set(op.name, timing);
    log(`${op.name}: median ${ms(timing.median)} ms, p90 ${ms(timing.p90)} ms (${op.runs} runs)`);
  }
  // The exact recount a push makes when the running count is unknown (after a quota change or a seeding).
  const recountSamples: number[] = [];
  for (let i = 0; i < 5; i++) {
    await withClient(server.databaseUrl, (c) => c.query('UPDATE namespaces SET quota_counted_bytes = NULL WHERE name = $1', [QUOTA_NAMESPACE]));
    const started = performance.now();
    await pushBlob(server, QUOTA_REPO, randomBytes(1024));
    recountSamples.push(performance.now() - started);
  }
  const recount = summarize(recountSamples);
  figures.set('quota recount (push after the count is reset)', recount);
  log(`quota recount (push after the count is reset): median ${ms(recount.median)} ms, p90 ${ms(recount.p90)} ms (5 runs)`);
  const gcSamples: number[] = [];
  let found = '';
  // Three runs, or one when a run takes over 10 s (the seeded registry's), to keep the bench in minutes.
  for (let i = 0; i < 3 && !(i > 0 && gcSamples[0] > 10_000); i++) {
    const run = await gcDryRun(server, false);
    gcSamples.push(run.ms);
    found = `${run.links} links, ${run.blobs} blobs`;
  }
  const gc = summarize(gcSamples);
  figures.set('GC candidate search (dry run)', gc);
  log(`GC candidate search (dry run): median ${ms(gc.median)} ms, range ${ms(gc.min)}-${ms(gc.max)} ms (${gcSamples.length} runs; found ${found})`);
  return figures;
}

async function scaleFigures(config: BenchConfig, log: (line: string) => void): Promise<void> {
  const factor = Number(process.env.BENCH_SCALE_FACTOR ?? '1');
  const shape = seedShape(factor);
  const scope = new Scope('scale');
  try {
    const server = await startBerth(config, scope, {});
    // The empty registry: the big repository's first tags, a quota namespace, the push repository.
    await withClient(server.databaseUrl, (c) =>
      c.query(`INSERT INTO namespaces (name, kind, quota_bytes) VALUES ($1, 'organization', $2)`, [QUOTA_NAMESPACE, 1024 ** 5]),
    );
    await pushImage(server, BIG, Array.from({ length: shape.existingTags }, (_, i) => bigTag(i + 1)));
    await pushImage(server, QUOTA_REPO, ['latest']);
    await pushImage(server, PUSH_REPO, ['latest']);
    for (const repo of CATALOG_REPOS) await pushImage(server, repo, ['latest']);

    log(`empty registry (${CATALOG_REPOS.length + 3} repositories, ${shape.existingTags} tags in ${BIG}):`);
    const empty = await measure(server, { tag: bigTag(shape.existingTags / 2), repository: CATALOG_REPOS[10] }, (l) => log(`  ${l}`));

    log(`seeding (BENCH_SCALE_FACTOR=${factor}):`);
    const seedStarted = performance.now();
    const connect = async () => {
      const client = new pg.Client({ connectionString: server.databaseUrl });
      await client.connect();
      return client;
    };
    const counts = await seedRegistry(connect, shape, BIG, (l) => log(`  ${l}`));
    // The running count no longer covers what was seeded into the namespace.
    await withClient(server.databaseUrl, (c) => c.query('UPDATE namespaces SET quota_counted_bytes = NULL WHERE name = $1', [QUOTA_NAMESPACE]));
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    log(
      `  seeded in ${seedSeconds.toFixed(0)}s: ${counts.repositories} repositories, ${counts.manifests} manifests, ${counts.references} references, ` +
        `${counts.blobs} blobs, ${counts.links} blob links, ${counts.tags} tags (${shape.bigRepositoryTags} in ${BIG})`,
    );

    log('seeded registry:');
    const seeded = await measure(
      server,
      { tag: bigTag(Math.round(shape.bigRepositoryTags / 2)), repository: seededRepository(Math.round(shape.repositories / 2), shape.namespaces) },
      (l) => log(`  ${l}`),
    );

    log('ratio seeded / empty (median; target ≤ 2):');
    for (const [name, before] of empty) {
      const after = seeded.get(name)!;
      const ratio = after.median / before.median;
      log(`  ${name.padEnd(48)} ${ms(before.median).padStart(7)} ms → ${ms(after.median).padStart(7)} ms  ${ratio.toFixed(2)}×${ratio > 2 ? '  (over 2×)' : ''}`);
    }
  } finally {
    await scope.close();
  }
}

/** Files and rows of `count` blobs nothing links or references (written in parallel batches). */
async function seedUnreferencedBlobs(
  server: Server,
  count: number,
  store: (digest: string, bytes: Buffer) => Promise<void>,
): Promise<void> {
  const digests: string[] = [];
  for (let i = 0; i < count; i += 64) {
    const batch = Array.from({ length: Math.min(64, count - i) }, () => randomBytes(256));
    await Promise.all(
      batch.map((bytes) => {
        const digest = sha256(bytes);
        digests.push(digest);
        return store(digest, bytes);
      }),
    );
  }
  await withClient(server.databaseUrl, (c) => c.query('INSERT INTO blobs (digest, size) SELECT d, 256 FROM unnest($1::text[]) AS d', [digests]));
}

/** A real collection of the seeded blobs, with a small push timed over and over beside it. */
async function gcRate(server: Server, driver: string, count: number, log: (line: string) => void): Promise<void> {
  const pushOnce = async () => {
    const started = performance.now();
    await pushBlob(server, PUSH_REPO, randomBytes(1024));
    return performance.now() - started;
  };
  for (let i = 0; i < 5; i++) await pushOnce();
  const idle: number[] = [];
  for (let i = 0; i < 50; i++) idle.push(await pushOnce());

  const started = await expectStatus(await server.api('POST', '/system/gc', { dryRun: false }), 202, 'start gc');
  const { id } = (await started.json()) as { id: string };
  const during: number[] = [];
  let run: { status: string; startedAt: string; finishedAt: string | null; blobsDeleted: number; error: string | null };
  for (;;) {
    run = (await (await server.api('GET', `/system/gc/${id}`)).json()) as typeof run;
    if (run.status !== 'running') break;
    during.push(await pushOnce());
  }
  if (run.status !== 'succeeded') throw new Error(`gc ${run.status}: ${run.error}`);
  const seconds = (Date.parse(run.finishedAt!) - Date.parse(run.startedAt)) / 1000;
  const a = summarize(idle);
  const b = during.length ? summarize(during) : null;
  log(`${driver}: ${run.blobsDeleted} of ${count} blobs deleted in ${seconds.toFixed(2)}s: ${(run.blobsDeleted / seconds).toFixed(0)} blobs/s (whole run, orphan listing included)`);
  log(
    `${driver}: small push (POST + PUT 1 KiB) idle median ${ms(a.median)} ms p90 ${ms(a.p90)} ms; during GC ` +
      (b ? `median ${ms(b.median)} ms p90 ${ms(b.p90)} ms max ${ms(b.max)} ms (${during.length} pushes)` : 'no push fitted in the run'),
  );
}

async function gcFigures(config: BenchConfig, log: (line: string) => void): Promise<void> {
  const count = Number(process.env.BENCH_GC_BLOBS ?? '20000');
  const drivers = (process.env.BENCH_GC_DRIVERS ?? 'filesystem,s3').split(',');
  if (drivers.includes('filesystem')) {
    const scope = new Scope('gc-filesystem');
    try {
      const server = await startBerth(config, scope, {});
      await pushImage(server, PUSH_REPO, ['latest']);
      const root = join(server.dataDir, 'storage');
      await seedUnreferencedBlobs(server, count, async (digest, bytes) => {
        const hex = digest.slice('sha256:'.length);
        const dir = join(root, 'blobs', 'sha256', hex.slice(0, 2), hex);
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'data'), bytes);
      });
      await gcRate(server, 'filesystem', count, log);
    } finally {
      await scope.close();
    }
  }
  if (drivers.includes('s3')) {
    const scope = new Scope('gc-s3');
    try {
      const s3 = await S3TestServer.start();
      scope.defer('stop s3rver', () => s3.stop());
      const prefix = 'scale/';
      const server = await startBerth(config, scope, s3.env(prefix));
      await pushImage(server, PUSH_REPO, ['latest']);
      const settings = s3.settings(prefix);
      const client = new S3Client({ region: settings.region, endpoint: settings.endpoint, forcePathStyle: true });
      scope.defer('close S3 client', () => client.destroy());
      await seedUnreferencedBlobs(server, count, async (digest, bytes) => {
        const hex = digest.slice('sha256:'.length);
        const key = `${prefix}blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
        await client.send(new PutObjectCommand({ Bucket: settings.bucket, Key: key, Body: bytes, ContentLength: bytes.length }));
      });
      await gcRate(server, 's3 (s3rver)', count, log);
    } finally {
      await scope.close();
    }
  }
}

export async function runScaleBench(): Promise<number> {
  const config = loadConfig();
  if (!config.skipBuild) {
    // Rebuilds only when dist/ is older than the sources.
    const build = spawnSync(process.execPath, ['scripts/build.mjs', '--if-stale'], { cwd: config.repoRoot, stdio: 'inherit' });
    if (build.status !== 0) {
      console.error('scale bench: the build failed');
      return 1;
    }
  }
  const log = (line: string) => console.log(`  ${line}`);
  const parts = (process.env.BENCH_SCALE_PARTS ?? 'figures,gc').split(',');
  try {
    if (parts.includes('figures')) {
      console.log('\n== Scale: cost as the registry grows');
      await scaleFigures(config, log);
    }
    if (parts.includes('gc') && !isInterrupted()) {
      console.log('\n== Scale: GC delete rate');
      await gcFigures(config, log);
    }
    return 0;
  } catch (err) {
    console.error(`scale bench failed: ${errorMessage(err)}`);
    return 1;
  }
}

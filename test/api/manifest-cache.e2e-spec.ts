/**
 * The manifest cache (ManifestCache): lookups by tag or digest are served from memory
 * while the replica LISTENs on `berth_manifests`, and must never change an answer beyond
 * the notification's delay: a change on another replica is seen within 1 s, a change on
 * the same replica at once, and while the listener is down nothing is served from it.
 * Two in-process registries on one database.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, buildImage, e2eAvailable, externalRegistry } from '../support/http.js';
import { type InProcessRegistry, startInProcessRegistry } from '../support/registry.js';
import { sample } from '../observability/support.js';

const available = !externalRegistry && (await e2eAvailable('api/manifest-cache'));
const BOUND_MS = 1_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!available)('manifest cache', () => {
  const env = { RUN_WORKERS: 'false' };
  let a: InProcessRegistry;
  let b: InProcessRegistry;
  let ca: RegistryClient;
  let cb: RegistryClient;
  let db: pg.Client;

  beforeAll(async () => {
    a = await startInProcessRegistry({ env });
    b = await startInProcessRegistry({ embedded: true, env: { ...env, DATABASE_URL: a.database!.url } });
    ca = new RegistryClient(a.url);
    cb = new RegistryClient(b.url, ca.auth);
    db = new pg.Client({ connectionString: a.database!.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await b?.close();
    await a?.close();
  });

  async function lookups(registry: InProcessRegistry): Promise<{ hit: number; miss: number; bypass: number }> {
    const text = await (await fetch(`${registry.url}/metrics`)).text();
    const of = (result: string) => sample(text, `berth_manifest_cache_total{result="${result}"}`)!;
    return { hit: of('hit'), miss: of('miss'), bypass: of('bypass') };
  }

  /** The digest `client` answers for repo:ref (undefined on 404). */
  async function digestOn(client: RegistryClient, repo: string, ref: string): Promise<string | undefined> {
    const res = await client.get(`/v2/${repo}/manifests/${ref}`, { headers: { Accept: buildImage().mediaType } });
    if (res.status === 404) return undefined;
    expect(res.status, res.text).toBe(200);
    return res.headers.get('docker-content-digest') ?? undefined;
  }

  /** Looks until `client` answers `expected`, failing past the bound. */
  async function seen(client: RegistryClient, repo: string, ref: string, expected: string | undefined): Promise<number> {
    const start = Date.now();
    while ((await digestOn(client, repo, ref)) !== expected) {
      expect(Date.now() - start, `${repo}:${ref} still stale after ${BOUND_MS} ms`).toBeLessThan(BOUND_MS);
      await sleep(20);
    }
    return Date.now() - start;
  }

  it('serves a second lookup from memory', async () => {
    const repo = 'cache/hit';
    const image = await ca.pushImage(repo, 'v1');
    const before = await lookups(a);
    expect(await digestOn(ca, repo, 'v1')).toBe(image.digest);
    expect(await digestOn(ca, repo, 'v1')).toBe(image.digest);
    expect(await digestOn(ca, repo, image.digest)).toBe(image.digest);
    expect(await digestOn(ca, repo, image.digest)).toBe(image.digest);
    const after = await lookups(a);
    expect(after.miss - before.miss).toBe(2);
    expect(after.hit - before.hit).toBe(2);
    expect(after.bypass).toBe(before.bypass);
  });

  it('serves from memory with the embedded database too, and a change made there is seen at once', async () => {
    const embedded = await startInProcessRegistry({ embedded: true, env });
    try {
      const client = new RegistryClient(embedded.url);
      const repo = 'cache/embedded';
      const first = await client.pushImage(repo, 'v1');
      const before = await lookups(embedded);
      expect(await digestOn(client, repo, 'v1')).toBe(first.digest);
      expect(await digestOn(client, repo, 'v1')).toBe(first.digest);
      const after = await lookups(embedded);
      expect([after.miss - before.miss, after.hit - before.hit, after.bypass - before.bypass]).toEqual([1, 1, 0]);
      const second = await client.pushImage(repo, 'v1', buildImage());
      expect(await digestOn(client, repo, 'v1')).toBe(second.digest);
    } finally {
      await embedded.close();
    }
  });

  it('a tag moved on one replica is seen moved on the other within 1 s', async () => {
    const repo = 'cache/moved';
    const first = await ca.pushImage(repo, 'latest');
    expect(await digestOn(cb, repo, 'latest')).toBe(first.digest);
    expect(await digestOn(cb, repo, 'latest')).toBe(first.digest);
    const second = await ca.pushImage(repo, 'latest', buildImage());
    console.log(`tag move seen on the other replica after ${await seen(cb, repo, 'latest', second.digest)} ms`);
  });

  it('a manifest deleted on one replica is 404 on the other, by digest and by tag', async () => {
    const repo = 'cache/deleted';
    const image = await ca.pushImage(repo, 'gone');
    for (let i = 0; i < 2; i++) {
      expect(await digestOn(cb, repo, image.digest)).toBe(image.digest);
      expect(await digestOn(cb, repo, 'gone')).toBe(image.digest);
    }
    expect((await ca.delete(`/v2/${repo}/manifests/${image.digest}`)).status).toBe(202);
    await seen(cb, repo, image.digest, undefined);
    await seen(cb, repo, 'gone', undefined);
  });

  it('a tag re-pushed on a replica is seen at once on that replica', async () => {
    const repo = 'cache/own-writes';
    const images = [await ca.pushImage(repo, 'x'), await ca.pushImage(repo, 'y', buildImage())];
    for (let i = 0; i < 50; i++) {
      const image = images[i % 2];
      // Lookups racing the PUT may fill the cache with the old digest: they must not survive it.
      const racing = Promise.all([digestOn(ca, repo, 'moving'), digestOn(ca, repo, 'moving')]);
      const res = await ca.pushManifest(repo, 'moving', image.manifestBytes, image.mediaType);
      expect(res.status).toBe(201);
      await racing;
      expect(await digestOn(ca, repo, 'moving')).toBe(image.digest);
    }
    expect((await ca.delete(`/v2/${repo}/manifests/moving`)).status).toBe(202);
    expect(await digestOn(ca, repo, 'moving')).toBeUndefined();
  });

  it('is bypassed while its listener is cut off, and serves again once it is back', async () => {
    const repo = 'cache/listener';
    const first = await ca.pushImage(repo, 'v');
    expect(await digestOn(cb, repo, 'v')).toBe(first.digest);
    // Cut off every listener of this database (both replicas'), then change the tag.
    const killed = await db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'berth-manifest-cache' AND datname = current_database()`);
    expect(killed.rowCount).toBe(2);
    // Noticed within a few ms; the reconnect waits 100 ms first.
    const start = Date.now();
    for (let before = await lookups(b); ; before = await lookups(b)) {
      await digestOn(cb, repo, 'v');
      if ((await lookups(b)).bypass > before.bypass) break;
      expect(Date.now() - start, 'the cache was not bypassed').toBeLessThan(BOUND_MS);
    }
    const second = await ca.pushImage(repo, 'v', buildImage());
    // Either bypassed still or, if back, cleared on re-subscribing: never the old digest.
    expect(await digestOn(cb, repo, 'v')).toBe(second.digest);
    for (;;) {
      const before = await lookups(b);
      await digestOn(cb, repo, 'v');
      if ((await lookups(b)).hit > before.hit) break;
      expect(Date.now() - start, 'the cache did not come back').toBeLessThan(5_000);
      await sleep(50);
    }
    const third = await ca.pushImage(repo, 'v', buildImage());
    await seen(cb, repo, 'v', third.digest);
  });
});

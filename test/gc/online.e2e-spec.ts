/**
 * Garbage collection while people push: several clients push continuously (fresh
 * layers, layers shared between images and repositories, multi-arch indexes, pushes
 * that pause between their blobs and their manifest, tags deleted behind them) while
 * collections with deleteUntagged run back to back. The review delay is short, but
 * longer than any pause between a push's blobs and its manifest, which is what the
 * design relies on. Afterwards every image still tagged is pulled back whole.
 */
import { randomBytes } from 'node:crypto';
import { RegistryClient, buildImage, buildIndex, sha256, type TestImage } from '../support/http.js';
import { type GcRegistry, gcSuiteAvailable, sleep, startGcRegistry } from './support.js';

const available = await gcSuiteAvailable('gc/online');

const REVIEW_DELAY_SECONDS = 2;
/** The longest pause a pusher makes between its blobs and its manifest: below the delay. */
const MAX_PAUSE_MS = 1200;
const PUSHERS = 4;
const DURATION_MS = 15_000;

interface Pushed {
  repo: string;
  tag: string;
  manifestDigest: string;
  /** Every manifest under it (itself, or an index's children) with its blobs. */
  images: TestImage[];
}

describe.skipIf(!available)('garbage collection during continuous pushes', () => {
  let registry: GcRegistry;

  beforeAll(async () => {
    registry = await startGcRegistry({ GC_REVIEW_DELAY_SECONDS: String(REVIEW_DELAY_SECONDS) });
  });
  afterAll(async () => {
    await registry?.close();
  });

  it('loses nothing that was pushed, and frees what deleted tags left', { timeout: 120_000 }, async () => {
    const shared = Array.from({ length: 3 }, () => randomBytes(4096));
    const deadline = Date.now() + DURATION_MS;
    const kept: Pushed[] = [];
    let pushes = 0;

    /** An image with one fresh layer and one of the shared layers. */
    const image = (extra: Buffer): TestImage => {
      const base = buildImage({ layers: 1, layerSize: 2048 });
      const layers = [base.layers[0], extra];
      const manifest = {
        ...base.manifest,
        layers: layers.map((l) => ({ mediaType: base.manifest.layers[0].mediaType, digest: sha256(l), size: l.length })),
      };
      const bytes = Buffer.from(JSON.stringify(manifest));
      return { ...base, layers, blobs: [base.config, ...layers], manifest, manifestBytes: bytes, digest: sha256(bytes), descriptor: { mediaType: base.mediaType, digest: sha256(bytes), size: bytes.length } };
    };

    const pushBlobs = async (c: RegistryClient, repo: string, img: TestImage) => {
      for (const blob of img.blobs) await c.pushBlob(repo, blob);
    };
    const putManifest = async (c: RegistryClient, repo: string, ref: string, bytes: Buffer, mediaType: string) => {
      const res = await c.pushManifest(repo, ref, bytes, mediaType);
      if (res.status !== 201) throw new Error(`PUT ${repo}:${ref} → ${res.status} ${res.text}`);
    };

    const pusher = async (n: number) => {
      const c = new RegistryClient(registry.url, registry.admin);
      const repo = `online/app-${n % 2}`;
      for (let i = 0; Date.now() < deadline; i++) {
        const tag = `p${n}-${i}`;
        const kind = i % 4;
        if (kind === 3) {
          // Multi-arch: children by digest, a pause, then the index by tag.
          const children = [image(shared[i % 3]), image(shared[(i + 1) % 3])];
          for (const child of children) {
            await pushBlobs(c, repo, child);
            await putManifest(c, repo, child.digest, child.manifestBytes, child.mediaType);
          }
          await sleep(Math.random() * MAX_PAUSE_MS);
          const index = buildIndex(children.map((ch) => ch.descriptor));
          await putManifest(c, repo, tag, index.manifestBytes, index.mediaType);
          kept.push({ repo, tag, manifestDigest: index.digest, images: children });
        } else {
          const img = image(shared[i % 3]);
          await pushBlobs(c, repo, img);
          // Some pushes pause between their blobs and their manifest (a slow client, a big image).
          if (kind === 1) await sleep(Math.random() * MAX_PAUSE_MS);
          await putManifest(c, repo, tag, img.manifestBytes, img.mediaType);
          // Every third image is untagged again at once: garbage for the collector.
          if (kind === 2) {
            const res = await c.delete(`/v2/${repo}/manifests/${tag}`);
            if (res.status !== 202) throw new Error(`DELETE tag ${repo}:${tag} → ${res.status}`);
          } else {
            kept.push({ repo, tag, manifestDigest: img.digest, images: [img] });
          }
        }
        pushes++;
      }
    };

    let runs = 0;
    let freed = 0;
    let manifestsDeleted = 0;
    const collector = async () => {
      while (Date.now() < deadline) {
        const run = await registry.gc({ deleteUntagged: true });
        expect(run.status, run.error ?? '').toBe('succeeded');
        runs++;
        freed += run.bytesFreed;
        manifestsDeleted += run.manifestsDeleted;
        await sleep(50);
      }
    };

    await Promise.all([collector(), ...Array.from({ length: PUSHERS }, (_, n) => pusher(n))]);
    // One more run once the untagged images are past the delay: they go, the rest stays.
    await sleep(REVIEW_DELAY_SECONDS * 1000 + 200);
    const last = await registry.gc({ deleteUntagged: true });
    freed += last.bytesFreed;
    manifestsDeleted += last.manifestsDeleted;

    expect(pushes).toBeGreaterThan(20);
    expect(runs).toBeGreaterThan(5);
    expect(manifestsDeleted).toBeGreaterThan(0);
    expect(freed).toBeGreaterThan(0);

    const c = new RegistryClient(registry.url, registry.admin);
    for (const pushed of kept) {
      const res = await c.get(`/v2/${pushed.repo}/manifests/${pushed.tag}`, { headers: { Accept: '*/*' } });
      expect(res.status, `${pushed.repo}:${pushed.tag}`).toBe(200);
      expect(sha256(res.body)).toBe(pushed.manifestDigest);
      for (const img of pushed.images) {
        const child = await c.get(`/v2/${pushed.repo}/manifests/${img.digest}`, { headers: { Accept: '*/*' } });
        expect(child.status, `${pushed.repo}@${img.digest}`).toBe(200);
        for (const blob of img.blobs) {
          const digest = sha256(blob);
          const got = await c.get(`/v2/${pushed.repo}/blobs/${digest}`);
          expect(got.status, `${pushed.repo} blob ${digest}`).toBe(200);
          expect(sha256(got.body)).toBe(digest);
          expect(await registry.hasBlobFile(digest)).toBe(true);
        }
      }
    }
  });
});

/**
 * Referrers API (OCI Distribution Spec 1.1). Distribution 2.8 has none of it, so every
 * test here is Berth-only.
 */
import { beforeAll, describe, expect } from 'vitest';
import {
  berthOnly,
  buildImage,
  e2eAvailable,
  expectError,
  externalRegistry,
  MediaTypes,
  type Res,
  randomBlob,
  sha256,
  type TestImage,
  uniq,
  useRegistry,
} from '../support/http.js';

const available = await e2eAvailable('api/referrers');

const SBOM = 'application/vnd.example.sbom';
const SIG_CONFIG = 'application/vnd.example.sig.config+json';
const EMPTY_CONFIG = Buffer.from('{}');

interface IndexBody {
  schemaVersion: number;
  mediaType: string;
  manifests: Array<{
    mediaType: string;
    digest: string;
    size: number;
    artifactType?: string;
    annotations?: Record<string, string>;
  }>;
}

describe.skipIf(!available)('referrers', () => {
  const ctx = useRegistry();
  const prefix = uniq('referrers');

  /** An artifact manifest with `artifactType` and the empty config. */
  function sbomFor(subject: TestImage): TestImage & { extra: Buffer[] } {
    const payload = randomBlob(200);
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      artifactType: SBOM,
      config: { mediaType: MediaTypes.ociEmpty, digest: sha256(EMPTY_CONFIG), size: 2 },
      layers: [{ mediaType: 'application/spdx+json', digest: sha256(payload), size: payload.length }],
      subject: subject.descriptor,
      annotations: { 'org.example.kind': 'sbom', 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
    };
    return artifact(manifest, [EMPTY_CONFIG, payload]);
  }

  /** An artifact manifest without `artifactType`: its config media type stands in. */
  function signatureFor(subject: TestImage): TestImage & { extra: Buffer[] } {
    const config = Buffer.from(JSON.stringify({ signer: 'test', nonce: randomBlob(4).toString('hex') }));
    const sig = randomBlob(64);
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: SIG_CONFIG, digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.example.signature', digest: sha256(sig), size: sig.length }],
      subject: subject.descriptor,
      annotations: { 'org.example.kind': 'signature' },
    };
    return artifact(manifest, [config, sig]);
  }

  function artifact(manifest: Record<string, any>, blobs: Buffer[]): TestImage & { extra: Buffer[] } {
    const bytes = Buffer.from(JSON.stringify(manifest));
    const digest = sha256(bytes);
    return {
      config: blobs[0],
      layers: blobs.slice(1),
      blobs,
      extra: blobs,
      manifest,
      manifestBytes: bytes,
      mediaType: MediaTypes.ociManifest,
      digest,
      descriptor: { mediaType: MediaTypes.ociManifest, digest, size: bytes.length },
    };
  }

  async function pushArtifact(repo: string, a: TestImage): Promise<Res> {
    for (const b of a.blobs) await ctx.c.pushBlob(repo, b);
    const res = await ctx.c.pushManifest(repo, a.digest, a.manifestBytes, a.mediaType);
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get('oci-subject')).toBe(a.manifest.subject.digest);
    return res;
  }

  async function referrers(repo: string, digest: string, query = ''): Promise<{ body: IndexBody; filters: string | null }> {
    const res = await ctx.c.get(`/v2/${repo}/referrers/${digest}${query}`);
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/vnd\.oci\.image\.index\.v1\+json/);
    const body = res.json<IndexBody>();
    expect(body.schemaVersion).toBe(2);
    expect(body.mediaType).toBe(MediaTypes.ociIndex);
    expect(Array.isArray(body.manifests)).toBe(true);
    return { body, filters: res.headers.get('oci-filters-applied') };
  }

  describe('listing referrers', () => {
    const repo = `${prefix}/app`;
    let image: TestImage;
    let sbom: TestImage;
    let sig: TestImage;
    let puts: Res[] = [];

    beforeAll(async () => {
      if (externalRegistry) return;
      image = await ctx.c.pushImage(repo, 'v1');
      sbom = sbomFor(image);
      sig = signatureFor(image);
      puts = [await pushArtifact(repo, sbom), await pushArtifact(repo, sig)];
    });

    berthOnly('PUT of a manifest with subject → 201 with OCI-Subject: <subject digest>', async () => {
      expect(puts).toHaveLength(2);
      for (const res of puts) {
        expect(res.status).toBe(201);
        expect(res.headers.get('oci-subject')).toBe(image.digest);
      }
    });

    berthOnly('GET /referrers/<digest> → an OCI index with both descriptors', async () => {
      const { body, filters } = await referrers(repo, image.digest);
      expect(filters).toBeNull();
      const byDigest = new Map(body.manifests.map((m) => [m.digest, m]));
      expect(body.manifests).toHaveLength(2);
      expect(byDigest.get(sbom.digest)).toMatchObject({
        mediaType: MediaTypes.ociManifest,
        digest: sbom.digest,
        size: sbom.manifestBytes.length,
        artifactType: SBOM,
        annotations: sbom.manifest.annotations,
      });
      expect(byDigest.get(sig.digest)).toMatchObject({
        mediaType: MediaTypes.ociManifest,
        digest: sig.digest,
        size: sig.manifestBytes.length,
        artifactType: SIG_CONFIG,
        annotations: sig.manifest.annotations,
      });
    });

    berthOnly('?artifactType= filters and answers OCI-Filters-Applied: artifactType', async () => {
      const sbomOnly = await referrers(repo, image.digest, `?artifactType=${encodeURIComponent(SBOM)}`);
      expect(sbomOnly.filters).toBe('artifactType');
      expect(sbomOnly.body.manifests.map((m) => m.digest)).toEqual([sbom.digest]);

      const sigOnly = await referrers(repo, image.digest, `?artifactType=${encodeURIComponent(SIG_CONFIG)}`);
      expect(sigOnly.filters).toBe('artifactType');
      expect(sigOnly.body.manifests.map((m) => m.digest)).toEqual([sig.digest]);

      const none = await referrers(repo, image.digest, '?artifactType=application%2Fvnd.example.none');
      expect(none.filters).toBe('artifactType');
      expect(none.body.manifests).toEqual([]);
    });

    berthOnly('referrers of an unknown digest → 200 with an empty manifests array', async () => {
      const { body } = await referrers(repo, sha256(randomBlob(32)));
      expect(body.manifests).toEqual([]);
    });

    berthOnly('referrers are scoped to the repository', async () => {
      const other = `${prefix}/elsewhere`;
      await ctx.c.pushImage(other, 'v1', image);
      const { body } = await referrers(other, image.digest);
      expect(body.manifests).toEqual([]);
    });

    berthOnly('a deleted referrer disappears from the list', async () => {
      const extra = sbomFor(image);
      await pushArtifact(repo, extra);
      expect((await referrers(repo, image.digest)).body.manifests.map((m) => m.digest)).toContain(extra.digest);
      expect((await ctx.c.delete(`/v2/${repo}/manifests/${extra.digest}`)).status).toBe(202);
      const after = (await referrers(repo, image.digest)).body.manifests.map((m) => m.digest);
      expect(after).not.toContain(extra.digest);
      expect(after.sort()).toEqual([sbom.digest, sig.digest].sort());
    });

    berthOnly('a malformed digest → 400 DIGEST_INVALID', async () => {
      expectError(await ctx.c.get(`/v2/${repo}/referrers/sha256:xyz`), 400, 'DIGEST_INVALID');
    });
  });

  describe('subject before its target', () => {
    berthOnly('a manifest whose subject does not exist yet is accepted and listed', async () => {
      const repo = `${prefix}/early`;
      const target = buildImage(); // not pushed yet
      const sbom = sbomFor(target);
      await pushArtifact(repo, sbom);
      const before = await referrers(repo, target.digest);
      expect(before.body.manifests.map((m) => m.digest)).toEqual([sbom.digest]);

      await ctx.c.pushImage(repo, 'late', target);
      const after = await referrers(repo, target.digest);
      expect(after.body.manifests.map((m) => m.digest)).toEqual([sbom.digest]);
      expect(after.body.manifests[0].artifactType).toBe(SBOM);
    });

    berthOnly('an index may carry a subject too', async () => {
      const repo = `${prefix}/index-subject`;
      const target = await ctx.c.pushImage(repo, 'v1');
      const child = await ctx.c.pushImage(repo, 'child');
      const index = {
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        artifactType: 'application/vnd.example.bundle',
        manifests: [child.descriptor],
        subject: target.descriptor,
      };
      const res = await ctx.c.pushManifest(repo, 'bundle', index, MediaTypes.ociIndex);
      expect(res.status, res.text).toBe(201);
      expect(res.headers.get('oci-subject')).toBe(target.digest);
      const { body } = await referrers(repo, target.digest);
      expect(body.manifests).toMatchObject([
        {
          mediaType: MediaTypes.ociIndex,
          digest: res.digest,
          size: res.bytes.length,
          artifactType: 'application/vnd.example.bundle',
        },
      ]);
    });
  });
});

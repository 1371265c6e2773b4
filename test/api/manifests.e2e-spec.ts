import { describe, expect, it } from 'vitest';
import {
  ACCEPT_MANIFESTS,
  berthOnly,
  buildImage,
  buildIndex,
  e2eAvailable,
  expectError,
  MediaTypes,
  type Res,
  sha256,
  uniq,
  useRegistry,
} from '../support/http.js';

const available = await e2eAvailable('api/manifests');

const accept = { Accept: ACCEPT_MANIFESTS };

function detailMentions(res: Res, digest: string): boolean {
  return res.json().errors.some((e: { detail?: unknown }) => JSON.stringify(e.detail ?? '').includes(digest));
}

/** Pads a manifest with spaces to exactly `size` bytes (still valid JSON, same content). */
function padded(manifest: object, size: number): Buffer {
  const json = Buffer.from(JSON.stringify(manifest));
  const out = Buffer.alloc(size, 0x20);
  json.copy(out);
  return out;
}

describe.skipIf(!available)('manifests', () => {
  const ctx = useRegistry();
  const prefix = uniq('manifests');

  async function expectManifest(repo: string, ref: string, bytes: Buffer, mediaType: string): Promise<void> {
    const digest = sha256(bytes);
    const res = await ctx.c.get(`/v2/${repo}/manifests/${ref}`, { headers: accept });
    expect(res.status, `GET ${repo}:${ref} → ${res.status} ${res.text.slice(0, 200)}`).toBe(200);
    expect(res.body.equals(bytes)).toBe(true);
    expect(res.headers.get('content-type')).toBe(mediaType);
    expect(res.headers.get('content-length')).toBe(String(bytes.length));
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(res.headers.get('etag')).toContain(digest);
  }

  async function tagsOf(repo: string): Promise<string[]> {
    const res = await ctx.c.get(`/v2/${repo}/tags/list`);
    if (res.status === 404) return [];
    expect(res.status).toBe(200);
    return [...(res.json().tags ?? [])].sort();
  }

  describe('push and pull', () => {
    const repo = `${prefix}/oci`;

    it('PUT an OCI manifest by tag → 201 with Location and Docker-Content-Digest', async () => {
      const img = buildImage();
      for (const b of img.blobs) await ctx.c.pushBlob(repo, b);
      const res = await ctx.c.pushManifest(repo, 'v1', img.manifestBytes, img.mediaType);
      expect(res.status, res.text).toBe(201);
      expect(res.headers.get('docker-content-digest')).toBe(img.digest);
      expect(res.location).toBeTruthy();
      expect(new URL(res.location!).pathname).toMatch(new RegExp(`^/v2/${repo}/manifests/(v1|${img.digest})$`));
      // The Location can be fetched.
      const viaLocation = await ctx.c.get(res.location!, { headers: accept });
      expect(viaLocation.status).toBe(200);
      expect(viaLocation.body.equals(img.manifestBytes)).toBe(true);

      await expectManifest(repo, 'v1', img.manifestBytes, MediaTypes.ociManifest);
      await expectManifest(repo, img.digest, img.manifestBytes, MediaTypes.ociManifest);
    });

    it('HEAD by tag and by digest → same headers, no body', async () => {
      const img = await ctx.c.pushImage(repo, 'head');
      for (const ref of ['head', img.digest]) {
        const res = await ctx.c.head(`/v2/${repo}/manifests/${ref}`, { headers: accept });
        expect(res.status).toBe(200);
        expect(res.body.length).toBe(0);
        expect(res.headers.get('content-type')).toBe(MediaTypes.ociManifest);
        expect(res.headers.get('content-length')).toBe(String(img.manifestBytes.length));
        expect(res.headers.get('docker-content-digest')).toBe(img.digest);
        expect(res.headers.get('etag')).toContain(img.digest);
      }
    });

    it('If-None-Match with the manifest ETag → 304; with another → 200', async () => {
      const img = await ctx.c.pushImage(repo, 'cached');
      for (const ref of ['cached', img.digest]) {
        const hit = await ctx.c.get(`/v2/${repo}/manifests/${ref}`, {
          headers: { ...accept, 'If-None-Match': `"${img.digest}"` },
        });
        expect(hit.status).toBe(304);
        expect(hit.body.length).toBe(0);
      }
      const miss = await ctx.c.get(`/v2/${repo}/manifests/cached`, {
        headers: { ...accept, 'If-None-Match': `"${sha256('something else')}"` },
      });
      expect(miss.status).toBe(200);
      expect(miss.body.equals(img.manifestBytes)).toBe(true);
    });

    it('stores and returns the exact bytes (odd whitespace, key order, trailing newline)', async () => {
      const img = buildImage();
      for (const b of img.blobs) await ctx.c.pushBlob(repo, b);
      const m = img.manifest;
      const odd = Buffer.from(
        `{ "layers" :${JSON.stringify(m.layers)},\n\t"config":  ${JSON.stringify(m.config)} ,"mediaType":"${m.mediaType}", "schemaVersion": 2 }\n`,
      );
      const res = await ctx.c.pushManifest(repo, 'odd', odd, img.mediaType);
      expect(res.status, res.text).toBe(201);
      expect(res.headers.get('docker-content-digest')).toBe(sha256(odd));
      await expectManifest(repo, 'odd', odd, MediaTypes.ociManifest);
    });

    it('PUT by digest (matching the body) → 201', async () => {
      const img = buildImage();
      for (const b of img.blobs) await ctx.c.pushBlob(repo, b);
      const res = await ctx.c.pushManifest(repo, img.digest, img.manifestBytes, img.mediaType);
      expect(res.status, res.text).toBe(201);
      expect(res.headers.get('docker-content-digest')).toBe(img.digest);
      await expectManifest(repo, img.digest, img.manifestBytes, MediaTypes.ociManifest);
    });

    it('PUT by a digest that does not match the body → 400 DIGEST_INVALID', async () => {
      const img = buildImage();
      for (const b of img.blobs) await ctx.c.pushBlob(repo, b);
      const wrong = sha256('not this manifest');
      expectError(await ctx.c.pushManifest(repo, wrong, img.manifestBytes, img.mediaType), 400, 'DIGEST_INVALID');
      expect((await ctx.c.head(`/v2/${repo}/manifests/${wrong}`, { headers: accept })).status).toBe(404);
      expect((await ctx.c.head(`/v2/${repo}/manifests/${img.digest}`, { headers: accept })).status).toBe(404);
    });

    it('re-PUT of the same manifest under the same tag is idempotent', async () => {
      const r = `${prefix}/idem`;
      const img = await ctx.c.pushImage(r, 'same');
      const again = await ctx.c.pushManifest(r, 'same', img.manifestBytes, img.mediaType);
      expect(again.status).toBe(201);
      expect(again.headers.get('docker-content-digest')).toBe(img.digest);
      expect(await tagsOf(r)).toEqual(['same']);
      await expectManifest(r, 'same', img.manifestBytes, MediaTypes.ociManifest);
    });

    it('moving a tag to a new manifest: the tag follows, the old manifest stays reachable by digest', async () => {
      const r = `${prefix}/move`;
      const a = await ctx.c.pushImage(r, 'stable');
      const b = await ctx.c.pushImage(r, 'stable', buildImage());
      expect(a.digest).not.toBe(b.digest);
      await expectManifest(r, 'stable', b.manifestBytes, MediaTypes.ociManifest);
      await expectManifest(r, a.digest, a.manifestBytes, MediaTypes.ociManifest);
      expect(await tagsOf(r)).toEqual(['stable']);
    });

    it('accepts tags at the edges of the grammar', async () => {
      const r = `${prefix}/tags-ok`;
      const img = await ctx.c.pushImage(r, 'first');
      const tags = ['_under', 'A.b-C_9', 'x'.repeat(128), '0'];
      for (const t of tags) {
        const res = await ctx.c.pushManifest(r, t, img.manifestBytes, img.mediaType);
        expect(res.status, `${t}: ${res.text}`).toBe(201);
      }
      expect(await tagsOf(r)).toEqual(['first', ...tags].sort());
    });
  });

  describe('media types', () => {
    const repo = `${prefix}/types`;

    it('Docker schema2 manifest round-trips with its media type', async () => {
      const img = await ctx.c.pushImage(repo, 'docker', buildImage({ format: 'docker' }));
      await expectManifest(repo, 'docker', img.manifestBytes, MediaTypes.dockerManifest);
    });

    it('Docker manifest list over pushed manifests round-trips', async () => {
      const amd = await ctx.c.pushImage(repo, img('amd'), buildImage({ format: 'docker' }));
      const arm = await ctx.c.pushImage(repo, img('arm'), buildImage({ format: 'docker' }));
      const list = buildIndex([amd.descriptor, arm.descriptor], 'docker');
      const res = await ctx.c.pushManifest(repo, 'list', list.manifestBytes, list.mediaType);
      expect(res.status, res.text).toBe(201);
      expect(res.headers.get('docker-content-digest')).toBe(list.digest);
      await expectManifest(repo, 'list', list.manifestBytes, MediaTypes.dockerList);
      await expectManifest(repo, list.digest, list.manifestBytes, MediaTypes.dockerList);
    });

    it('OCI index over pushed manifests (children pushed by digest only) round-trips', async () => {
      const one = buildImage();
      const two = buildImage();
      for (const i of [one, two]) {
        for (const b of i.blobs) await ctx.c.pushBlob(repo, b);
        expect((await ctx.c.pushManifest(repo, i.digest, i.manifestBytes, i.mediaType)).status).toBe(201);
      }
      const index = buildIndex([one.descriptor, two.descriptor], 'oci');
      const res = await ctx.c.pushManifest(repo, 'index', index.manifestBytes, index.mediaType);
      expect(res.status, res.text).toBe(201);
      await expectManifest(repo, 'index', index.manifestBytes, MediaTypes.ociIndex);
    });

    it('an index referencing a missing child → 400 MANIFEST_UNKNOWN/MANIFEST_BLOB_UNKNOWN naming it', async () => {
      const present = await ctx.c.pushImage(repo, 'present');
      const missing = buildImage(); // never pushed
      const index = buildIndex([present.descriptor, missing.descriptor], 'oci');
      const res = await ctx.c.pushManifest(repo, 'broken-index', index.manifestBytes, index.mediaType);
      expectError(res, 400, 'MANIFEST_UNKNOWN', 'MANIFEST_BLOB_UNKNOWN');
      expect(detailMentions(res, missing.digest)).toBe(true);
      expect((await ctx.c.head(`/v2/${repo}/manifests/broken-index`, { headers: accept })).status).toBe(404);
    });

    it('an index whose child exists only in another repository → 400', async () => {
      const elsewhere = await ctx.c.pushImage(`${prefix}/types-other`, 'child');
      const index = buildIndex([elsewhere.descriptor], 'oci');
      const res = await ctx.c.pushManifest(repo, 'foreign-index', index.manifestBytes, index.mediaType);
      expectError(res, 400, 'MANIFEST_UNKNOWN', 'MANIFEST_BLOB_UNKNOWN');
      expect(detailMentions(res, elsewhere.digest)).toBe(true);
    });

    function img(name: string): string {
      return `${name}-${Math.random().toString(36).slice(2, 8)}`;
    }
  });

  describe('validation', () => {
    const repo = `${prefix}/invalid`;

    it('a manifest referencing an unpushed layer → 400 MANIFEST_BLOB_UNKNOWN naming the blob', async () => {
      const image = buildImage({ layers: 2 });
      await ctx.c.pushBlob(repo, image.config);
      await ctx.c.pushBlob(repo, image.layers[0]);
      const missing = sha256(image.layers[1]);
      const res = await ctx.c.pushManifest(repo, 'missing-layer', image.manifestBytes, image.mediaType);
      expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
      expect(detailMentions(res, missing)).toBe(true);
      expect((await ctx.c.head(`/v2/${repo}/manifests/missing-layer`, { headers: accept })).status).toBe(404);
    });

    it('a manifest referencing an unpushed config → 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const image = buildImage({ layers: 1 });
      await ctx.c.pushBlob(repo, image.layers[0]);
      const res = await ctx.c.pushManifest(repo, 'missing-config', image.manifestBytes, image.mediaType);
      expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
      expect(detailMentions(res, sha256(image.config))).toBe(true);
    });

    it('a manifest whose blobs are linked only in another repository → 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const image = await ctx.c.pushImage(`${prefix}/invalid-other`, 'v1');
      const res = await ctx.c.pushManifest(repo, 'foreign', image.manifestBytes, image.mediaType);
      expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it.each([
      ['not JSON', '{not json'],
      ['empty body', ''],
      ['a JSON array', '[]'],
    ])('invalid manifest (%s) → 400 MANIFEST_INVALID', async (_label, body) => {
      expectError(await ctx.c.pushManifest(repo, 'bad', body, MediaTypes.ociManifest), 400, 'MANIFEST_INVALID');
    });

    it.each([
      ['signed', MediaTypes.schema1Signed],
      ['unsigned', MediaTypes.schema1],
    ])('Docker schema1 (%s) → 400 MANIFEST_INVALID', async (_label, mediaType) => {
      const schema1 = {
        schemaVersion: 1,
        name: repo,
        tag: 'old',
        architecture: 'amd64',
        fsLayers: [{ blobSum: sha256('layer') }],
        history: [{ v1Compatibility: '{}' }],
        ...(mediaType === MediaTypes.schema1Signed ? { signatures: [] } : {}),
      };
      expectError(await ctx.c.pushManifest(repo, 'old', schema1, mediaType), 400, 'MANIFEST_INVALID');
    });

    berthOnly('schema1 is refused with a message saying so', async () => {
      const schema1 = { schemaVersion: 1, name: repo, tag: 'old', architecture: 'amd64', fsLayers: [], history: [] };
      const res = await ctx.c.pushManifest(repo, 'old', schema1, MediaTypes.schema1Signed);
      const body = expectError(res, 400, 'MANIFEST_INVALID');
      expect(JSON.stringify(body.errors[0])).toMatch(/schema ?(version)? ?1|schema1|schemaVersion/i);
    });

    it.each([['-leading-dash'], ['.leading-dot'], ['x'.repeat(129)], ['bad!char']])(
      'invalid tag %s is refused (never 2xx; TAG_INVALID when 400)',
      async (tag) => {
        const image = await ctx.c.pushImage(repo, 'valid');
        const res = await ctx.c.pushManifest(repo, tag, image.manifestBytes, image.mediaType);
        // Distribution 2.8 does not route such references at all (404).
        expect([400, 404]).toContain(res.status);
        if (res.status === 400) expect(res.json().errors[0].code).toBe('TAG_INVALID');
      },
    );

    berthOnly('invalid tags → 400 TAG_INVALID', async () => {
      const image = await ctx.c.pushImage(repo, 'valid2');
      for (const tag of ['-leading-dash', '.leading-dot', 'x'.repeat(129), 'bad!char']) {
        expectError(await ctx.c.pushManifest(repo, tag, image.manifestBytes, image.mediaType), 400, 'TAG_INVALID');
      }
    });

    berthOnly('a malformed digest reference → 400 DIGEST_INVALID', async () => {
      for (const ref of ['sha256:xyz', `sha256:${'a'.repeat(63)}`, 'md5:d41d8cd98f00b204e9800998ecf8427e']) {
        expectError(await ctx.c.get(`/v2/${repo}/manifests/${ref}`, { headers: accept }), 400, 'DIGEST_INVALID');
      }
    });

    it('a manifest of exactly 4 MiB is accepted', async () => {
      const image = buildImage();
      for (const b of image.blobs) await ctx.c.pushBlob(repo, b);
      const bytes = padded(image.manifest, 4 * 1024 * 1024);
      const res = await ctx.c.pushManifest(repo, 'four-mib', bytes, image.mediaType);
      expect(res.status, res.text.slice(0, 200)).toBe(201);
      const got = await ctx.c.get(`/v2/${repo}/manifests/four-mib`, { headers: accept });
      expect(got.body.equals(bytes)).toBe(true);
    });

    it('a manifest over 4 MiB is refused with a 4xx', async () => {
      const image = buildImage();
      for (const b of image.blobs) await ctx.c.pushBlob(repo, b);
      const res = await ctx.c.pushManifest(repo, 'too-big', padded(image.manifest, 4 * 1024 * 1024 + 1), image.mediaType);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    });

    berthOnly('a manifest over 4 MiB → 413', async () => {
      const image = buildImage();
      for (const b of image.blobs) await ctx.c.pushBlob(repo, b);
      const res = await ctx.c.pushManifest(repo, 'too-big', padded(image.manifest, 4 * 1024 * 1024 + 1), image.mediaType);
      expect(res.status).toBe(413);
      expect((await ctx.c.head(`/v2/${repo}/manifests/too-big`, { headers: accept })).status).toBe(404);
    });
  });

  describe('unknown manifests', () => {
    const repo = `${prefix}/unknown`;

    it('unknown tag → 404 MANIFEST_UNKNOWN (GET) and 404 (HEAD)', async () => {
      await ctx.c.pushImage(repo, 'exists');
      expectError(await ctx.c.get(`/v2/${repo}/manifests/nope`, { headers: accept }), 404, 'MANIFEST_UNKNOWN');
      expect((await ctx.c.head(`/v2/${repo}/manifests/nope`, { headers: accept })).status).toBe(404);
    });

    it('unknown digest → 404 MANIFEST_UNKNOWN', async () => {
      await ctx.c.pushImage(repo, 'exists2');
      expectError(await ctx.c.get(`/v2/${repo}/manifests/${sha256('unknown')}`, { headers: accept }), 404, 'MANIFEST_UNKNOWN');
    });

    it('unknown repository → 404 (NAME_UNKNOWN or MANIFEST_UNKNOWN)', async () => {
      const res = await ctx.c.get(`/v2/${prefix}/no-such-repo/manifests/latest`, { headers: accept });
      expectError(res, 404, 'NAME_UNKNOWN', 'MANIFEST_UNKNOWN');
    });

    berthOnly('unknown repository → 404 NAME_UNKNOWN', async () => {
      expectError(await ctx.c.get(`/v2/${prefix}/no-such-repo/manifests/latest`, { headers: accept }), 404, 'NAME_UNKNOWN');
      expectError(
        await ctx.c.get(`/v2/${prefix}/no-such-repo/manifests/${sha256('x')}`, { headers: accept }),
        404,
        'NAME_UNKNOWN',
      );
    });

    // The OCI conformance suite looks up `.INVALID_MANIFEST_NAME`: nothing by that name can exist.
    // Distribution does not route such references at all (a plain-text 404).
    it.each(['.INVALID_MANIFEST_NAME', '-leading-dash', 'bad!char', 'x'.repeat(129)])(
      'GET, HEAD and DELETE of the impossible tag %s → 404, not 400',
      async (tag) => {
        await ctx.c.pushImage(repo, 'exists3');
        expect((await ctx.c.get(`/v2/${repo}/manifests/${tag}`, { headers: accept })).status).toBe(404);
        expect((await ctx.c.head(`/v2/${repo}/manifests/${tag}`, { headers: accept })).status).toBe(404);
        expect((await ctx.c.delete(`/v2/${repo}/manifests/${tag}`)).status).toBe(404);
      },
    );

    berthOnly('an impossible tag → 404 MANIFEST_UNKNOWN on GET and DELETE', async () => {
      await ctx.c.pushImage(repo, 'exists4');
      expectError(await ctx.c.get(`/v2/${repo}/manifests/.INVALID_MANIFEST_NAME`, { headers: accept }), 404, 'MANIFEST_UNKNOWN');
      expectError(await ctx.c.delete(`/v2/${repo}/manifests/.INVALID_MANIFEST_NAME`), 404, 'MANIFEST_UNKNOWN');
    });

    berthOnly('an impossible tag in an unknown repository → 404 NAME_UNKNOWN', async () => {
      expectError(await ctx.c.get(`/v2/${prefix}/no-such-repo/manifests/.INVALID_MANIFEST_NAME`, { headers: accept }), 404, 'NAME_UNKNOWN');
    });
  });

  describe('concurrency', () => {
    it('concurrent pushes of different manifests to one tag all succeed and the tag ends on one of them', async () => {
      const repo = `${prefix}/race`;
      const images = Array.from({ length: 8 }, () => buildImage({ layers: 1 }));
      for (const image of images) for (const b of image.blobs) await ctx.c.pushBlob(repo, b);
      const results = await Promise.all(images.map((image) => ctx.c.pushManifest(repo, 'latest', image.manifestBytes, image.mediaType)));
      expect(results.map((r) => r.status)).toEqual(images.map(() => 201));
      const current = await ctx.c.get(`/v2/${repo}/manifests/latest`, { headers: { Accept: ACCEPT_MANIFESTS } });
      expect(images.map((i) => i.digest)).toContain(current.headers.get('docker-content-digest'));
      expect(await tagsOf(repo)).toEqual(['latest']);
    });

    it('the same manifest pushed concurrently under several tags is stored once and every tag resolves to it', async () => {
      const repo = `${prefix}/same`;
      const image = buildImage({ layers: 1 });
      for (const b of image.blobs) await ctx.c.pushBlob(repo, b);
      const tags = ['a', 'b', 'c', 'd', 'e'];
      const results = await Promise.all(tags.map((t) => ctx.c.pushManifest(repo, t, image.manifestBytes, image.mediaType)));
      expect(results.map((r) => r.status)).toEqual(tags.map(() => 201));
      for (const t of tags) {
        const res = await ctx.c.get(`/v2/${repo}/manifests/${t}`, { headers: { Accept: ACCEPT_MANIFESTS } });
        expect(res.headers.get('docker-content-digest')).toBe(image.digest);
      }
      expect(await tagsOf(repo)).toEqual(tags);
    });
  });

  describe('deletion', () => {
    it('DELETE by digest → 202; the manifest and all its tags are gone', async () => {
      const r = `${prefix}/del-digest`;
      const keep = await ctx.c.pushImage(r, 'keep');
      const img = await ctx.c.pushImage(r, 'one');
      expect((await ctx.c.pushManifest(r, 'two', img.manifestBytes, img.mediaType)).status).toBe(201);

      const del = await ctx.c.delete(`/v2/${r}/manifests/${img.digest}`);
      expect(del.status).toBe(202);
      expectError(await ctx.c.get(`/v2/${r}/manifests/${img.digest}`, { headers: accept }), 404, 'MANIFEST_UNKNOWN');
      expectError(await ctx.c.get(`/v2/${r}/manifests/one`, { headers: accept }), 404, 'MANIFEST_UNKNOWN');
      expectError(await ctx.c.get(`/v2/${r}/manifests/two`, { headers: accept }), 404, 'MANIFEST_UNKNOWN');
      expect(await tagsOf(r)).toEqual(['keep']);
      await expectManifest(r, 'keep', keep.manifestBytes, MediaTypes.ociManifest);
      // Deleting again → 404.
      expectError(await ctx.c.delete(`/v2/${r}/manifests/${img.digest}`), 404, 'MANIFEST_UNKNOWN');
    });

    it('DELETE of an unknown digest → 404 MANIFEST_UNKNOWN', async () => {
      const r = `${prefix}/del-unknown`;
      await ctx.c.pushImage(r, 'v1');
      expectError(await ctx.c.delete(`/v2/${r}/manifests/${sha256('nothing')}`), 404, 'MANIFEST_UNKNOWN');
    });

    it('a deleted manifest can be pushed again', async () => {
      const r = `${prefix}/del-repush`;
      const img = await ctx.c.pushImage(r, 'v1');
      expect((await ctx.c.delete(`/v2/${r}/manifests/${img.digest}`)).status).toBe(202);
      const again = await ctx.c.pushManifest(r, 'v1', img.manifestBytes, img.mediaType);
      expect(again.status).toBe(201);
      await expectManifest(r, 'v1', img.manifestBytes, MediaTypes.ociManifest);
    });

    berthOnly('DELETE by tag → 202; only the tag goes, the manifest stays reachable by digest', async () => {
      // Distribution 2.8 refuses tag deletion (400 DIGEST_INVALID).
      const r = `${prefix}/del-tag`;
      const img = await ctx.c.pushImage(r, 'a');
      expect((await ctx.c.pushManifest(r, 'b', img.manifestBytes, img.mediaType)).status).toBe(201);
      expect((await ctx.c.delete(`/v2/${r}/manifests/a`)).status).toBe(202);
      expectError(await ctx.c.get(`/v2/${r}/manifests/a`, { headers: accept }), 404, 'MANIFEST_UNKNOWN');
      await expectManifest(r, img.digest, img.manifestBytes, MediaTypes.ociManifest);
      await expectManifest(r, 'b', img.manifestBytes, MediaTypes.ociManifest);
      expect(await tagsOf(r)).toEqual(['b']);
      expectError(await ctx.c.delete(`/v2/${r}/manifests/a`), 404, 'MANIFEST_UNKNOWN');
    });
  });
});

import { describe, expect, it } from 'vitest';
import {
  ACCEPT_MANIFESTS,
  berthOnly,
  buildImage,
  e2eAvailable,
  errorCode,
  externalRegistry,
  expectError,
  type Res,
  sha256,
  uniq,
  useRegistry,
} from '../support/http.js';

const available = await e2eAvailable('api/base');

describe.skipIf(!available)('API base, routing and repository names', () => {
  const ctx = useRegistry();
  const prefix = uniq('base');

  describe('GET /v2/', () => {
    it('answers 200 with {} and the API version header', async () => {
      const res = await ctx.c.get('/v2/');
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
      expect(res.json()).toEqual({});
    });

    it('answers HEAD with 200 and no body', async () => {
      const res = await ctx.c.head('/v2/');
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
      expect(res.body.length).toBe(0);
    });
  });

  describe('unknown routes', () => {
    it.each(['/foo', '/v2/nothing/here', '/v3/', `/v2/${prefix}/unknown-endpoint/x`])('%s → 404', async (path) => {
      const res = await ctx.c.get(path);
      expect(res.status).toBe(404);
      // The API version header is checked for every response (see useRegistry).
    });

    berthOnly('unknown routes answer a JSON error body', async () => {
      const res = await ctx.c.get('/v2/nothing/here');
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/json/);
      expect(typeof res.json().errors[0].code).toBe('string');
    });
  });

  describe('repository names', () => {
    const invalidNames: Array<[string, string]> = [
      ['uppercase', 'Upper/Case'],
      ['uppercase leaf', `${prefix}/Bad`],
      ['leading slash', `/${prefix}`],
      ['double slash', `${prefix}//b`],
      ['dot-dot component', `${prefix}/../b`],
      ['bare dot-dot', '..'],
      ['trailing separator', `${prefix}-`],
      ['256 characters', `${prefix}/${'a'.repeat(255 - prefix.length)}`],
    ];

    /** The three endpoints a name reaches first: tag listing, upload start and manifest PUT. */
    async function probe(name: string): Promise<Res[]> {
      const img = buildImage();
      return [
        await ctx.c.get(`/v2/${name}/tags/list`),
        await ctx.c.post(`/v2/${name}/blobs/uploads/`),
        await ctx.c.put(`/v2/${name}/manifests/latest`, {
          headers: { 'Content-Type': img.mediaType },
          body: img.manifestBytes,
        }),
        await ctx.c.get(`/v2/${name}/blobs/${sha256('x')}`),
      ];
    }

    it.each(invalidNames)('refuses an invalid name (%s): never 2xx, NAME_INVALID when 400', async (_label, name) => {
      expect(name === '..' || name.length > 255 || !/^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/.test(name)).toBe(true);
      for (const res of await probe(name)) {
        // Distribution 2.8 answers 404 (unroutable), 301 (path cleaning) or even 500 (length).
        expect(res.status, `${name}: ${res.status} ${res.text.slice(0, 200)}`).toBeGreaterThanOrEqual(300);
        if (res.status === 400) expect(errorCode(res)).toBe('NAME_INVALID');
      }
    });

    for (const [label, name] of invalidNames) {
      berthOnly(`invalid name (${label}) → 400 NAME_INVALID on every endpoint`, async () => {
        for (const res of await probe(name)) expectError(res, 400, 'NAME_INVALID');
      });
    }

    it('accepts a name of exactly 255 characters', async () => {
      // Built from several components so no single path segment is long.
      const parts = [prefix];
      while (parts.join('/').length < 255) parts.push('n'.repeat(40));
      const name = parts.join('/').slice(0, 255).replace(/\/$/, 'n');
      expect(name.length).toBe(255);
      const img = await ctx.c.pushImage(name, 'v1');
      const res = await ctx.c.get(`/v2/${name}/manifests/v1`, { headers: { Accept: ACCEPT_MANIFESTS } });
      expect(res.status).toBe(200);
      expect(res.body.equals(img.manifestBytes)).toBe(true);
    });

    it('supports nested names (a/b/c/d) for every endpoint', async () => {
      const name = `${prefix}/b/c/d`;
      const img = await ctx.c.pushImage(name, 'nested');
      const m = await ctx.c.get(`/v2/${name}/manifests/nested`, { headers: { Accept: ACCEPT_MANIFESTS } });
      expect(m.status).toBe(200);
      expect(m.headers.get('docker-content-digest')).toBe(img.digest);
      const b = await ctx.c.get(`/v2/${name}/blobs/${sha256(img.layers[0])}`);
      expect(b.status).toBe(200);
      expect(b.body.equals(img.layers[0])).toBe(true);
      const t = await ctx.c.get(`/v2/${name}/tags/list`);
      expect(t.status).toBe(200);
      expect(t.json()).toEqual({ name, tags: ['nested'] });
      // The parent path is not a repository by itself.
      const parent = await ctx.c.get(`/v2/${prefix}/b/tags/list`);
      expectError(parent, 404, 'NAME_UNKNOWN');
    });

    it('accepts the separators of the name grammar (., _, __, -, --)', async () => {
      const name = `${prefix}/a.b_c__d-e--f`;
      await ctx.c.pushImage(name, 'sep');
      const t = await ctx.c.get(`/v2/${name}/tags/list`);
      expect(t.status).toBe(200);
      expect(t.json().tags).toEqual(['sep']);
    });
  });

  describe('every response', () => {
    it('carries Docker-Distribution-API-Version, and every error body has errors[0].code/message', async () => {
      const repo = `${prefix}/every`;
      const img = await ctx.c.pushImage(repo, 'v1');
      const responses: Res[] = [
        await ctx.c.get('/v2/'),
        await ctx.c.get(`/v2/${repo}/tags/list`),
        await ctx.c.get(`/v2/${repo}/manifests/v1`, { headers: { Accept: ACCEPT_MANIFESTS } }),
        await ctx.c.head(`/v2/${repo}/manifests/${img.digest}`, { headers: { Accept: ACCEPT_MANIFESTS } }),
        await ctx.c.get(`/v2/${repo}/blobs/${sha256(img.config)}`),
        await ctx.c.get(`/v2/${repo}/blobs/${sha256('missing')}`),
        await ctx.c.get(`/v2/${repo}/manifests/missing`, { headers: { Accept: ACCEPT_MANIFESTS } }),
        await ctx.c.get(`/v2/${repo}/blobs/sha256:xyz`),
        await ctx.c.post(`/v2/${repo}/blobs/uploads/`),
        await ctx.c.get(`/v2/${prefix}/never/tags/list`),
        await ctx.c.get('/v2/_catalog?n=1'),
      ];
      for (const res of responses) {
        expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
        if (res.status >= 400) {
          const body = res.json();
          expect(typeof body.errors[0].code).toBe('string');
          expect(typeof body.errors[0].message).toBe('string');
        }
      }
      expect(responses.filter((r) => r.status >= 400).length).toBeGreaterThanOrEqual(4);
    });

    it('runs against the registry under test', () => {
      expect(ctx.registry.url).toMatch(/^http:\/\//);
      if (externalRegistry) expect(ctx.registry.url).toBe(process.env.E2E_REGISTRY_URL!.replace(/\/$/, ''));
    });
  });
});

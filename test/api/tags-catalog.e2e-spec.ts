import { beforeAll, describe, expect, it } from 'vitest';
import {
  berthOnly,
  e2eAvailable,
  expectError,
  parseNextLink,
  uniq,
  useRegistry,
} from '../support/http.js';

const available = await e2eAvailable('api/tags-catalog');

describe.skipIf(!available)('tags list and catalog', () => {
  const ctx = useRegistry();
  const prefix = uniq('listing');

  describe('tags list', () => {
    const repo = `${prefix}/tags`;
    // Pushed in a scrambled order; lexical (byte) order puts digits, then uppercase, then lowercase.
    const pushed = ['d', 'b', 'a', 'c', 'B', 'a1', '1', 'e'];
    const lexical = [...pushed].sort();

    beforeAll(async () => {
      const img = await ctx.c.pushImage(repo, pushed[0]);
      for (const t of pushed.slice(1)) {
        const res = await ctx.c.pushManifest(repo, t, img.manifestBytes, img.mediaType);
        expect(res.status).toBe(201);
      }
    });

    it('lists every tag of the repository with its name', async () => {
      const res = await ctx.c.get(`/v2/${repo}/tags/list`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = res.json();
      expect(body.name).toBe(repo);
      expect([...body.tags].sort()).toEqual(lexical);
    });

    berthOnly('lists tags in lexical order', async () => {
      // Distribution 2.8 returns directory order.
      const res = await ctx.c.get(`/v2/${repo}/tags/list`);
      expect(res.json().tags).toEqual(lexical);
      expect(res.headers.get('link')).toBeNull();
    });

    berthOnly('pages with n and Link: </v2/<name>/tags/list?n=2&last=…>; rel="next"', async () => {
      const first = await ctx.c.get(`/v2/${repo}/tags/list?n=2`);
      expect(first.status).toBe(200);
      expect(first.json()).toEqual({ name: repo, tags: lexical.slice(0, 2) });
      const link = parseNextLink(first.headers.get('link'));
      expect(link).toBeDefined();
      expect(link!.path).toBe(`/v2/${repo}/tags/list`);
      expect(link!.params.get('n')).toBe('2');
      expect(link!.params.get('last')).toBe(lexical[1]);
      expect(first.headers.get('link')).toMatch(/^<\/v2\/[^>]+>; rel="next"$/);

      // Follow the links to the end: every tag exactly once, in order.
      const seen: string[] = [...first.json().tags];
      let next = link;
      let pages = 1;
      while (next) {
        const page = await ctx.c.get(next.raw);
        expect(page.status).toBe(200);
        const tags: string[] = page.json().tags;
        expect(tags.length).toBeGreaterThan(0);
        expect(tags.length).toBeLessThanOrEqual(2);
        seen.push(...tags);
        next = parseNextLink(page.headers.get('link'));
        if (next) expect(next.params.get('last')).toBe(tags[tags.length - 1]);
        expect(++pages).toBeLessThan(10);
      }
      expect(seen).toEqual(lexical);
    });

    berthOnly('no Link header when nothing remains (n equal to or above the count)', async () => {
      for (const n of [lexical.length, lexical.length + 5]) {
        const res = await ctx.c.get(`/v2/${repo}/tags/list?n=${n}`);
        expect(res.json().tags).toEqual(lexical);
        expect(res.headers.get('link'), `n=${n}`).toBeNull();
      }
      const tail = await ctx.c.get(`/v2/${repo}/tags/list?n=2&last=${lexical[lexical.length - 3]}`);
      expect(tail.json().tags).toEqual(lexical.slice(-2));
      expect(tail.headers.get('link')).toBeNull();
    });

    berthOnly('last without n starts after the given tag', async () => {
      const res = await ctx.c.get(`/v2/${repo}/tags/list?last=b`);
      expect(res.status).toBe(200);
      expect(res.json().tags).toEqual(lexical.filter((t) => t > 'b'));
    });

    berthOnly('n=2&last=b returns the two tags after b', async () => {
      const res = await ctx.c.get(`/v2/${repo}/tags/list?n=2&last=b`);
      expect(res.json().tags).toEqual(lexical.filter((t) => t > 'b').slice(0, 2));
    });

    berthOnly('n=0 → 200 with an empty list', async () => {
      const res = await ctx.c.get(`/v2/${repo}/tags/list?n=0`);
      expect(res.status).toBe(200);
      expect(res.json().tags ?? []).toEqual([]);
    });

    berthOnly('bad n (-1, abc) → 400 PAGINATION_NUMBER_INVALID', async () => {
      for (const n of ['-1', 'abc', '1.5']) {
        expectError(await ctx.c.get(`/v2/${repo}/tags/list?n=${n}`), 400, 'PAGINATION_NUMBER_INVALID');
      }
    });

    it('unknown repository → 404 NAME_UNKNOWN', async () => {
      expectError(await ctx.c.get(`/v2/${prefix}/no-such-repo/tags/list`), 404, 'NAME_UNKNOWN');
    });
  });

  describe('catalog', () => {
    // A unique prefix: repositories of other tests (or earlier runs against an external
    // registry) sort before or after it, never between `catalogPrefix` and its children.
    const catalogPrefix = uniq('catalog');
    const names = ['e', 'a', 'c/nested', 'b', 'd'].map((n) => `${catalogPrefix}/${n}`);
    const sorted = [...names].sort();

    beforeAll(async () => {
      for (const n of names) await ctx.c.pushImage(n, 'v1');
    });

    it('lists repositories lexically', async () => {
      const res = await ctx.c.get('/v2/_catalog');
      expect(res.status).toBe(200);
      const repos: string[] = res.json().repositories;
      const mine = repos.filter((r) => r.startsWith(`${catalogPrefix}/`));
      expect(mine).toEqual(sorted);
    });

    berthOnly('the whole catalog is in byte order', async () => {
      // Distribution 2.8 walks directories, so `x/a` comes before `x-b/a`.
      const repos: string[] = (await ctx.c.get('/v2/_catalog')).json().repositories;
      expect(repos).toEqual([...repos].sort());
    });

    it('pages with n and last, with a Link header to the next page', async () => {
      const res = await ctx.c.get(`/v2/_catalog?n=2&last=${encodeURIComponent(catalogPrefix)}`);
      expect(res.status).toBe(200);
      expect(res.json().repositories).toEqual(sorted.slice(0, 2));
      const link = parseNextLink(res.headers.get('link'));
      expect(link).toBeDefined();
      expect(link!.path).toBe('/v2/_catalog');
      expect(link!.params.get('n')).toBe('2');
      expect(link!.params.get('last')).toBe(sorted[1]);

      // Follow the links until all of ours are seen.
      const seen: string[] = [...res.json().repositories];
      let next = link;
      while (next && seen.length < sorted.length) {
        const page = await ctx.c.get(next.raw);
        expect(page.status).toBe(200);
        const repos: string[] = page.json().repositories;
        expect(repos.length).toBeLessThanOrEqual(2);
        seen.push(...repos);
        next = parseNextLink(page.headers.get('link'));
        if (next) expect(next.params.get('last')).toBe(repos[repos.length - 1]);
      }
      expect(seen.slice(0, sorted.length)).toEqual(sorted);
    });

    it('last starts strictly after the given name', async () => {
      const res = await ctx.c.get(`/v2/_catalog?n=3&last=${encodeURIComponent(sorted[1])}`);
      expect(res.status).toBe(200);
      expect(res.json().repositories).toEqual(sorted.slice(2, 5));
    });

    it('n=0 → 200 with an empty list', async () => {
      const res = await ctx.c.get('/v2/_catalog?n=0');
      expect(res.status).toBe(200);
      expect(res.json().repositories ?? []).toEqual([]);
    });

    berthOnly('bad n (-1, abc) → 400 PAGINATION_NUMBER_INVALID', async () => {
      // Distribution 2.8 ignores such values.
      for (const n of ['-1', 'abc']) {
        expectError(await ctx.c.get(`/v2/_catalog?n=${n}`), 400, 'PAGINATION_NUMBER_INVALID');
      }
    });
  });
});

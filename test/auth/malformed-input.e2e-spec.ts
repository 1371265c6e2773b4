/**
 * Input no account, repository or field can hold: a NUL byte (Postgres refuses 0x00 in
 * text) in credentials, query parameters, path segments and JSON fields is a 400 with a
 * message, in the error format of each route family, never a 500; and the token
 * endpoint's form in an unsupported charset is a 415 saying so.
 *
 * Berth only: skipped against E2E_REGISTRY_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eAvailable, errorCode, expectError, externalRegistry, RegistryClient } from '../support/http.js';
import { startRegistry, type Credentials, type TestRegistry } from '../support/registry.js';
import { AdminApi, call, getToken, postToken, type HttpAnswer } from './support.js';

const available = !externalRegistry && (await e2eAvailable('auth/malformed-input'));

/** A Basic header for credentials that need not be valid UTF-8 text. */
function basic(username: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}` };
}

function expectApiError(answer: HttpAnswer, status: number, message: RegExp): void {
  expect(answer.status, answer.text.slice(0, 300)).toBe(status);
  expect(answer.headers.get('content-type')).toMatch(/application\/json/);
  expect(answer.body?.statusCode).toBe(status);
  expect(answer.body?.message).toMatch(message);
}

describe.skipIf(!available)('malformed input', () => {
  let registry: TestRegistry;
  let url: string;
  let admin: Credentials;
  let api: AdminApi;
  let c: RegistryClient;
  const repo = 'nul-check/app';

  beforeAll(async () => {
    registry = await startRegistry();
    url = registry.url;
    admin = registry.admin!;
    api = await AdminApi.login(url, admin);
    await api.createOrganisation('nul-check');
    c = new RegistryClient(url, admin);
    await c.pushImage(repo, 'v1');
  });

  afterAll(async () => {
    const problems = c?.takeViolations() ?? [];
    await registry?.close();
    expect(problems, 'protocol violations on /v2 responses').toEqual([]);
  });

  describe('NUL bytes on /v2 (the spec error JSON)', () => {
    it('in the Basic username → 400 with a message', async () => {
      const body = expectError(await c.get('/v2/', { headers: basic('ad\0min', 'x') }), 400, 'BAD_REQUEST');
      expect(body.errors[0].message).toMatch(/username.*NUL/);
    });

    it('in the Basic password → 400 with a message', async () => {
      const body = expectError(await c.get(`/v2/${repo}/tags/list`, { headers: basic(admin.username, `${admin.password}\0`) }), 400, 'BAD_REQUEST');
      expect(body.errors[0].message).toMatch(/password.*NUL/);
    });

    it('in a path segment → 400 NAME_INVALID', async () => {
      expectError(await c.get('/v2/nul-check/a%00b/tags/list'), 400, 'NAME_INVALID');
      expectError(await c.get('/v2/nul-check%00/app/manifests/v1'), 400, 'NAME_INVALID');
    });

    it('in a manifest field that is stored as text (annotations, artifactType, mediaType) → 400 MANIFEST_INVALID', async () => {
      const image = await c.pushImage(repo, 'v2');
      const variants = [
        { ...image.manifest, annotations: { 'org.example': 'a\0b' } },
        { ...image.manifest, annotations: { 'org.\0example': 'x' } },
        { ...image.manifest, artifactType: 'application/x\0' },
      ];
      for (const manifest of variants) {
        const body = expectError(await c.pushManifest(repo, 'nul', manifest, image.mediaType), 400, 'MANIFEST_INVALID');
        expect(body.errors[0].message).toMatch(/NUL/);
      }
      expect((await c.head(`/v2/${repo}/manifests/nul`)).status).toBe(404);
    });

    it('in a query parameter → 400 with a message naming it', async () => {
      const body = expectError(await c.get(`/v2/${repo}/tags/list?n=10&last=a%00`), 400, 'BAD_REQUEST');
      expect(body.errors[0].message).toMatch(/last.*NUL/);
      expectError(await c.get(`/v2/${repo}/referrers/sha256:${'a'.repeat(64)}?artifactType=x%00`), 400, 'BAD_REQUEST');
      expectError(await c.get('/v2/_catalog?last=a%00'), 400, 'BAD_REQUEST');
    });
  });

  describe('NUL bytes on /auth/token', () => {
    it('in the Basic username or password → 400 with a message', async () => {
      for (const headers of [basic('ad\0min', 'x'), basic(admin.username, `${admin.password}\0`)]) {
        const answer = await call(url, 'GET', '/auth/token?service=berth-registry', { headers });
        expect(answer.status, answer.text).toBe(400);
        expect(answer.body.errors[0].message).toMatch(/NUL/);
      }
    });

    it('in ?account= or ?scope= → 400 naming the parameter', async () => {
      const account = await getToken(url, { auth: admin, params: { account: 'ad\0min' } });
      expect(account.status, account.text).toBe(400);
      expect((account.body as any).errors[0].message).toMatch(/account.*NUL/);
      const scope = await getToken(url, { auth: admin, scopes: [`repository:${repo}\0:pull`] });
      expect(scope.status, scope.text).toBe(400);
      expect((scope.body as any).errors[0].message).toMatch(/scope.*NUL/);
    });

    it('in a form field of the OAuth2 POST → 400', async () => {
      const answer = await postToken(url, { grant_type: 'password', username: 'ad\0min', password: 'x', service: 'berth-registry' });
      expect(answer.status, answer.text).toBe(400);
      expect(answer.text).toMatch(/NUL/);
    });
  });

  describe('NUL bytes on /api/v1 (the admin API error JSON)', () => {
    it('in a JSON field of the login → 400', async () => {
      const answer = await call(url, 'POST', '/api/v1/auth/login', { json: { username: 'ad\0min', password: 'x' } });
      expectApiError(answer, 400, /username.*NUL/);
    });

    it('in a JSON field of an admin POST → 400', async () => {
      expectApiError(await api.request('POST', '/users', { username: 'eve\0', password: 'a-long-enough-Pa55word' }), 400, /username.*NUL/);
      expectApiError(await api.request('POST', '/namespaces', { name: 'org', visibility: 'pub\0lic' }), 400, /visibility.*NUL/);
    });

    it('in a path segment or a query parameter → 400', async () => {
      expectApiError(await api.request('GET', '/namespaces/a%00b'), 400, /NUL/);
      expectApiError(await api.request('GET', '/namespaces?q=a%00'), 400, /q.*NUL/);
    });
  });

  it('NUL attempts never reach the login throttle: the administrator still logs in', async () => {
    for (let i = 0; i < 12; i++) expect((await c.get('/v2/', { headers: basic(admin.username, `x\0${i}`) })).status).toBe(400);
    expect((await c.get('/v2/')).status).toBe(200);
  });

  describe('the token endpoint form', () => {
    it('in an unsupported charset → 415 with a message naming it', async () => {
      const answer = await call(url, 'POST', '/auth/token', {
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=latin1' },
      });
      expect(answer.status, answer.text).toBe(415);
      expect(answer.headers.get('content-type')).toMatch(/application\/json/);
      expect(answer.body.error).toBe('invalid_request');
      expect(answer.body.error_description).toMatch(/charset.*LATIN1.*UTF-8/i);
    });

    it('in UTF-8 (said or not) is read', async () => {
      for (const contentType of ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8']) {
        const form = new URLSearchParams({ grant_type: 'password', username: admin.username, password: admin.password, service: 'berth-registry' });
        const res = await fetch(`${url}/auth/token`, { method: 'POST', headers: { 'content-type': contentType }, body: form.toString() });
        expect(res.status, await res.clone().text()).toBe(200);
        expect(errorCode({ text: await res.text() } as never)).toBe('');
      }
    });
  });
});

/**
 * Docker token authentication, end to end over real HTTP against the real app:
 * the challenges /v2 sends, the token endpoint (GET and the OAuth2 POST grants),
 * what the issued JWTs carry, how /v2 honours them, and forged or stale tokens.
 *
 * Berth only: skipped against E2E_REGISTRY_URL (Distribution runs without auth).
 */
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign as cryptoSign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACCEPT_MANIFESTS,
  buildImage,
  e2eAvailable,
  errorCode,
  externalRegistry,
  RegistryClient,
  type Res,
  sha256,
  type TestImage,
} from '../support/http.js';
import { startRegistry, type Credentials, type TestRegistry } from '../support/registry.js';
import {
  AdminApi,
  accountName,
  apiLogin,
  b64url,
  call,
  type Claims,
  decodeJwt,
  expectedChallenge,
  expectStatus,
  getToken,
  mustGetToken,
  normaliseAccess,
  parseChallenge,
  password,
  postToken,
  sleep,
} from './support.js';

const available = !externalRegistry && (await e2eAvailable('auth/token'));
if (externalRegistry) console.warn('[auth/token] SKIPPED: Berth only (E2E_REGISTRY_URL is set)');

describe.skipIf(!available)('token authentication', () => {
  let registry: TestRegistry;
  let url: string;
  let admin: AdminApi;
  /** The administrator's own registry client (Basic). */
  let root: RegistryClient;
  /** Clients created by tests, whose responses are checked for protocol violations at the end. */
  const clients: RegistryClient[] = [];

  // Names: a private organisation (alice is developer), a public one, and a private one alice is not in.
  const org = accountName('tok');
  const pub = accountName('pub');
  const other = accountName('oth');
  let alice: Credentials;
  let bob: Credentials;
  let image: TestImage;

  const repo = `${org}/app`;
  const publicRepo = `${pub}/app`;
  const otherRepo = `${other}/app`;

  /** A /v2 client with fixed auth; its responses are checked for the API version header and error bodies. */
  const v2 = (auth: ConstructorParameters<typeof RegistryClient>[1]) => {
    const c = new RegistryClient(url, auth);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    registry = await startRegistry();
    url = registry.url;
    admin = await AdminApi.login(url, registry.admin!);
    root = v2(registry.admin!);
    alice = await admin.createUser(accountName('alice'), password());
    bob = await admin.createUser(accountName('bob'), password());
    for (const name of [org, pub, other]) await admin.createOrganisation(name);
    expectStatus(await admin.setVisibility(pub, 'public'), 200, 204);
    expectStatus(await admin.setMember(org, alice.username, 'developer'), 200, 201, 204);
    image = buildImage();
    for (const r of [repo, publicRepo, otherRepo]) await root.pushImage(r, 'v1', image);
  });

  afterAll(async () => {
    const problems = clients.flatMap((c) => c.takeViolations());
    await registry?.close();
    expect(problems, 'protocol violations on /v2 responses').toEqual([]);
  });

  const manifestPath = (r: string, ref = 'v1') => `/v2/${r}/manifests/${ref}`;
  const sha = sha256;

  function expectChallenge(res: Res, scope: string | undefined, insufficient = false): void {
    expect(res.status, `${res.status} ${res.text.slice(0, 300)}`).toBe(401);
    expect(errorCode(res)).toBe('UNAUTHORIZED');
    expect(res.headers.get('www-authenticate')).toBe(expectedChallenge(url, scope, insufficient));
  }

  // -------------------------------------------------------------------------
  describe('challenges', () => {
    it('GET /v2/ without credentials → 401 with a Bearer challenge and no scope', async () => {
      const res = await v2(null).get('/v2/');
      expectChallenge(res, undefined);
      const { scheme, params } = parseChallenge(res.headers.get('www-authenticate'));
      expect(scheme).toBe('Bearer');
      expect(params).toEqual({ realm: `${url}/auth/token`, service: 'berth-registry' });
    });

    it('HEAD /v2/ without credentials → 401 with the challenge', async () => {
      const res = await v2(null).head('/v2/');
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(expectedChallenge(url));
    });

    const routes: Array<[string, string, (r: string) => string, string]> = [
      ['GET manifest', 'GET', (r) => `/v2/${r}/manifests/v1`, 'pull'],
      ['HEAD manifest', 'HEAD', (r) => `/v2/${r}/manifests/v1`, 'pull'],
      ['GET blob', 'GET', (r) => `/v2/${r}/blobs/sha256:${'a'.repeat(64)}`, 'pull'],
      ['HEAD blob', 'HEAD', (r) => `/v2/${r}/blobs/sha256:${'a'.repeat(64)}`, 'pull'],
      ['GET tags/list', 'GET', (r) => `/v2/${r}/tags/list`, 'pull'],
      ['GET referrers', 'GET', (r) => `/v2/${r}/referrers/sha256:${'a'.repeat(64)}`, 'pull'],
      ['POST upload', 'POST', (r) => `/v2/${r}/blobs/uploads/`, 'pull,push'],
      ['PATCH upload', 'PATCH', (r) => `/v2/${r}/blobs/uploads/00000000-0000-4000-8000-000000000000`, 'pull,push'],
      ['PUT upload', 'PUT', (r) => `/v2/${r}/blobs/uploads/00000000-0000-4000-8000-000000000000?digest=sha256:${'a'.repeat(64)}`, 'pull,push'],
      ['PUT manifest', 'PUT', (r) => `/v2/${r}/manifests/v2`, 'pull,push'],
      ['DELETE manifest', 'DELETE', (r) => `/v2/${r}/manifests/sha256:${'a'.repeat(64)}`, 'delete'],
      ['DELETE tag', 'DELETE', (r) => `/v2/${r}/manifests/v1`, 'delete'],
      ['DELETE blob', 'DELETE', (r) => `/v2/${r}/blobs/sha256:${'a'.repeat(64)}`, 'delete'],
    ];

    it.each(routes)('%s without credentials → 401, scope="repository:<name>:%s"', async (_label, method, path, actions) => {
      const res = await v2(null).request(method, path(repo));
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(expectedChallenge(url, `repository:${repo}:${actions}`));
    });

    it('the scope names the full nested repository name', async () => {
      const res = await v2(null).get(`/v2/${org}/a/b/c/manifests/v1`);
      expectChallenge(res, `repository:${org}/a/b/c:pull`);
    });

    it('GET /v2/_catalog without credentials → scope="registry:catalog:*"', async () => {
      expectChallenge(await v2(null).get('/v2/_catalog'), 'registry:catalog:*');
    });

    it('a wrong password → 401 with the same challenge', async () => {
      const res = await v2({ username: alice.username, password: 'not-the-password' }).get(manifestPath(repo));
      expectChallenge(res, `repository:${repo}:pull`);
    });

    it('an unknown user → 401 with the same challenge', async () => {
      const res = await v2({ username: accountName('nobody'), password: 'whatever-pw' }).get('/v2/');
      expectChallenge(res, undefined);
    });

    it('an unsupported Authorization scheme or a malformed Basic header → 401 challenge', async () => {
      for (const header of ['Digest username="x"', 'Basic !!!not-base64', `Basic ${Buffer.from('no-colon').toString('base64')}`, 'Bearer']) {
        const res = await v2(null).get('/v2/', { headers: { Authorization: header } });
        expect(res.status, header).toBe(401);
        expect(res.headers.get('www-authenticate'), header).toBe(expectedChallenge(url));
      }
    });

    it('a garbage bearer token → 401 challenge without insufficient_scope', async () => {
      expectChallenge(await v2({ token: 'not.a.jwt' }).get(manifestPath(repo)), `repository:${repo}:pull`);
      expectChallenge(await v2({ token: 'garbage' }).get('/v2/'), undefined);
    });

    it('an invalid repository name never goes into the challenge', async () => {
      const res = await v2(null).get('/v2/Bad%22Name/manifests/v1');
      expect([400, 401, 404]).toContain(res.status);
      expect(res.headers.get('www-authenticate') ?? '').not.toMatch(/Bad|"Name/);
    });

    it('a mount challenges for pull on the source too, and a client following the challenge mounts (201)', async () => {
      const target = `${org}/mounted`;
      const layer = sha(image.layers[0]);
      const mountPath = `/v2/${target}/blobs/uploads/?mount=${layer}&from=${publicRepo}`;
      const challenged = await v2(null).post(mountPath);
      expectChallenge(challenged, `repository:${target}:pull,push repository:${publicRepo}:pull`);
      // As docker does: each scope of the challenge becomes one `scope` parameter.
      const scopes = parseChallenge(challenged.headers.get('www-authenticate')).params.scope.split(' ');
      const { token } = await mustGetToken(url, { auth: alice, scopes });
      const mounted = await v2({ token }).post(mountPath);
      expect(mounted.status, mounted.text).toBe(201);
      expect(mounted.headers.get('docker-content-digest')).toBe(layer);
    });

    it('a mount from an invalid source name challenges for the target only', async () => {
      const res = await v2(null).post(`/v2/${repo}/blobs/uploads/?mount=${sha('x')}&from=Bad%22Name`);
      expectChallenge(res, `repository:${repo}:pull,push`);
    });

    it('Basic credentials that are valid pass GET /v2/ (200)', async () => {
      expect((await v2(alice).get('/v2/')).status).toBe(200);
    });
  });

  // -------------------------------------------------------------------------
  describe('token endpoint: GET', () => {
    it('anonymous: a token with the JSON fields, ES256 with kid, the registry claims and no access', async () => {
      const before = Math.floor(Date.now() / 1000);
      const answer = await getToken(url, { scopes: [`repository:${repo}:pull`] });
      expectStatus(answer, 200);
      expect(answer.headers.get('content-type')).toMatch(/application\/json/);
      const body = answer.body;
      expect(typeof body.token).toBe('string');
      expect(body.access_token).toBe(body.token);
      expect(typeof body.expires_in).toBe('number');
      expect(body.expires_in).toBeGreaterThanOrEqual(60);
      expect(new Date(body.issued_at).toISOString()).toBe(body.issued_at);
      expect(body.refresh_token).toBeUndefined();

      const { header, payload } = decodeJwt(body.token);
      expect(header.alg).toBe('ES256');
      expect(typeof header.kid).toBe('string');
      expect(header.kid.length).toBeGreaterThan(0);
      const claims = payload as Claims;
      expect(claims.iss).toBe('berth');
      expect(claims.aud).toBe('berth-registry');
      expect(claims.sub ?? '').toBe('');
      expect(claims.iat).toBeGreaterThanOrEqual(before - 5);
      expect(claims.nbf).toBeLessThanOrEqual(claims.iat);
      expect(claims.exp - claims.iat).toBe(body.expires_in);
      expect(typeof claims.jti).toBe('string');
      // A private repository: nothing granted, and that is not an error.
      expect(claims.access).toEqual([]);
    });

    it('anonymous token passes GET /v2/', async () => {
      const { token } = await mustGetToken(url);
      expect((await v2({ token }).get('/v2/')).status).toBe(200);
    });

    it('anonymous token pulls from a public namespace (pull only, push never granted)', async () => {
      const { token, claims } = await mustGetToken(url, { scopes: [`repository:${publicRepo}:pull,push`] });
      expect(normaliseAccess(claims.access)).toEqual([{ type: 'repository', name: publicRepo, actions: ['pull'] }]);
      const c = v2({ token });
      const m = await c.get(manifestPath(publicRepo), { headers: { Accept: ACCEPT_MANIFESTS } });
      expect(m.status).toBe(200);
      expect(m.body.equals(image.manifestBytes)).toBe(true);
      expect((await c.get(`/v2/${publicRepo}/blobs/${sha(image.layers[0])}`)).status).toBe(200);
      expectChallenge(await c.post(`/v2/${publicRepo}/blobs/uploads/`), `repository:${publicRepo}:pull,push`, true);
    });

    it('anonymous token on a private repository → 401 insufficient_scope', async () => {
      const { token } = await mustGetToken(url, { scopes: [`repository:${repo}:pull`] });
      expectChallenge(await v2({ token }).get(manifestPath(repo)), `repository:${repo}:pull`, true);
    });

    it('anonymous with offline_token=true gets no refresh token', async () => {
      const { answer } = await mustGetToken(url, { offline: true, scopes: [`repository:${publicRepo}:pull`] });
      expect(answer.body.refresh_token).toBeUndefined();
    });

    it('Basic → the access claim is requested ∩ permitted (a partial grant is not an error)', async () => {
      const { claims } = await mustGetToken(url, {
        auth: alice,
        scopes: [`repository:${repo}:pull,push,delete`, `repository:${otherRepo}:pull`, `repository:${publicRepo}:pull,push`],
      });
      expect(claims.sub).toBe(alice.username);
      expect(claims.aud).toBe('berth-registry');
      expect(normaliseAccess(claims.access)).toEqual(
        normaliseAccess([
          { type: 'repository', name: repo, actions: ['pull', 'push'] },
          { type: 'repository', name: publicRepo, actions: ['pull'] },
        ]),
      );
    });

    it('`*` asks for every action the caller has', async () => {
      const { claims } = await mustGetToken(url, { auth: alice, scopes: [`repository:${repo}:*`] });
      expect(normaliseAccess(claims.access)).toEqual([{ type: 'repository', name: repo, actions: ['pull', 'push'] }]);
      const adminToken = await mustGetToken(url, { auth: registry.admin!, scopes: [`repository:${otherRepo}:*`] });
      expect(normaliseAccess(adminToken.claims.access)).toEqual([{ type: 'repository', name: otherRepo, actions: ['delete', 'pull', 'push'] }]);
    });

    it('repeated scope parameters are all granted', async () => {
      const { claims } = await mustGetToken(url, {
        auth: alice,
        scopes: [`repository:${repo}:pull`, `repository:${publicRepo}:pull`, 'registry:catalog:*'],
      });
      expect(normaliseAccess(claims.access)).toEqual(
        normaliseAccess([
          { type: 'repository', name: repo, actions: ['pull'] },
          { type: 'repository', name: publicRepo, actions: ['pull'] },
          { type: 'registry', name: 'catalog', actions: ['*'] },
        ]),
      );
    });

    it('space-separated scopes in one parameter are all granted', async () => {
      const { claims } = await mustGetToken(url, { auth: alice, scopes: [`repository:${repo}:pull repository:${publicRepo}:pull`] });
      expect(normaliseAccess(claims.access).map((a) => a.name)).toEqual([repo, publicRepo].sort());
    });

    it('scope names with ":" (host:port style) parse, and are just not granted', async () => {
      const scopes = [`repository:localhost:5000/${repo}:pull`, `repository:${repo}:pull`];
      const answer = await getToken(url, { auth: alice, scopes });
      expectStatus(answer, 200);
      const claims = decodeJwt(answer.body.token).payload as Claims;
      expect(normaliseAccess(claims.access)).toEqual([{ type: 'repository', name: repo, actions: ['pull'] }]);
    });

    it('host:port style names are not granted to an administrator either (not a valid repository name)', async () => {
      const { claims } = await mustGetToken(url, { auth: registry.admin!, scopes: [`repository:localhost:5000/${repo}:pull`] });
      expect(claims.access).toEqual([]);
    });

    it('malformed scopes and unknown resource types are ignored, not errors', async () => {
      const { claims } = await mustGetToken(url, {
        auth: alice,
        scopes: ['garbage', `repository:${repo}`, ':::', `plugin:${repo}:pull`, `repository:${repo}:pull`],
      });
      expect(normaliseAccess(claims.access)).toEqual([{ type: 'repository', name: repo, actions: ['pull'] }]);
    });

    it('a wrong password or an unknown user → 401', async () => {
      expectStatus(await getToken(url, { auth: { username: alice.username, password: 'wrong-password' } }), 401);
      expectStatus(await getToken(url, { auth: { username: accountName('ghost'), password: 'whatever-pw' } }), 401);
    });

    it('offline_token=true with credentials → a refresh token (audience other than the registry)', async () => {
      const { answer } = await mustGetToken(url, { auth: alice, offline: true, scopes: [`repository:${repo}:pull`] });
      expect(typeof answer.body.refresh_token).toBe('string');
      const refresh = decodeJwt(answer.body.refresh_token!);
      expect(refresh.header.alg).toBe('ES256');
      expect(refresh.payload.sub).toBe(alice.username);
      expect(refresh.payload.aud).not.toBe('berth-registry');
      // A refresh token is no access token.
      expectChallenge(await v2({ token: answer.body.refresh_token! }).get('/v2/'), undefined);
    });

    it('every token has its own jti', async () => {
      const a = await mustGetToken(url, { auth: alice });
      const b = await mustGetToken(url, { auth: alice });
      expect(a.claims.jti).not.toBe(b.claims.jti);
    });
  });

  // -------------------------------------------------------------------------
  describe('token endpoint: POST (OAuth2)', () => {
    it('password grant → access token with requested ∩ permitted, refresh token with access_type=offline', async () => {
      const answer = await postToken(url, {
        grant_type: 'password',
        service: 'berth-registry',
        client_id: 'berth-tests',
        username: alice.username,
        password: alice.password,
        scope: `repository:${repo}:pull,push repository:${otherRepo}:pull`,
        access_type: 'offline',
      });
      expectStatus(answer, 200);
      expect(answer.headers.get('cache-control')).toMatch(/no-store/);
      expect(typeof answer.body.access_token).toBe('string');
      expect(typeof answer.body.expires_in).toBe('number');
      expect(typeof answer.body.refresh_token).toBe('string');
      const claims = decodeJwt(answer.body.access_token).payload as Claims;
      expect(claims.sub).toBe(alice.username);
      expect(normaliseAccess(claims.access)).toEqual([{ type: 'repository', name: repo, actions: ['pull', 'push'] }]);
    });

    it('password grant without access_type=offline → no refresh token', async () => {
      const answer = await postToken(url, { grant_type: 'password', username: alice.username, password: alice.password, service: 'berth-registry' });
      expectStatus(answer, 200);
      expect(answer.body.refresh_token).toBeUndefined();
    });

    it('password grant with a wrong password → 401; without a password → 400 invalid_request', async () => {
      expectStatus(await postToken(url, { grant_type: 'password', username: alice.username, password: 'wrong-password' }), 401);
      const missing = await postToken(url, { grant_type: 'password', username: alice.username });
      expectStatus(missing, 400);
      expect(missing.body.error).toBe('invalid_request');
    });

    it('an unknown grant type → 400 unsupported_grant_type', async () => {
      const answer = await postToken(url, { grant_type: 'client_credentials', client_id: 'x' });
      expectStatus(answer, 400);
      expect(answer.body.error).toBe('unsupported_grant_type');
    });

    it('refresh_token grant → a new access token for the scope asked now', async () => {
      const { answer } = await mustGetToken(url, { auth: alice, offline: true });
      const refreshToken = answer.body.refresh_token!;
      const refreshed = await postToken(url, {
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        service: 'berth-registry',
        scope: `repository:${repo}:pull,push`,
      });
      expectStatus(refreshed, 200);
      const claims = decodeJwt(refreshed.body.access_token).payload as Claims;
      expect(claims.sub).toBe(alice.username);
      expect(normaliseAccess(claims.access)).toEqual([{ type: 'repository', name: repo, actions: ['pull', 'push'] }]);
      // The new token works on /v2.
      const m = await v2({ token: refreshed.body.access_token }).head(manifestPath(repo), { headers: { Accept: ACCEPT_MANIFESTS } });
      expect(m.status).toBe(200);
    });

    it('refresh_token grant with a garbage or an access token → 401 invalid_grant', async () => {
      const garbage = await postToken(url, { grant_type: 'refresh_token', refresh_token: 'garbage' });
      expectStatus(garbage, 401);
      expect(garbage.body.error).toBe('invalid_grant');
      const { token } = await mustGetToken(url, { auth: alice });
      const access = await postToken(url, { grant_type: 'refresh_token', refresh_token: token });
      expectStatus(access, 401);
      expect(access.body.error).toBe('invalid_grant');
    });

    it('after a password change the old refresh token is refused, a new one works', async () => {
      const carol = await admin.createUser(accountName('carol'), password());
      const { answer } = await mustGetToken(url, { auth: carol, offline: true });
      const old = answer.body.refresh_token!;
      // Refresh tokens carry whole seconds: change the password in a later second.
      await sleep(1100);
      const api = await AdminApi.login(url, carol);
      const newPassword = password();
      expectStatus(await api.changeOwnPassword(carol.password, newPassword), 200, 204);

      const refused = await postToken(url, { grant_type: 'refresh_token', refresh_token: old });
      expectStatus(refused, 401);
      expect(refused.body.error).toBe('invalid_grant');
      // The old password is gone, the new one gives a refresh token that works.
      expectStatus(await getToken(url, { auth: carol }), 401);
      const fresh = await mustGetToken(url, { auth: { username: carol.username, password: newPassword }, offline: true });
      await sleep(1100); // issued in a later second than the change (see the next test)
      expectStatus(await postToken(url, { grant_type: 'refresh_token', refresh_token: fresh.answer.body.refresh_token! }), 200);
    });

    it('a refresh token issued in the same second as the password change is refused too', async () => {
      const dave = await admin.createUser(accountName('dave'), password());
      const api = await AdminApi.login(url, dave);
      // Start right after a second boundary, so issuing and changing fall in the same second.
      await sleep(1000 - (Date.now() % 1000) + 20);
      const { answer } = await mustGetToken(url, { auth: dave, offline: true });
      expectStatus(await api.changeOwnPassword(dave.password, password()), 200, 204);
      const old = answer.body.refresh_token!;
      expect(Math.floor(Date.now() / 1000), 'the test itself took too long to stay within one second').toBe(decodeJwt(old).payload.iat);
      const refused = await postToken(url, { grant_type: 'refresh_token', refresh_token: old });
      expectStatus(refused, 401);
    });
  });

  // -------------------------------------------------------------------------
  describe('tokens on /v2', () => {
    it('a pull token pulls (manifest, blob, tags) but cannot push: 401 insufficient_scope', async () => {
      const { token } = await mustGetToken(url, { auth: alice, scopes: [`repository:${repo}:pull`] });
      const c = v2({ token });
      const m = await c.get(manifestPath(repo), { headers: { Accept: ACCEPT_MANIFESTS } });
      expect(m.status).toBe(200);
      expect(m.headers.get('docker-content-digest')).toBe(image.digest);
      const b = await c.get(`/v2/${repo}/blobs/${sha(image.config)}`);
      expect(b.status).toBe(200);
      expect(b.body.equals(image.config)).toBe(true);
      expect((await c.get(`/v2/${repo}/tags/list`)).status).toBe(200);

      expectChallenge(await c.post(`/v2/${repo}/blobs/uploads/`), `repository:${repo}:pull,push`, true);
      const put = await c.put(`/v2/${repo}/manifests/v2`, { headers: { 'Content-Type': image.mediaType }, body: image.manifestBytes });
      expectChallenge(put, `repository:${repo}:pull,push`, true);
      expectChallenge(await c.delete(`/v2/${repo}/manifests/${image.digest}`), `repository:${repo}:delete`, true);
    });

    it('a token for one repository does not open another (same namespace or public)', async () => {
      const { token } = await mustGetToken(url, { auth: alice, scopes: [`repository:${repo}:pull,push`] });
      const c = v2({ token });
      expectChallenge(await c.get(manifestPath(`${org}/elsewhere`)), `repository:${org}/elsewhere:pull`, true);
      // Alice may pull the public repository, but this token does not say so.
      expectChallenge(await c.get(manifestPath(publicRepo)), `repository:${publicRepo}:pull`, true);
    });

    it('a push token pushes blobs and a manifest', async () => {
      const target = `${org}/pushed`;
      const { token } = await mustGetToken(url, { auth: alice, scopes: [`repository:${target}:pull,push`] });
      const c = v2({ token });
      const img = buildImage();
      await c.pushImage(target, 'v1', img);
      const m = await c.get(manifestPath(target), { headers: { Accept: ACCEPT_MANIFESTS } });
      expect(m.status).toBe(200);
      expect(m.body.equals(img.manifestBytes)).toBe(true);
    });

    it('catalog: needs registry:catalog:* in the token (401 insufficient_scope otherwise), lists only pullable repositories', async () => {
      const without = await mustGetToken(url, { auth: alice, scopes: [`repository:${repo}:pull`] });
      expectChallenge(await v2({ token: without.token }).get('/v2/_catalog'), 'registry:catalog:*', true);

      const { token, claims } = await mustGetToken(url, { auth: alice, scopes: ['registry:catalog:*'] });
      expect(normaliseAccess(claims.access)).toEqual([{ type: 'registry', name: 'catalog', actions: ['*'] }]);
      const res = await v2({ token }).get('/v2/_catalog?n=1000');
      expect(res.status).toBe(200);
      const names: string[] = res.json().repositories;
      expect(names).toContain(repo);
      expect(names).toContain(publicRepo);
      expect(names).not.toContain(otherRepo);

      const anon = await mustGetToken(url, { scopes: ['registry:catalog:*'] });
      const anonNames: string[] = (await v2({ token: anon.token }).get('/v2/_catalog?n=1000')).json().repositories;
      expect(anonNames).toContain(publicRepo);
      expect(anonNames).not.toContain(repo);
      expect(anonNames).not.toContain(otherRepo);
    });

    it('the admin API token is refused on /v2 (401 challenge)', async () => {
      const login = await apiLogin(url, alice);
      expectStatus(login, 200);
      const { payload } = decodeJwt(login.body.token);
      expect(payload.aud).toBe('berth-api');
      expectChallenge(await v2({ token: login.body.token }).get('/v2/'), undefined);
      expectChallenge(await v2({ token: login.body.token }).get(manifestPath(repo)), `repository:${repo}:pull`);
    });

    it('a registry token is refused on /api (401)', async () => {
      const { token } = await mustGetToken(url, { auth: alice, scopes: [`repository:${repo}:pull`] });
      expectStatus(await call(url, 'GET', `/api/v1/users/${alice.username}`, { auth: { token } }), 401);
      expectStatus(await call(url, 'GET', '/api/v1/namespaces', { auth: { token } }), 401);
      // ...while the admin API token is accepted there.
      const api = await AdminApi.login(url, alice);
      expectStatus(await api.request('GET', '/namespaces'), 200);
    });

    it('a registry token is refused on /api even for an administrator', async () => {
      const { token } = await mustGetToken(url, { auth: registry.admin!, scopes: ['registry:catalog:*'] });
      expectStatus(await call(url, 'GET', '/api/v1/users', { auth: { token } }), 401);
    });
  });

  // -------------------------------------------------------------------------
  describe('forged and stale tokens → 401', () => {
    /** Berth's own signing key, read from its data directory: lets a test vary one claim at a time. */
    let realKey: KeyObject;
    let kid: string;
    let genuine: string;
    let genuineClaims: Claims;
    const attacker = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

    beforeAll(async () => {
      realKey = createPrivateKey(await readFile(join(registry.dataDir, 'token-signing-key.pem'), 'utf8'));
      const issued = await mustGetToken(url, { auth: alice, scopes: [`repository:${repo}:pull`] });
      genuine = issued.token;
      genuineClaims = issued.claims;
      kid = decodeJwt(genuine).header.kid;
    });

    /** Claims as Berth would issue them for alice, with a full grant on the repository and others. */
    const widened = (): Record<string, unknown> => ({
      ...genuineClaims,
      iat: Math.floor(Date.now() / 1000),
      nbf: Math.floor(Date.now() / 1000) - 5,
      exp: Math.floor(Date.now() / 1000) + 300,
      access: [
        { type: 'repository', name: repo, actions: ['pull', 'push', 'delete'] },
        { type: 'repository', name: otherRepo, actions: ['pull', 'push', 'delete'] },
      ],
    });

    /** Signs an ES256 JWT by hand (node:crypto) with any key and header. */
    const signEs256 = (payload: object, key: KeyObject, header: Record<string, unknown>) => {
      const input = `${b64url({ alg: 'ES256', typ: 'JWT', ...header })}.${b64url(payload)}`;
      const signature = cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
      return `${input}.${b64url(signature)}`;
    };

    /** The forged token must be refused for pulling the repository AND for what it claims beyond. */
    async function expectRefused(token: string): Promise<void> {
      const c = v2({ token });
      const pull = await c.get(manifestPath(repo), { headers: { Accept: ACCEPT_MANIFESTS } });
      expectChallenge(pull, `repository:${repo}:pull`);
      const other = await c.get(manifestPath(otherRepo), { headers: { Accept: ACCEPT_MANIFESTS } });
      expectChallenge(other, `repository:${otherRepo}:pull`);
      expectChallenge(await c.get('/v2/'), undefined);
    }

    it('sanity: the genuine token and one re-signed with the real key are accepted', async () => {
      expect((await v2({ token: genuine }).get(manifestPath(repo), { headers: { Accept: ACCEPT_MANIFESTS } })).status).toBe(200);
      const resigned = jwt.sign(widened(), realKey, { algorithm: 'ES256', keyid: kid });
      expect((await v2({ token: resigned }).get(manifestPath(otherRepo), { headers: { Accept: ACCEPT_MANIFESTS } })).status).toBe(200);
    });

    it('signed with another EC key, same kid', async () => {
      await expectRefused(jwt.sign(widened(), attacker.privateKey, { algorithm: 'ES256', keyid: kid }));
    });

    it('signed with another EC key, a different kid', async () => {
      await expectRefused(jwt.sign(widened(), attacker.privateKey, { algorithm: 'ES256', keyid: 'attacker-key' }));
    });

    it('signed with another EC key whose public key is embedded in the header (jwk / x5c style)', async () => {
      const jwk = attacker.publicKey.export({ format: 'jwk' });
      await expectRefused(signEs256(widened(), attacker.privateKey, { kid, jwk }));
      await expectRefused(signEs256(widened(), attacker.privateKey, { kid: 'attacker', jwk, jku: 'http://127.0.0.1:1/jwks.json' }));
    });

    it('alg: none (with and without the kid, with and without a trailing signature)', async () => {
      for (const header of [{ alg: 'none', typ: 'JWT', kid }, { alg: 'none', typ: 'JWT' }, { alg: 'None', kid }, { alg: 'NONE', kid }]) {
        const unsigned = `${b64url(header)}.${b64url(widened())}`;
        await expectRefused(`${unsigned}.`);
        await expectRefused(`${unsigned}.${genuine.split('.')[2]}`);
      }
    });

    it('HS256 signed with the public key PEM as the HMAC secret', async () => {
      const publicPem = createPublicKey(realKey).export({ type: 'spki', format: 'pem' }).toString();
      const publicDer = createPublicKey(realKey).export({ type: 'spki', format: 'der' });
      for (const secret of [publicPem, publicPem.trim(), publicDer]) {
        const input = `${b64url({ alg: 'HS256', typ: 'JWT', kid })}.${b64url(widened())}`;
        const mac = createHmac('sha256', secret).update(input).digest();
        await expectRefused(`${input}.${b64url(mac)}`);
      }
    });

    it('RS256 signed with an attacker RSA key and the same kid', async () => {
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
      await expectRefused(jwt.sign(widened(), rsa.privateKey, { algorithm: 'RS256', keyid: kid }));
    });

    it('wrong audience (real key)', async () => {
      await expectRefused(jwt.sign({ ...widened(), aud: 'other-registry' }, realKey, { algorithm: 'ES256', keyid: kid }));
      // The refresh audience is no access audience either.
      await expectRefused(jwt.sign({ ...widened(), aud: 'berth-refresh' }, realKey, { algorithm: 'ES256', keyid: kid }));
    });

    it('no audience at all (real key)', async () => {
      const { aud: _aud, ...claims } = widened();
      await expectRefused(jwt.sign(claims, realKey, { algorithm: 'ES256', keyid: kid }));
    });

    it('wrong issuer (real key)', async () => {
      await expectRefused(jwt.sign({ ...widened(), iss: 'not-berth' }, realKey, { algorithm: 'ES256', keyid: kid }));
    });

    it('expired: exp in the past (real key)', async () => {
      const now = Math.floor(Date.now() / 1000);
      await expectRefused(jwt.sign({ ...widened(), iat: now - 600, nbf: now - 600, exp: now - 60 }, realKey, { algorithm: 'ES256', keyid: kid }));
    });

    it('not yet valid: nbf in the future (real key)', async () => {
      const now = Math.floor(Date.now() / 1000);
      await expectRefused(jwt.sign({ ...widened(), nbf: now + 600, exp: now + 900 }, realKey, { algorithm: 'ES256', keyid: kid }));
    });

    it('tampered payload: access widened, signature kept', async () => {
      const [h, , s] = genuine.split('.');
      await expectRefused(`${h}.${b64url(widened())}.${s}`);
      // Also a subject swap to the administrator, keeping the signature.
      await expectRefused(`${h}.${b64url({ ...genuineClaims, sub: registry.admin!.username })}.${s}`);
    });

    it('tampered header: alg changed to HS256, signature kept', async () => {
      const [, p, s] = genuine.split('.');
      await expectRefused(`${b64url({ alg: 'HS256', typ: 'JWT', kid })}.${p}.${s}`);
    });

    it('the admin API token (real key, aud berth-api) and a refresh token are no registry tokens', async () => {
      await expectRefused(jwt.sign({ ...widened(), aud: 'berth-api' }, realKey, { algorithm: 'ES256', keyid: kid }));
    });
  });

  // -------------------------------------------------------------------------
  describe('configuration: PUBLIC_URL, TOKEN_SERVICE, TOKEN_TTL_SECONDS', () => {
    const publicUrl = 'https://registry.example.test';
    const service = 'berth-test-service';
    let configured: TestRegistry;
    beforeAll(async () => {
      // exp is in whole seconds after a whole-second iat: a TTL of n leaves n-1 to n seconds, so 3 leaves the requests at least 2.
      configured = await startRegistry({ env: { PUBLIC_URL: `${publicUrl}/`, TOKEN_SERVICE: service, TOKEN_TTL_SECONDS: '3' } });
    });
    afterAll(async () => {
      await configured?.close();
    });

    it('the realm is PUBLIC_URL + /auth/token whatever Host the request names, the service is TOKEN_SERVICE', async () => {
      const c = new RegistryClient(configured.url, null);
      const variants: Record<string, string>[] = [{}, { Host: 'attacker.example:8443' }, { 'X-Forwarded-Host': 'attacker.example', 'X-Forwarded-Proto': 'http' }];
      for (const headers of variants) {
        const res = await c.get('/v2/', { headers });
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${publicUrl}/auth/token",service="${service}"`);
      }
      expect(c.takeViolations()).toEqual([]);
    });

    it('tokens carry aud = TOKEN_SERVICE and expire after TOKEN_TTL_SECONDS, also once used', async () => {
      const { token, claims, answer } = await mustGetToken(configured.url, { auth: configured.admin!, service });
      expect(claims.aud).toBe(service);
      expect(answer.body.expires_in).toBe(3);
      const c = new RegistryClient(configured.url, { token });
      expect((await c.get('/v2/')).status).toBe(200);
      expect((await c.get('/v2/')).status).toBe(200);
      // A token /v2 has already verified must still stop working at `exp`.
      await sleep(claims.exp * 1000 - Date.now() + 250);
      const res = await c.get('/v2/');
      expect(res.status, res.text).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${publicUrl}/auth/token",service="${service}"`);
      expect(c.takeViolations()).toEqual([]);
    });

    it('a token of another Berth (another key, another service) is refused', async () => {
      const { token } = await mustGetToken(url, { auth: registry.admin!, scopes: ['registry:catalog:*'] });
      const res = await new RegistryClient(configured.url, { token }).get('/v2/');
      expect(res.status).toBe(401);
    });

    it('two Berth instances in one process each keep verifying their own tokens', async () => {
      // The first registry must still accept its own fresh token while the second one runs.
      const { token } = await mustGetToken(url, { auth: alice, scopes: [`repository:${repo}:pull`] });
      const res = await v2({ token }).get(manifestPath(repo), { headers: { Accept: ACCEPT_MANIFESTS } });
      expect(res.status, res.text).toBe(200);
    });
  });
});

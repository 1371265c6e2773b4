/**
 * The permission model end to end: namespace roles, system administrators,
 * non-members and anonymous callers on private and public namespaces, robots,
 * disabled users, personal namespaces, the catalog, cross-repository mounts and
 * the failed-login rate limit. Every cell of the matrix is one named test.
 *
 * On /v2, a denial looks different by how the caller authenticated:
 *   Basic credentials without the permission → 403 DENIED;
 *   no credentials at all → 401 with the Bearer challenge;
 *   a token that lacks the scope → 401 with error="insufficient_scope".
 *
 * Berth only: skipped against E2E_REGISTRY_URL (Distribution runs without auth).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACCEPT_MANIFESTS,
  buildImage,
  e2eAvailable,
  errorCode,
  externalRegistry,
  RegistryClient,
  type RegistryAuth,
  type Res,
  sha256,
  type TestImage,
  withQuery,
} from '../support/http.js';
import { startRegistry, type Credentials, type TestRegistry } from '../support/registry.js';
import {
  AdminApi,
  accountName,
  apiLogin,
  call,
  decodeJwt,
  expectedChallenge,
  expectStatus,
  getToken,
  type HttpAnswer,
  mustGetToken,
  password,
  sleep,
} from './support.js';

const available = !externalRegistry && (await e2eAvailable('auth/permissions'));
if (externalRegistry) console.warn('[auth/permissions] SKIPPED: Berth only (E2E_REGISTRY_URL is set)');

type Who = 'reader' | 'developer' | 'maintainer' | 'owner' | 'non-member' | 'system admin' | 'anonymous';
type Kind = 'private' | 'public';
type Mode = 'basic' | 'token';
type Action = 'pull' | 'push' | 'delete';

const WHO: Who[] = ['reader', 'developer', 'maintainer', 'owner', 'non-member', 'system admin', 'anonymous'];
const ROLES = ['reader', 'developer', 'maintainer', 'owner'] as const;
const KINDS: Kind[] = ['private', 'public'];
const MODES: Mode[] = ['basic', 'token'];

/** Registry actions of each identity by role (public namespaces add pull for everyone). */
const GRANTS: Record<Who, Action[]> = {
  reader: ['pull'],
  developer: ['pull', 'push'],
  maintainer: ['pull', 'push', 'delete'],
  owner: ['pull', 'push', 'delete'],
  'non-member': [],
  'system admin': ['pull', 'push', 'delete'],
  anonymous: [],
};

/** What `who` may do with credentials (a Basic login, or a token, the anonymous token included). */
function mayDoWithToken(who: Who, kind: Kind, action: Action): boolean {
  return GRANTS[who].includes(action) || (kind === 'public' && action === 'pull');
}

/** `basic` for anonymous means: no Authorization header at all. */
function modeLabel(who: Who, mode: Mode): string {
  if (mode === 'token') return who === 'anonymous' ? 'an anonymous token' : 'a token';
  return who === 'anonymous' ? 'no credentials' : 'Basic credentials';
}

/** Token scope actions a client asks for before each kind of request (what docker asks). */
const SCOPE_ACTIONS: Record<Action, string> = { pull: 'pull', push: 'pull,push', delete: 'delete' };

describe.skipIf(!available)('permissions', () => {
  let registry: TestRegistry;
  let url: string;
  let admin: AdminApi;
  let root: RegistryClient;
  const clients: RegistryClient[] = [];

  /** One private and one public organisation, the same members in both. */
  const ns: Record<Kind, string> = { private: accountName('priv'), public: accountName('publ') };
  /** A private organisation nobody but the administrator is in. */
  const closed = accountName('closed');
  const users = {} as Record<Exclude<Who, 'anonymous'>, Credentials>;
  /** Seeded by the administrator in every namespace as `<ns>/app:v1`. */
  let seed: TestImage;

  const v2 = (auth: RegistryAuth | null) => {
    const c = new RegistryClient(url, auth);
    clients.push(c);
    return c;
  };
  const credentialsOf = (who: Who): Credentials | null => (who === 'anonymous' ? null : users[who]);

  beforeAll(async () => {
    registry = await startRegistry();
    url = registry.url;
    admin = await AdminApi.login(url, registry.admin!);
    root = v2(registry.admin!);
    for (const name of [ns.private, ns.public, closed]) await admin.createOrganisation(name);
    expectStatus(await admin.setVisibility(ns.public, 'public'), 200, 204);
    for (const role of ROLES) {
      users[role] = await admin.createUser(accountName(role.slice(0, 4)), password());
      for (const kind of KINDS) expectStatus(await admin.setMember(ns[kind], users[role].username, role), 200, 201, 204);
    }
    users['non-member'] = await admin.createUser(accountName('outs'), password());
    users['system admin'] = await admin.createUser(accountName('sysa'), password(), true);
    seed = buildImage();
    for (const name of [ns.private, ns.public, closed]) await root.pushImage(`${name}/app`, 'v1', seed);
  });

  afterAll(async () => {
    const problems = clients.flatMap((c) => c.takeViolations());
    await registry?.close();
    expect(problems, 'protocol violations on /v2 responses').toEqual([]);
  });

  /** A /v2 client for `who`: its Basic credentials, or a token asked for `repo` and `actions`. */
  async function clientAs(who: Who, mode: Mode, repo: string, actions: string): Promise<RegistryClient> {
    const credentials = credentialsOf(who);
    if (mode === 'basic') return v2(credentials);
    const { token } = await mustGetToken(url, { auth: credentials, scopes: [`repository:${repo}:${actions}`] });
    return v2({ token });
  }

  /** Asserts the refusal `who` gets in `mode` for a request on `repo` needing `scopeActions`. */
  function expectDenied(res: Res, who: Who, mode: Mode, repo: string, scopeActions: string): void {
    const where = `${res.status} ${res.text.slice(0, 300)}`;
    if (mode === 'basic' && who !== 'anonymous') {
      expect(res.status, where).toBe(403);
      expect(errorCode(res)).toBe('DENIED');
      return;
    }
    expect(res.status, where).toBe(401);
    expect(errorCode(res)).toBe('UNAUTHORIZED');
    // Anonymous without any credentials gets the plain challenge; a token lacking the scope, insufficient_scope.
    expect(res.headers.get('www-authenticate')).toBe(expectedChallenge(url, `repository:${repo}:${scopeActions}`, mode === 'token'));
  }

  const getManifest = (c: RegistryClient, repo: string, ref: string) => c.get(`/v2/${repo}/manifests/${ref}`, { headers: { Accept: ACCEPT_MANIFESTS } });

  // -------------------------------------------------------------------------
  describe('registry matrix (/v2)', () => {
    describe.each(WHO)('%s', (who) => {
      describe.each(KINDS)('%s namespace', (kind) => {
        for (const mode of MODES) describe(`with ${modeLabel(who, mode)}`, () => {
          const repo = () => `${ns[kind]}/app`;
          // Without any credentials even a public pull is challenged: clients fetch an anonymous token first.
          const mayDo = (w: Who, k: Kind, action: Action) => !(w === 'anonymous' && mode === 'basic') && mayDoWithToken(w, k, action);
          const expectation = (action: Action) => (mayDo(who, kind, action) ? 'allowed' : 'denied');

          it(`pull (manifest GET + blob GET) → ${expectation('pull')}`, async () => {
            const c = await clientAs(who, mode, repo(), SCOPE_ACTIONS.pull);
            const manifest = await getManifest(c, repo(), 'v1');
            const blob = await c.get(`/v2/${repo()}/blobs/${sha256(seed.layers[0])}`);
            if (mayDo(who, kind, 'pull')) {
              expect(manifest.status, manifest.text).toBe(200);
              expect(manifest.body.equals(seed.manifestBytes)).toBe(true);
              expect(blob.status, blob.text).toBe(200);
              expect(blob.body.equals(seed.layers[0])).toBe(true);
            } else {
              expectDenied(manifest, who, mode, repo(), 'pull');
              expectDenied(blob, who, mode, repo(), 'pull');
            }
          });

          it(`push (blob upload + manifest PUT) → ${expectation('push')}`, async () => {
            const c = await clientAs(who, mode, repo(), SCOPE_ACTIONS.push);
            const tag = `${who.replace(/ /g, '-')}-${mode}`;
            if (mayDo(who, kind, 'push')) {
              const img = buildImage();
              await c.pushImage(repo(), tag, img);
              const back = await getManifest(root, repo(), tag);
              expect(back.status).toBe(200);
              expect(back.headers.get('docker-content-digest')).toBe(img.digest);
              return;
            }
            expectDenied(await c.post(`/v2/${repo()}/blobs/uploads/`), who, mode, repo(), 'pull,push');
            // The seed's blobs exist in the repository: only the manifest PUT itself is judged.
            const put = await c.pushManifest(repo(), tag, seed.manifestBytes, seed.mediaType);
            expectDenied(put, who, mode, repo(), 'pull,push');
            expect((await getManifest(root, repo(), tag)).status, 'a refused PUT must not create the tag').toBe(404);
          });

          it(`delete a manifest (DELETE by digest) → ${expectation('delete')}`, async () => {
            const tag = `del-m-${who.replace(/ /g, '-')}-${mode}`;
            const img = await root.pushImage(repo(), tag, buildImage({ layers: 1, layerSize: 64 }));
            const c = await clientAs(who, mode, repo(), SCOPE_ACTIONS.delete);
            const res = await c.delete(`/v2/${repo()}/manifests/${img.digest}`);
            if (mayDo(who, kind, 'delete')) {
              expect(res.status, res.text).toBe(202);
              expect((await getManifest(root, repo(), img.digest)).status).toBe(404);
            } else {
              expectDenied(res, who, mode, repo(), 'delete');
              expect((await getManifest(root, repo(), img.digest)).status, 'a refused DELETE must leave the manifest').toBe(200);
            }
          });

          it(`delete a tag (DELETE by tag) → ${expectation('delete')}`, async () => {
            const tag = `del-t-${who.replace(/ /g, '-')}-${mode}`;
            await root.pushImage(repo(), tag, buildImage({ layers: 1, layerSize: 64 }));
            const c = await clientAs(who, mode, repo(), SCOPE_ACTIONS.delete);
            const res = await c.delete(`/v2/${repo()}/manifests/${tag}`);
            if (mayDo(who, kind, 'delete')) {
              expect(res.status, res.text).toBe(202);
              expect((await getManifest(root, repo(), tag)).status).toBe(404);
            } else {
              expectDenied(res, who, mode, repo(), 'delete');
              expect((await getManifest(root, repo(), tag)).status, 'a refused DELETE must leave the tag').toBe(200);
            }
          });
        });
      });
    });
  });

  // -------------------------------------------------------------------------
  describe('namespace administration matrix (/api)', () => {
    /** Allowed for owners and administrators; Berth hides a private namespace from non-members (404). */
    function expected(who: Who, kind: Kind): number[] {
      if (who === 'owner' || who === 'system admin') return [200, 201, 204];
      if (who === 'anonymous') return [401];
      if (who === 'non-member' && kind === 'private') return [404];
      return [403];
    }

    async function as(who: Who, method: string, path: string, json: unknown): Promise<HttpAnswer> {
      const credentials = credentialsOf(who);
      if (!credentials) return call(url, method, `/api/v1${path}`, { json });
      const api = await AdminApi.login(url, credentials);
      return api.request(method, path, json);
    }

    describe.each(WHO)('%s', (who) => {
      describe.each(KINDS)('%s namespace', (kind) => {
        const label = (k: Kind) => expected(who, k).join('/');

        it(`set a member → ${label(kind)}`, async () => {
          const spare = await admin.createUser(accountName('spare'), password());
          const res = await as(who, 'PUT', `/namespaces/${ns[kind]}/members/${spare.username}`, { role: 'reader' });
          expectStatus(res, ...expected(who, kind));
        });

        it(`create a robot → ${label(kind)}`, async () => {
          const res = await as(who, 'POST', `/namespaces/${ns[kind]}/robots`, { name: accountName('bot'), actions: ['pull'] });
          expectStatus(res, ...expected(who, kind));
          if (res.status < 300) expect(typeof res.body?.secret).toBe('string');
        });

        it(`change visibility → ${label(kind)}`, async () => {
          // Set to what it is: the permission is judged, the namespace stays as the other tests expect.
          const res = await as(who, 'PATCH', `/namespaces/${ns[kind]}`, { visibility: kind });
          expectStatus(res, ...expected(who, kind));
        });
      });
    });
  });

  // -------------------------------------------------------------------------
  describe('robots', () => {
    const robotNs = () => ns.private;
    let ci: Credentials; // pull+push on <ns>/app-*
    let reader: Credentials; // pull on everything in the namespace
    let deleter: Credentials; // delete only

    beforeAll(async () => {
      ci = await robot({ name: accountName('ci'), actions: ['pull', 'push'], repositories: [`${robotNs()}/app-*`] });
      reader = await robot({ name: accountName('ro'), actions: ['pull'], repositories: null });
      deleter = await robot({ name: accountName('rm'), actions: ['delete'] });
      await root.pushImage(`${robotNs()}/app-one`, 'v1', seed);
      await root.pushImage(`${closed}/app-one`, 'v1', seed);
    });

    async function robot(grant: { name: string; actions: string[]; repositories?: string[] | null; expiresAt?: string }): Promise<Credentials> {
      const created = await admin.createRobot(robotNs(), grant);
      expect(created.username).toBe(`${robotNs()}+${grant.name}`);
      return { username: created.username, password: created.secret };
    }

    interface RobotCase {
      label: string;
      robot: () => Credentials;
      action: Action;
      repo: () => string;
      allowed: boolean;
    }
    const cases: RobotCase[] = [
      { label: 'push robot pulls a repository matching its glob', robot: () => ci, action: 'pull', repo: () => `${robotNs()}/app-one`, allowed: true },
      { label: 'push robot pushes to a repository matching its glob', robot: () => ci, action: 'push', repo: () => `${robotNs()}/app-new`, allowed: true },
      { label: 'push robot: a repository outside its glob (pull)', robot: () => ci, action: 'pull', repo: () => `${robotNs()}/app`, allowed: false },
      { label: 'push robot: a repository outside its glob (push)', robot: () => ci, action: 'push', repo: () => `${robotNs()}/other`, allowed: false },
      { label: 'push robot: the glob stays within one path component', robot: () => ci, action: 'push', repo: () => `${robotNs()}/app-x/nested`, allowed: false },
      { label: 'push robot: another (private) namespace, matching name', robot: () => ci, action: 'pull', repo: () => `${closed}/app-one`, allowed: false },
      { label: 'push robot: another namespace, push', robot: () => ci, action: 'push', repo: () => `${closed}/app-one`, allowed: false },
      { label: 'push robot: delete not granted', robot: () => ci, action: 'delete', repo: () => `${robotNs()}/app-one`, allowed: false },
      { label: 'pull robot pulls any repository of its namespace', robot: () => reader, action: 'pull', repo: () => `${robotNs()}/app`, allowed: true },
      { label: 'pull robot cannot push', robot: () => reader, action: 'push', repo: () => `${robotNs()}/app`, allowed: false },
      { label: 'pull robot pulls from a public namespace like anybody', robot: () => reader, action: 'pull', repo: () => `${ns.public}/app`, allowed: true },
      { label: 'pull robot cannot push to a public namespace', robot: () => reader, action: 'push', repo: () => `${ns.public}/app`, allowed: false },
      { label: 'delete robot deletes in its namespace', robot: () => deleter, action: 'delete', repo: () => `${robotNs()}/app`, allowed: true },
      { label: 'delete robot cannot pull a private repository', robot: () => deleter, action: 'pull', repo: () => `${robotNs()}/app`, allowed: false },
    ];

    describe.each(MODES)('with %s', (mode) => {
      for (const { label, robot: who, action, repo, allowed } of cases) it(`${label} → ${allowed ? 'allowed' : 'denied'}`, async () => {
        const credentials = who();
        const name = repo();
        const c =
          mode === 'basic'
            ? v2(credentials)
            : v2({ token: (await mustGetToken(url, { auth: credentials, scopes: [`repository:${name}:${SCOPE_ACTIONS[action]}`] })).token });
        let res: Res;
        if (action === 'pull') {
          res = await getManifest(c, name, 'v1');
          if (allowed) expect(res.status, res.text).toBe(200);
        } else if (action === 'push') {
          res = await c.post(`/v2/${name}/blobs/uploads/`);
          if (allowed) {
            expect(res.status, res.text).toBe(202);
            await c.pushImage(name, `robot-${mode}`, buildImage({ layers: 1, layerSize: 64 }));
          }
        } else {
          const img = await root.pushImage(name, `robot-del-${mode}`, buildImage({ layers: 1, layerSize: 64 }));
          res = await c.delete(`/v2/${name}/manifests/${img.digest}`);
          if (allowed) expect(res.status, res.text).toBe(202);
        }
        if (!allowed) {
          const scope = SCOPE_ACTIONS[action];
          if (mode === 'basic') {
            expect(res.status, res.text).toBe(403);
            expect(errorCode(res)).toBe('DENIED');
          } else {
            expect(res.status, res.text).toBe(401);
            expect(res.headers.get('www-authenticate')).toBe(expectedChallenge(url, `repository:${name}:${scope}`, true));
          }
        }
      });
    });

    it('the token grant of a robot is its grant ∩ the request (push implies pull)', async () => {
      const { claims } = await mustGetToken(url, {
        auth: ci,
        scopes: [`repository:${robotNs()}/app-one:push,delete`, `repository:${robotNs()}/app:pull`, `repository:${closed}/app-one:pull`],
      });
      expect(claims.sub).toBe(ci.username);
      expect(claims.access).toEqual([{ type: 'repository', name: `${robotNs()}/app-one`, actions: ['push'] }]);
      const pushPull = await mustGetToken(url, { auth: ci, scopes: [`repository:${robotNs()}/app-one:pull,push`] });
      expect([...pushPull.claims.access![0].actions].sort()).toEqual(['pull', 'push']);
    });

    it('a wrong secret → 401 on /v2 and at the token endpoint', async () => {
      const wrong = { username: ci.username, password: 'not-the-secret' };
      expect((await v2(wrong).get('/v2/')).status).toBe(401);
      expectStatus(await getToken(url, { auth: wrong }), 401);
    });

    it('a robot cannot use the admin API (login refused)', async () => {
      const res = await apiLogin(url, reader);
      expectStatus(res, 401, 403);
    });

    it('an expiry in the past is refused at creation (400)', async () => {
      const res = await admin.createRobotRequest(robotNs(), {
        name: accountName('old'),
        actions: ['pull'],
        expiresAt: new Date(Date.now() - 60_000).toISOString(),
      });
      expectStatus(res, 400);
    });

    it('an expired robot → 401 on /v2 and at the token endpoint', async () => {
      const expiresAt = new Date(Date.now() + 1500);
      const shortLived = await robot({ name: accountName('exp'), actions: ['pull'], expiresAt: expiresAt.toISOString() });
      expect((await v2(shortLived).get(`/v2/${robotNs()}/app/manifests/v1`, { headers: { Accept: ACCEPT_MANIFESTS } })).status).toBe(200);
      await sleep(Math.max(0, expiresAt.getTime() - Date.now()) + 300);
      const res = await v2(shortLived).get(`/v2/${robotNs()}/app/manifests/v1`, { headers: { Accept: ACCEPT_MANIFESTS } });
      expect(res.status, res.text).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(expectedChallenge(url, `repository:${robotNs()}/app:pull`));
      expectStatus(await getToken(url, { auth: shortLived, scopes: [`repository:${robotNs()}/app:pull`] }), 401);
    });

    it('a revoked robot → 401 on /v2 and at the token endpoint', async () => {
      const name = accountName('rev');
      const doomed = await robot({ name, actions: ['pull', 'push'] });
      expect((await v2(doomed).get('/v2/')).status).toBe(200);
      expectStatus(await admin.revokeRobot(robotNs(), name), 200, 204);
      const res = await v2(doomed).get(`/v2/${robotNs()}/app/manifests/v1`, { headers: { Accept: ACCEPT_MANIFESTS } });
      expect(res.status, res.text).toBe(401);
      expect((await v2(doomed).get('/v2/')).status).toBe(401);
      expectStatus(await getToken(url, { auth: doomed }), 401);
    });
  });

  // -------------------------------------------------------------------------
  describe('disabled users', () => {
    it('a disabled user → 401 on /v2 (Basic), at the token endpoint and on the admin API', async () => {
      const user = await admin.createUser(accountName('dis'), password());
      expectStatus(await admin.setMember(ns.private, user.username, 'developer'), 200, 201, 204);
      const repo = `${ns.private}/app`;
      expect((await getManifest(v2(user), repo, 'v1')).status).toBe(200);
      const api = await AdminApi.login(url, user);
      expectStatus(await api.request('GET', '/namespaces'), 200);

      expectStatus(await admin.disableUser(user.username), 200, 204);

      const res = await getManifest(v2(user), repo, 'v1');
      expect(res.status, res.text).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(expectedChallenge(url, `repository:${repo}:pull`));
      expect((await v2(user).get('/v2/')).status).toBe(401);
      expectStatus(await getToken(url, { auth: user, scopes: [`repository:${repo}:pull`] }), 401);
      expectStatus(await apiLogin(url, user), 401);
      // An admin API token issued before is refused at once.
      expectStatus(await api.request('GET', '/namespaces'), 401);
    });
  });

  // -------------------------------------------------------------------------
  describe('personal namespaces', () => {
    let alice: Credentials;
    let bob: Credentials;
    beforeAll(async () => {
      alice = await admin.createUser(accountName('pa'), password());
      bob = await admin.createUser(accountName('pb'), password());
    });

    describe.each(MODES)('with %s', (mode) => {
      it('a user pushes to and pulls from <username>/app', async () => {
        const repo = `${alice.username}/app-${mode}`;
        const c = await clientAs2(alice, mode, repo, 'pull,push');
        const img = await c.pushImage(repo, 'v1', buildImage());
        const back = await getManifest(c, repo, 'v1');
        expect(back.status).toBe(200);
        expect(back.headers.get('docker-content-digest')).toBe(img.digest);
      });

      it('another user can neither push to nor pull from it', async () => {
        const repo = `${alice.username}/app-${mode}`;
        const c = await clientAs2(bob, mode, repo, 'pull,push');
        const push = await c.post(`/v2/${repo}/blobs/uploads/`);
        const pull = await getManifest(c, repo, 'v1');
        if (mode === 'basic') {
          expect([push.status, pull.status]).toEqual([403, 403]);
        } else {
          expect(push.headers.get('www-authenticate')).toBe(expectedChallenge(url, `repository:${repo}:pull,push`, true));
          expect(pull.headers.get('www-authenticate')).toBe(expectedChallenge(url, `repository:${repo}:pull`, true));
        }
      });
    });

    async function clientAs2(user: Credentials, mode: Mode, repo: string, actions: string): Promise<RegistryClient> {
      if (mode === 'basic') return v2(user);
      const { token } = await mustGetToken(url, { auth: user, scopes: [`repository:${repo}:${actions}`] });
      return v2({ token });
    }
  });

  // -------------------------------------------------------------------------
  describe('catalog shows only pullable repositories', () => {
    /** Every repository of this file's namespaces, as the administrator sees them. */
    let all: string[];
    const ours = (names: string[]) => names.filter((n) => [ns.private, ns.public, closed].some((p) => n.startsWith(`${p}/`))).sort();

    beforeAll(async () => {
      const res = await root.get('/v2/_catalog?n=10000');
      expect(res.status).toBe(200);
      all = ours(res.json().repositories);
      expect(all.length).toBeGreaterThanOrEqual(3);
    });

    const visible = (who: Who | 'robot', name: string): boolean => {
      const namespace = name.split('/')[0];
      if (namespace === ns.public) return true;
      if (who === 'system admin') return true;
      if (who === 'robot') return false; // the pull robot of these cases is created below
      return namespace === ns.private && GRANTS[who].includes('pull');
    };

    describe.each(MODES)('with %s', (mode) => {
      it.each(WHO)('%s', async (who) => {
        const credentials = credentialsOf(who);
        let res: Res;
        if (mode === 'basic') {
          res = await v2(credentials).get('/v2/_catalog?n=10000');
          if (!credentials) {
            expect(res.status).toBe(401);
            expect(res.headers.get('www-authenticate')).toBe(expectedChallenge(url, 'registry:catalog:*'));
            return;
          }
        } else {
          const { token } = await mustGetToken(url, { auth: credentials, scopes: ['registry:catalog:*'] });
          res = await v2({ token }).get('/v2/_catalog?n=10000');
        }
        expect(res.status, res.text).toBe(200);
        expect(ours(res.json().repositories)).toEqual(all.filter((name) => visible(who, name)));
      });
    });

    it('a robot sees its grant and public namespaces', async () => {
      const created = await admin.createRobot(ns.private, { name: accountName('cat'), actions: ['pull'], repositories: [`${ns.private}/app`] });
      const res = await v2({ username: created.username, password: created.secret }).get('/v2/_catalog?n=10000');
      expect(res.status, res.text).toBe(200);
      expect(ours(res.json().repositories)).toEqual(all.filter((name) => name.startsWith(`${ns.public}/`) || name === `${ns.private}/app`));
    });
  });

  // -------------------------------------------------------------------------
  describe('cross-repository mount', () => {
    let developer: Credentials;
    const target = () => `${ns.private}/mount-target`;
    const layer = () => sha256(seed.layers[0]);
    beforeAll(() => {
      developer = users.developer;
    });

    it('with pull on the source: 201 (mounted)', async () => {
      const res = await v2(developer).post(`/v2/${target()}/blobs/uploads/?mount=${layer()}&from=${ns.private}/app`);
      expect(res.status, res.text).toBe(201);
      expect(res.headers.get('docker-content-digest')).toBe(layer());
    });

    it('without pull on the source (Basic): falls back to 202, a new upload session', async () => {
      const res = await v2(developer).post(`/v2/${target()}-2/blobs/uploads/?mount=${layer()}&from=${closed}/app`);
      expect(res.status, res.text).toBe(202);
      expect(res.location).toMatch(/\/blobs\/uploads\//);
      // The blob did not become readable through the target.
      expect((await v2(developer).get(`/v2/${target()}-2/blobs/${layer()}`)).status).toBe(404);
    });

    it('a token without pull on the source falls back to 202 even when the user could pull it', async () => {
      const dest = `${target()}-3`;
      const { token } = await mustGetToken(url, { auth: developer, scopes: [`repository:${dest}:pull,push`] });
      const res = await v2({ token }).post(`/v2/${dest}/blobs/uploads/?mount=${layer()}&from=${ns.private}/app`);
      expect(res.status, res.text).toBe(202);
      const both = await mustGetToken(url, { auth: developer, scopes: [`repository:${dest}:pull,push`, `repository:${ns.private}/app:pull`] });
      const mounted = await v2({ token: both.token }).post(`/v2/${dest}/blobs/uploads/?mount=${layer()}&from=${ns.private}/app`);
      expect(mounted.status, mounted.text).toBe(201);
    });

    it('the upload session from a refused mount completes normally', async () => {
      const dest = `${target()}-4`;
      const c = v2(developer);
      const res = await c.post(`/v2/${dest}/blobs/uploads/?mount=${layer()}&from=${closed}/app`);
      expect(res.status).toBe(202);
      const done = await c.put(withQuery(res.location!, { digest: layer() }), {
        headers: { 'Content-Type': 'application/octet-stream' },
        body: seed.layers[0],
      });
      expect(done.status, done.text).toBe(201);
    });
  });

  // -------------------------------------------------------------------------
  // These start a second registry in this process. Keep them last: while Berth's JWT
  // strategy is registered on passport's global instance, the newest app's key and
  // audience verify bearer tokens for every app in the process (see token.e2e-spec).
  describe('failed-login rate limit (LOGIN_MAX_FAILURES=3)', () => {
    let limited: TestRegistry;
    let limitedAdmin: AdminApi;
    beforeAll(async () => {
      limited = await startRegistry({ env: { LOGIN_MAX_FAILURES: '3', LOGIN_FAILURE_WINDOW_SECONDS: '120' } });
      limitedAdmin = await AdminApi.login(limited.url, limited.admin!);
    });
    afterAll(async () => {
      await limited?.close();
    });

    const fail = async (user: Credentials) => getToken(limited.url, { auth: { username: user.username, password: 'wrong-password' } });

    function expectTooMany(answer: HttpAnswer | Res): void {
      expect(answer.status, answer.text).toBe(429);
      const retryAfter = Number(answer.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter), `Retry-After: ${answer.headers.get('retry-after')}`).toBe(true);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(120);
    }

    it('after 3 failures: 429 with Retry-After, also for the right password, on every login path', async () => {
      const user = await limitedAdmin.createUser(accountName('rl'), password());
      for (let i = 0; i < 3; i++) expectStatus(await fail(user), 401);

      const token = await getToken(limited.url, { auth: user });
      expectTooMany(token);
      expect(JSON.parse(token.text).errors?.[0]?.code).toBe('TOOMANYREQUESTS');

      const basic = await new RegistryClient(limited.url, user).get('/v2/');
      expectTooMany(basic);
      expect(errorCode(basic)).toBe('TOOMANYREQUESTS');

      expectTooMany(await apiLogin(limited.url, user));
      expectTooMany(await call(limited.url, 'POST', '/auth/token', { form: { grant_type: 'password', username: user.username, password: user.password } }));
    });

    it('failures through /v2 Basic and the admin API login count too', async () => {
      const user = await limitedAdmin.createUser(accountName('rl'), password());
      const wrong = { username: user.username, password: 'wrong-password' };
      expect((await new RegistryClient(limited.url, wrong).get('/v2/')).status).toBe(401);
      expectStatus(await apiLogin(limited.url, wrong), 401);
      expectStatus(await fail(user), 401);
      expectTooMany(await getToken(limited.url, { auth: user }));
    });

    it('another account is unaffected', async () => {
      const victim = await limitedAdmin.createUser(accountName('rl'), password());
      const bystander = await limitedAdmin.createUser(accountName('rl'), password());
      for (let i = 0; i < 4; i++) await fail(victim);
      expectTooMany(await getToken(limited.url, { auth: victim }));
      const ok = await getToken(limited.url, { auth: bystander });
      expectStatus(ok, 200);
      expect(decodeJwt(ok.body.token).payload.sub).toBe(bystander.username);
      expect((await new RegistryClient(limited.url, bystander).get('/v2/')).status).toBe(200);
    });

    it('a successful login clears the account count', async () => {
      const user = await limitedAdmin.createUser(accountName('rl'), password());
      for (let i = 0; i < 2; i++) expectStatus(await fail(user), 401);
      expectStatus(await getToken(limited.url, { auth: user }), 200);
      for (let i = 0; i < 2; i++) expectStatus(await fail(user), 401);
      expectStatus(await getToken(limited.url, { auth: user }), 200);
    });

    it('unknown usernames are limited the same way (no hint which accounts exist)', async () => {
      const ghost = { username: accountName('ghost'), password: 'whatever-pw' };
      for (let i = 0; i < 3; i++) expectStatus(await getToken(limited.url, { auth: ghost }), 401);
      expectTooMany(await getToken(limited.url, { auth: ghost }));
    });
  });

  describe('failed-login rate limit per address (LOGIN_MAX_FAILURES_PER_ADDRESS=4)', () => {
    let limited: TestRegistry;
    beforeAll(async () => {
      limited = await startRegistry({ env: { LOGIN_MAX_FAILURES: '100', LOGIN_MAX_FAILURES_PER_ADDRESS: '4' } });
    });
    afterAll(async () => {
      await limited?.close();
    });

    it('failures over several accounts from one address → 429 for wrong passwords from it, not for a right one', async () => {
      const api = await AdminApi.login(limited.url, limited.admin!);
      const user = await api.createUser(accountName('addr'), password());
      for (let i = 0; i < 4; i++) {
        expectStatus(await getToken(limited.url, { auth: { username: accountName('spray'), password: 'wrong-password' } }), 401);
      }
      const guess = await getToken(limited.url, { auth: { username: user.username, password: 'wrong-password' } });
      expect(guess.status, guess.text).toBe(429);
      expect(Number(guess.headers.get('retry-after'))).toBeGreaterThan(0);
      const other = await api.createUser(accountName('addr'), password());
      expectStatus(await getToken(limited.url, { auth: other }), 200);
    });
  });
});

/**
 * Revocation: refresh tokens die with a robot's rotation, revocation and deletion
 * (also when a robot of the same name is created again), with a user's disabling and
 * a password change; registry tokens already issued stop working on every replica
 * within 10 s of a revocation made through any of them. The replicas are two
 * in-process registries on one database, sharing the signing key.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, buildImage, e2eAvailable, externalRegistry } from '../support/http.js';
import { type Credentials, type InProcessRegistry, startInProcessRegistry } from '../support/registry.js';
import { AdminApi, accountName, call, expectStatus, mustGetToken, parseChallenge, password, postToken, sleep } from './support.js';

const available = !externalRegistry && (await e2eAvailable('auth/revocation'));

/** The bound the registry promises, and how often the test looks. */
const BOUND_MS = 10_000;
const LOOK_EVERY_MS = 100;

describe.skipIf(!available)('revocation', () => {
  const signingKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  let a: InProcessRegistry;
  let b: InProcessRegistry;
  let admin: AdminApi;
  const org = accountName('rev');
  const repo = `${org}/app`;
  const delays: Record<string, number> = {};

  beforeAll(async () => {
    a = await startInProcessRegistry({ env: { TOKEN_SIGNING_KEY: signingKey, RUN_WORKERS: 'false' } });
    b = await startInProcessRegistry({ embedded: true, env: { TOKEN_SIGNING_KEY: signingKey, RUN_WORKERS: 'false', DATABASE_URL: a.database!.url } });
    admin = await AdminApi.login(a.url, a.admin);
    await admin.createOrganisation(org);
    await new RegistryClient(a.url, a.admin).pushImage(repo, 'v1', buildImage());
  });

  afterAll(async () => {
    console.log(`revocation delays on the other replica (ms): ${JSON.stringify(delays)}`);
    await b?.close();
    await a?.close();
  });

  async function member(role: string): Promise<Credentials> {
    const user = await admin.createUser(accountName('revu'), password());
    expectStatus(await admin.setMember(org, user.username, role), 200, 201);
    return user;
  }

  const pullOn = (registry: InProcessRegistry, token: string) => new RegistryClient(registry.url, { token }).get(`/v2/${repo}/manifests/v1`);

  /** A registry token for `credentials` from replica A, checked to work on replica B. */
  async function tokenFromA(credentials: Credentials): Promise<string> {
    const { token } = await mustGetToken(a.url, { auth: credentials, scopes: [`repository:${repo}:pull`] });
    expect((await pullOn(b, token)).status).toBe(200);
    return token;
  }

  /** Runs `revoke` (through A) and waits until B refuses `token`: the delay, or a failure past the bound. */
  async function expectRevokedOnB(label: string, token: string, revoke: () => Promise<unknown>): Promise<void> {
    await revoke();
    const start = Date.now();
    for (;;) {
      const res = await pullOn(b, token);
      if (res.status === 401) {
        delays[label] = Date.now() - start;
        expect(JSON.parse(res.text).errors[0].code).toBe('UNAUTHORIZED');
        expect(parseChallenge(res.headers.get('www-authenticate')).params.scope).toBe(`repository:${repo}:pull`);
        // A, which made the change, reads it the same way.
        while ((await pullOn(a, token)).status !== 401) {
          expect(Date.now() - start, `${label}: the token still works on A after ${BOUND_MS} ms`).toBeLessThan(BOUND_MS);
          await sleep(LOOK_EVERY_MS);
        }
        return;
      }
      expect(res.status, res.text).toBe(200);
      expect(Date.now() - start, `${label}: the token still works on B after ${BOUND_MS} ms`).toBeLessThan(BOUND_MS);
      await sleep(LOOK_EVERY_MS);
    }
  }

  describe('registry tokens, across replicas, within 10 s', () => {
    it('a disabled user', async () => {
      const user = await member('reader');
      const token = await tokenFromA(user);
      await expectRevokedOnB('disabled user', token, async () => expectStatus(await admin.disableUser(user.username), 200));
    });

    it('a removed member, and a role change; a token issued afterwards works', async () => {
      const removed = await member('developer');
      const removedToken = await tokenFromA(removed);
      await expectRevokedOnB('removed member', removedToken, async () =>
        expectStatus(await admin.request('DELETE', `/namespaces/${org}/members/${removed.username}`), 204),
      );

      const changed = await member('developer');
      const changedToken = await tokenFromA(changed);
      await expectRevokedOnB('role change', changedToken, async () => expectStatus(await admin.setMember(org, changed.username, 'reader'), 200));
      // The new role's token is not caught by the revocation of the old one, on either replica.
      const fresh = await tokenFromA(changed);
      await sleep(2_500);
      expect((await pullOn(b, fresh)).status).toBe(200);
      expect((await pullOn(a, fresh)).status).toBe(200);
    });

    it('a password change', async () => {
      const user = await member('reader');
      const token = await tokenFromA(user);
      const own = await AdminApi.login(a.url, user);
      await expectRevokedOnB('password change', token, async () => expectStatus(await own.changeOwnPassword(user.password, password()), 200, 204));
    });

    it('a robot revoked, rotated or deleted', async () => {
      const revoked = await admin.createRobot(org, { name: accountName('r'), actions: ['pull'] });
      const revokedToken = await tokenFromA({ username: revoked.username, password: revoked.secret });
      await expectRevokedOnB('robot revoked', revokedToken, async () => expectStatus(await admin.revokeRobot(org, revoked.username.split('+')[1]), 200));

      const rotated = await admin.createRobot(org, { name: accountName('r'), actions: ['pull'] });
      const rotatedToken = await tokenFromA({ username: rotated.username, password: rotated.secret });
      await expectRevokedOnB('robot rotated', rotatedToken, () => admin.must('POST', `/namespaces/${org}/robots/${rotated.username.split('+')[1]}/rotate`));

      const deleted = await admin.createRobot(org, { name: accountName('r'), actions: ['pull'] });
      const deletedToken = await tokenFromA({ username: deleted.username, password: deleted.secret });
      await expectRevokedOnB('robot deleted', deletedToken, async () =>
        expectStatus(await admin.request('DELETE', `/namespaces/${org}/robots/${deleted.username.split('+')[1]}`), 204),
      );
    });
  });

  describe('refresh tokens', () => {
    /** A refresh token through the OAuth2 password grant (offline). */
    async function refreshToken(registry: InProcessRegistry, credentials: Credentials): Promise<string> {
      const answer = await postToken(registry.url, {
        grant_type: 'password',
        username: credentials.username,
        password: credentials.password,
        service: 'berth-registry',
        access_type: 'offline',
        scope: `repository:${repo}:pull`,
      });
      expectStatus(answer, 200);
      expect(answer.body.refresh_token).toBeTruthy();
      return answer.body.refresh_token!;
    }
    const refresh = (registry: InProcessRegistry, token: string) =>
      postToken(registry.url, { grant_type: 'refresh_token', refresh_token: token, service: 'berth-registry', scope: `repository:${repo}:pull` });

    function expectRefused(answer: Awaited<ReturnType<typeof refresh>>): void {
      expect(answer.status, answer.text).toBe(401);
      expect(answer.body.error).toBe('invalid_grant');
    }

    it('die with a robot secret rotation', async () => {
      const robot = await admin.createRobot(org, { name: accountName('rf'), actions: ['pull'] });
      const token = await refreshToken(a, { username: robot.username, password: robot.secret });
      expectStatus(await refresh(b, token), 200);
      const rotated = await admin.must('POST', `/namespaces/${org}/robots/${robot.username.split('+')[1]}/rotate`);
      expectRefused(await refresh(a, token));
      expectRefused(await refresh(b, token));
      expectStatus(await refresh(b, await refreshToken(a, { username: robot.username, password: rotated.secret })), 200);
    });

    it('die with a robot deleted, also when a robot of the same name is created again', async () => {
      const name = accountName('rf');
      const robot = await admin.createRobot(org, { name, actions: ['pull'] });
      const token = await refreshToken(a, { username: robot.username, password: robot.secret });
      expectStatus(await admin.request('DELETE', `/namespaces/${org}/robots/${name}`), 204);
      expectRefused(await refresh(a, token));
      const again = await admin.createRobot(org, { name, actions: ['pull', 'push'] });
      expect(again.username).toBe(robot.username);
      expectRefused(await refresh(a, token));
      expectRefused(await refresh(b, token));
    });

    it('die with a robot revoked', async () => {
      const robot = await admin.createRobot(org, { name: accountName('rf'), actions: ['pull'] });
      const token = await refreshToken(a, { username: robot.username, password: robot.secret });
      expectStatus(await admin.revokeRobot(org, robot.username.split('+')[1]), 200);
      expectRefused(await refresh(b, token));
    });

    it('die with a user disabled, and stay dead when the user is enabled again', async () => {
      const user = await member('reader');
      const token = await refreshToken(a, user);
      expectStatus(await refresh(b, token), 200);
      expectStatus(await admin.disableUser(user.username), 200);
      expectRefused(await refresh(a, token));
      expectStatus(await admin.request('PATCH', `/users/${user.username}`, { disabled: false }), 200);
      expectRefused(await refresh(a, token));
      expectStatus(await refresh(a, await refreshToken(a, user)), 200);
    });

    it('die with a password change', async () => {
      const user = await member('reader');
      const token = await refreshToken(b, user);
      const own = await AdminApi.login(a.url, user);
      expectStatus(await own.changeOwnPassword(user.password, password()), 200, 204);
      expectRefused(await refresh(a, token));
      expectRefused(await refresh(b, token));
    });

    it('a role change leaves refresh tokens and admin API tokens working (they resolve permissions afresh)', async () => {
      const user = await member('reader');
      const token = await refreshToken(a, user);
      const own = await AdminApi.login(b.url, user);
      expectStatus(await admin.setMember(org, user.username, 'developer'), 200);
      const refreshed = await refresh(b, token);
      expectStatus(refreshed, 200);
      expectStatus(await call(b.url, 'GET', `/api/v1/users/${user.username}`, { auth: { token: own.token } }), 200);
      // The new access token carries the new role's grant and is not caught by the revocation.
      await sleep(2_500);
      expect((await pullOn(b, refreshed.body.access_token)).status).toBe(200);
    });

    it('an admin API token dies with a password change too', async () => {
      const user = await member('reader');
      const own = await AdminApi.login(a.url, user);
      const other = await AdminApi.login(b.url, user);
      expectStatus(await own.changeOwnPassword(user.password, password()), 200, 204);
      const res = await call(b.url, 'GET', `/api/v1/users/${user.username}`, { auth: { token: other.token } });
      expect(res.status, res.text).toBe(401);
    });
  });
});

/**
 * Verified logins (VerifiedLogins): Basic credentials sent on every request are checked
 * once, then served from memory, counted by `berth_logins_total{check}`. The cache must
 * not change an answer: a wrong password is still refused and counted by the throttle,
 * a pair the throttle has locked is refused even with the right password remembered, and
 * a password change, a disabling or a robot rotation made on another replica stops the
 * old credentials within 10 s. The replicas are two in-process registries on one
 * database, sharing the signing key; addresses vary through X-Forwarded-For.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eAvailable, externalRegistry } from '../support/http.js';
import { type Credentials, type InProcessRegistry, basicAuth, startInProcessRegistry } from '../support/registry.js';
import { sample } from '../observability/support.js';
import { AdminApi, type HttpAnswer, accountName, call, expectStatus, password, sleep } from './support.js';

const available = !externalRegistry && (await e2eAvailable('auth/verified-logins'));

/** The bound the registry promises for the other replica, and how often the test looks. */
const BOUND_MS = 10_000;
const LOOK_EVERY_MS = 100;

describe.skipIf(!available)('verified logins', () => {
  const signingKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const env = { TOKEN_SIGNING_KEY: signingKey, RUN_WORKERS: 'false', TRUST_PROXY: 'loopback', LOGIN_FAILURE_WINDOW_SECONDS: '600' };
  let a: InProcessRegistry;
  let b: InProcessRegistry;
  let admin: AdminApi;
  const org = accountName('vl');
  const delays: Record<string, number> = {};

  beforeAll(async () => {
    a = await startInProcessRegistry({ env });
    b = await startInProcessRegistry({ embedded: true, env: { ...env, DATABASE_URL: a.database!.url } });
    admin = await AdminApi.login(a.url, a.admin);
    await admin.createOrganisation(org);
  });

  afterAll(async () => {
    console.log(`verified-login delays on the other replica (ms): ${JSON.stringify(delays)}`);
    await b?.close();
    await a?.close();
  });

  const v2 = (registry: InProcessRegistry, credentials: Credentials, address = '198.51.100.1'): Promise<HttpAnswer> =>
    call(registry.url, 'GET', '/v2/', { headers: { authorization: basicAuth(credentials), 'x-forwarded-for': address } });

  async function logins(registry: InProcessRegistry): Promise<{ verified: number; cached: number }> {
    const text = await (await fetch(`${registry.url}/metrics`)).text();
    return { verified: sample(text, 'berth_logins_total{check="verified"}')!, cached: sample(text, 'berth_logins_total{check="cached"}')! };
  }

  /** Runs `request` until it answers `status`: the delay, or a failure past the bound. */
  async function within(label: string, status: number, request: () => Promise<HttpAnswer>): Promise<void> {
    const start = Date.now();
    for (;;) {
      const answer = await request();
      if (answer.status === status) {
        delays[label] = Date.now() - start;
        return;
      }
      expect(answer.status, answer.text).toBe(200);
      expect(Date.now() - start, `${label}: still 200 after ${BOUND_MS} ms`).toBeLessThan(BOUND_MS);
      await sleep(LOOK_EVERY_MS);
    }
  }

  /** A new user whose password replica B has verified and remembered. */
  async function rememberedOnB(address: string): Promise<Credentials> {
    const user = await admin.createUser(accountName('vlu'), password());
    expect((await v2(b, user, address)).status).toBe(200);
    const before = await logins(b);
    expect((await v2(b, user, address)).status).toBe(200);
    expect(await logins(b)).toEqual({ verified: before.verified, cached: before.cached + 1 });
    return user;
  }

  it('the right password is verified once per (account, address), then served without a check', async () => {
    const user = await admin.createUser(accountName('vlu'), password());
    const before = await logins(a);
    for (let i = 0; i < 5; i++) expect((await v2(a, user, '198.51.100.10')).status).toBe(200);
    expect(await logins(a)).toEqual({ verified: before.verified + 1, cached: before.cached + 4 });
    // Another address proves the password for itself.
    expect((await v2(a, user, '198.51.100.11')).status).toBe(200);
    expect((await logins(a)).verified).toBe(before.verified + 2);
  });

  it('a wrong password after the right one is refused, and the right one is then checked again', async () => {
    const user = await admin.createUser(accountName('vlu'), password());
    const address = '198.51.100.20';
    expect((await v2(a, user, address)).status).toBe(200);
    expect((await v2(a, user, address)).status).toBe(200);
    expect((await v2(a, { username: user.username, password: `${user.password}x` }, address)).status).toBe(401);
    expect((await v2(a, { username: user.username, password: '' }, address)).status).toBe(401);
    const before = await logins(a);
    expect((await v2(a, user, address)).status).toBe(200);
    expect((await logins(a)).verified).toBe(before.verified + 1);
  });

  it('the throttle is unchanged: failures lock the pair even for a remembered password, not another address', async () => {
    const user = await admin.createUser(accountName('vlu'), password());
    const address = '203.0.113.30';
    expect((await v2(a, user, address)).status).toBe(200);
    expect((await v2(a, user, address)).status).toBe(200);
    const wrong = { username: user.username, password: 'not-the-password' };
    for (let i = 0; i < 10; i++) expect((await v2(a, wrong, address)).status).toBe(401);
    expect((await v2(a, wrong, address)).status).toBe(429);
    expect((await v2(a, user, address)).status).toBe(429);
    expect((await v2(a, user, '198.51.100.30')).status).toBe(200);
  });

  it('failures counted on replica A lock the pair on replica B, which remembered the password, within 10 s', async () => {
    const address = '203.0.113.40';
    const user = await rememberedOnB(address);
    const wrong = { username: user.username, password: 'not-the-password' };
    for (let i = 0; i < 10; i++) expect((await v2(a, wrong, address)).status).toBe(401);
    expect((await v2(a, user, address)).status).toBe(429);
    await within('failures on A', 429, () => v2(b, user, address));
    expect((await v2(b, user, '198.51.100.40')).status).toBe(200);
  });

  it('a password change on replica A stops the old password on B within 10 s (and on A at once); the new one works', async () => {
    const address = '198.51.100.50';
    const user = await rememberedOnB(address);
    expect((await v2(a, user, address)).status).toBe(200);
    const own = await AdminApi.login(a.url, user);
    const changed = { username: user.username, password: password() };
    expectStatus(await own.changeOwnPassword(user.password, changed.password), 200, 204);
    expect((await v2(a, user, address)).status).toBe(401);
    await within('password change', 401, () => v2(b, user, address));
    expect((await v2(b, changed, address)).status).toBe(200);
  });

  it('disabling a user on replica A stops their remembered login on B within 10 s', async () => {
    const address = '198.51.100.60';
    const user = await rememberedOnB(address);
    expectStatus(await admin.disableUser(user.username), 200);
    expect((await v2(a, user, address)).status).toBe(401);
    await within('disabled user', 401, () => v2(b, user, address));
  });

  it('rotating a robot secret on replica A stops the old secret on B within 10 s', async () => {
    const address = '198.51.100.70';
    const name = accountName('r');
    const robot = await admin.createRobot(org, { name, actions: ['pull'] });
    const old = { username: robot.username, password: robot.secret };
    expect((await v2(b, old, address)).status).toBe(200);
    const before = await logins(b);
    expect((await v2(b, old, address)).status).toBe(200);
    expect((await logins(b)).cached).toBe(before.cached + 1);
    const rotated = await admin.must('POST', `/namespaces/${org}/robots/${name}/rotate`);
    await within('robot rotated', 401, () => v2(b, old, address));
    expect((await v2(b, { username: robot.username, password: rotated.secret }, address)).status).toBe(200);
  });
});

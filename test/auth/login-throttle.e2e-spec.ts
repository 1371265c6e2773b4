/**
 * The failed-login throttle tells the attacker from the victim: failures lock the
 * (account, address) pair, and a noisy address is throttled for its wrong guesses,
 * but a correct password from another address (or for an account that has not failed
 * from the noisy one) always logs in. Addresses vary through X-Forwarded-For, which
 * the registry honours from loopback (TRUST_PROXY=loopback). Default limits: 10 per
 * pair, 50 per address (an IPv6 /64, an IPv4-mapped address as its IPv4), and they hold
 * for guesses sent all at once as for guesses sent in turn.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eAvailable, externalRegistry } from '../support/http.js';
import { type Credentials, type InProcessRegistry, basicAuth, startInProcessRegistry } from '../support/registry.js';
import { AdminApi, type HttpAnswer, accountName, call, password } from './support.js';

const available = !externalRegistry && (await e2eAvailable('auth/login-throttle'));

describe.skipIf(!available)('failed-login throttle: attacker and victim', () => {
  let registry: InProcessRegistry;
  let admin: AdminApi;

  beforeAll(async () => {
    registry = await startInProcessRegistry({ env: { TRUST_PROXY: 'loopback', LOGIN_FAILURE_WINDOW_SECONDS: '600' } });
    admin = await AdminApi.login(registry.url, registry.admin!);
  });
  afterAll(async () => {
    await registry?.close();
  });

  /** GET /auth/token with Basic credentials, as seen from `address`. */
  const tokenFrom = (address: string, credentials: Credentials) =>
    call(registry.url, 'GET', '/auth/token?service=berth-registry', {
      headers: { authorization: basicAuth(credentials), 'x-forwarded-for': address },
    });
  const v2From = (address: string, credentials: Credentials) =>
    call(registry.url, 'GET', '/v2/', { headers: { authorization: basicAuth(credentials), 'x-forwarded-for': address } });
  const loginFrom = (address: string, credentials: Credentials) =>
    call(registry.url, 'POST', '/api/v1/auth/login', { json: credentials, headers: { 'x-forwarded-for': address } });
  const wrong = (username: string): Credentials => ({ username, password: 'not-the-password' });

  function expectThrottled(answer: HttpAnswer, what: string): void {
    expect(answer.status, `${what}: ${answer.text.slice(0, 200)}`).toBe(429);
    expect(Number(answer.headers.get('retry-after')), `${what}: Retry-After`).toBeGreaterThan(0);
  }

  it('10+ failures for an account from address A lock the pair, never the right password from address B', async () => {
    const victim = await admin.createUser(accountName('victim'), password());
    const attacker = '203.0.113.10';
    for (let i = 0; i < 10; i++) expect((await tokenFrom(attacker, wrong(victim.username))).status).toBe(401);
    for (let i = 0; i < 3; i++) expectThrottled(await tokenFrom(attacker, wrong(victim.username)), 'the attacker at A');
    // The pair stays locked even for the right password: A has shown it guesses.
    expectThrottled(await tokenFrom(attacker, victim), 'the right password from A');

    const home = '198.51.100.20';
    expect((await tokenFrom(home, victim)).status).toBe(200);
    expect((await v2From(home, victim)).status).toBe(200);
    expect((await loginFrom(home, victim)).status).toBe(200);
  });

  it('40 wrong passwords at once for one account from A: at most 10 are checked (401), the rest 429; the right password from B logs in', async () => {
    const victim = await admin.createUser(accountName('burst'), password());
    const attacker = '203.0.113.40';
    const answers = await Promise.all(Array.from({ length: 40 }, () => tokenFrom(attacker, wrong(victim.username))));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 401).length, statuses.join(' ')).toBeLessThanOrEqual(10);
    expect(statuses.filter((status) => status !== 401 && status !== 429), statuses.join(' ')).toEqual([]);
    expectThrottled(await tokenFrom(attacker, victim), 'the right password from A');
    expect((await tokenFrom('198.51.100.40', victim)).status).toBe(200);
  });

  it('an IPv6 /64 is one address, and an IPv4-mapped IPv6 address is its IPv4 address', async () => {
    const victim = await admin.createUser(accountName('v6'), password());
    for (let i = 0; i < 10; i++) expect((await tokenFrom(`2001:db8:40:1::${(i + 1).toString(16)}`, wrong(victim.username))).status).toBe(401);
    expectThrottled(await tokenFrom('2001:db8:40:1:ffff:1234:5678:9abc', wrong(victim.username)), 'another address in the same /64');
    expect((await tokenFrom('2001:db8:40:2::1', victim)).status).toBe(200);

    const other = await admin.createUser(accountName('v4m'), password());
    for (let i = 0; i < 10; i++) expect((await tokenFrom('::ffff:203.0.113.41', wrong(other.username))).status).toBe(401);
    expectThrottled(await tokenFrom('203.0.113.41', other), 'the same IPv4 address, unmapped');
    expect((await tokenFrom('203.0.113.42', other)).status).toBe(200);
  });

  it('60 wrong passwords at once over 60 accounts from A: at most 50 answered 401, the rest 429', async () => {
    const attacker = '203.0.113.60';
    const answers = await Promise.all(Array.from({ length: 60 }, () => tokenFrom(attacker, wrong(accountName('spray')))));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 401).length, statuses.join(' ')).toBeLessThanOrEqual(50);
    expect(statuses.filter((status) => status !== 401 && status !== 429), statuses.join(' ')).toEqual([]);
  });

  it('successful logins with no failures on record write nothing to the failure counts', async () => {
    const user = await admin.createUser(accountName('quiet'), password());
    const db = registry.database!;
    // A statement trigger fires even for a write that changes no row.
    await db.query('CREATE TABLE login_failure_writes (op text NOT NULL)');
    await db.query(`CREATE FUNCTION note_login_failure_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO login_failure_writes VALUES (TG_OP); RETURN NULL; END $$`);
    await db.query(`CREATE TRIGGER login_failure_writes AFTER INSERT OR UPDATE OR DELETE ON login_failures
      FOR EACH STATEMENT EXECUTE FUNCTION note_login_failure_write()`);
    try {
      const answers = await Promise.all([
        ...Array.from({ length: 5 }, () => v2From('198.51.100.50', user)),
        ...Array.from({ length: 5 }, () => tokenFrom('2001:db8:50::1', user)),
      ]);
      expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(200));
      expect((await v2From('198.51.100.50', user)).status).toBe(200);
      expect(await db.query('SELECT op FROM login_failure_writes')).toEqual([]);
      // The trigger does see the failure path, so the empty list above means something.
      expect((await v2From('198.51.100.50', wrong(user.username))).status).toBe(401);
      expect((await db.query<{ op: string }>('SELECT op FROM login_failure_writes')).map((row) => row.op)).toContain('INSERT');
    } finally {
      await db.query('DROP TRIGGER login_failure_writes ON login_failures');
    }
  });

  it('50+ failures from address A over many accounts: A is throttled, user X with the right password gets in from B (and from A)', async () => {
    const x = await admin.createUser(accountName('userx'), password());
    const sprayed = await admin.createUser(accountName('spray'), password());
    const attacker = '203.0.113.99';
    expect((await tokenFrom(attacker, wrong(sprayed.username))).status).toBe(401);
    for (let i = 0; i < 49; i++) expect((await tokenFrom(attacker, wrong(accountName('ghost')))).status).toBe(401);

    // Past the address limit every wrong guess from A is 429, whichever account it names.
    expectThrottled(await tokenFrom(attacker, wrong(accountName('ghost'))), 'a new guess from A');
    expectThrottled(await tokenFrom(attacker, wrong(x.username)), 'a wrong guess for X from A');
    // An account that failed from A is refused there outright, the right password included.
    expectThrottled(await tokenFrom(attacker, sprayed), 'an account that failed from A');

    const elsewhere = '198.51.100.77';
    expect((await tokenFrom(elsewhere, x)).status).toBe(200);
    expect((await v2From(elsewhere, x)).status).toBe(200);
    expect((await loginFrom(elsewhere, x)).status).toBe(200);
    expect((await tokenFrom(elsewhere, sprayed)).status).toBe(200);

    // Behind the same address (a shared proxy), an account that has not failed there still logs in.
    const neighbour = await admin.createUser(accountName('neigh'), password());
    expect((await tokenFrom(attacker, neighbour)).status).toBe(200);
  });
});

// Two registries in this process on one database, like two replicas. Keep it last: the
// newest app's JWT strategy verifies bearer tokens for every app in the process, so only
// Basic credentials are used once the second one runs.
describe.skipIf(!available)('failed-login throttle across replicas', () => {
  let first: InProcessRegistry;
  let second: InProcessRegistry;
  let victim: Credentials;

  beforeAll(async () => {
    first = await startInProcessRegistry({ env: { TRUST_PROXY: 'loopback', LOGIN_FAILURE_WINDOW_SECONDS: '600' } });
    victim = await (await AdminApi.login(first.url, first.admin)).createUser(accountName('replica'), password());
    second = await startInProcessRegistry({ env: { TRUST_PROXY: 'loopback', LOGIN_FAILURE_WINDOW_SECONDS: '600', DATABASE_URL: first.database!.url } });
  });
  afterAll(async () => {
    await second?.close();
    await first?.close();
  });

  const tokenFrom = (registry: InProcessRegistry, address: string, credentials: Credentials) =>
    call(registry.url, 'GET', '/auth/token?service=berth-registry', {
      headers: { authorization: basicAuth(credentials), 'x-forwarded-for': address },
    });

  it('40 wrong passwords at once for one account from A, spread over two replicas: at most 10 answered 401', async () => {
    const attacker = '203.0.113.80';
    const guess = { username: victim.username, password: 'not-the-password' };
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => tokenFrom(i % 2 ? second : first, attacker, guess)));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 401).length, statuses.join(' ')).toBeLessThanOrEqual(10);
    expect(statuses.filter((status) => status !== 401 && status !== 429), statuses.join(' ')).toEqual([]);
    expect((await tokenFrom(second, '198.51.100.80', victim)).status).toBe(200);
    expect((await tokenFrom(first, '198.51.100.80', victim)).status).toBe(200);
  });
});

/**
 * A database outage on the authentication paths: the registry talks to the real
 * Postgres through a TCP relay in this process, and closing the relay makes Postgres
 * unreachable (connections refused, open ones cut). Every path that needs the database
 * to decide must answer 503 UNAVAILABLE with Retry-After, never 401 (which would send
 * clients to ask for new credentials) and never the server's address.
 */
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDatabase } from '../support/database.js';
import { RegistryClient, buildImage, e2eAvailable, externalRegistry } from '../support/http.js';
import { type InProcessRegistry, type Credentials, startInProcessRegistry } from '../support/registry.js';
import { AdminApi, accountName, apiLogin, call, getToken, mustGetToken, password } from './support.js';

const available = !externalRegistry && (await e2eAvailable('auth/database-outage'));

/** A TCP relay to Postgres that can refuse and cut connections, and open again on the same port. */
class PostgresRelay {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

describe.skipIf(!available)('a database outage on the authentication paths', () => {
  let database: TestDatabase;
  let relay: PostgresRelay;
  let registry: InProcessRegistry;
  let user: Credentials;
  /** Never logs in before the outage, so no login of it is remembered (VerifiedLogins). */
  let cold: Credentials;
  let apiToken: string;
  let registryToken: string;
  const repo = `${accountName('out')}/app`;

  beforeAll(async () => {
    database = await TestDatabase.create('berth_outage');
    const target = new URL(database.url);
    relay = new PostgresRelay({ host: target.hostname, port: Number(target.port || 5432) });
    await relay.open();
    const throughRelay = new URL(database.url);
    throughRelay.host = `127.0.0.1:${relay.port}`;
    // No Redis and no in-process workers: nothing but the requests under test talks to the database.
    registry = await startInProcessRegistry({ embedded: true, env: { DATABASE_URL: throughRelay.toString(), RUN_WORKERS: 'false' } });
    const admin = await AdminApi.login(registry.url, registry.admin);
    user = await admin.createUser(accountName('outage'), password());
    cold = await admin.createUser(accountName('cold'), password());
    await admin.createOrganisation(repo.split('/')[0]);
    expect((await admin.setMember(repo.split('/')[0], user.username, 'developer')).status).toBeLessThan(300);
    await new RegistryClient(registry.url, registry.admin).pushImage(repo, 'v1', buildImage());
    apiToken = (await apiLogin(registry.url, user)).body.token;
    registryToken = (await mustGetToken(registry.url, { auth: user, scopes: [`repository:${repo}:pull`] })).token;
    await relay.close();
  });

  afterAll(async () => {
    await relay?.close();
    await registry?.close();
    await database?.drop();
  });

  function expectUnavailable(answer: { status: number; headers: Headers; text: string }, what: string): void {
    expect(answer.status, `${what}: ${answer.status} ${answer.text.slice(0, 300)}`).toBe(503);
    expect(Number(answer.headers.get('retry-after')), `${what}: Retry-After`).toBeGreaterThan(0);
    expect(answer.text, what).not.toMatch(/ECONN|127\.0\.0\.1|:\d{4,5}\b|\bat \w/);
  }

  it('Basic on /v2 → 503 UNAVAILABLE with Retry-After, not 401 with the socket error', async () => {
    const res = await new RegistryClient(registry.url, cold).get('/v2/');
    expectUnavailable(res, 'GET /v2/ (Basic)');
    expect(JSON.parse(res.text).errors[0].code).toBe('UNAVAILABLE');
    expect(res.headers.get('www-authenticate')).toBeNull();
  });

  it('a Basic login verified just before the outage is served like a token, until revocations are 8 s stale', async () => {
    // Remembered when the registry token was fetched; the revocation list was read at most 2 s before the relay closed.
    expect((await new RegistryClient(registry.url, user).get('/v2/')).status).toBe(200);
  });

  it('a registry token on a route that reads the database → 503', async () => {
    const res = await new RegistryClient(registry.url, { token: registryToken }).get(`/v2/${repo}/tags/list`);
    expectUnavailable(res, 'GET tags/list (bearer)');
    expect(JSON.parse(res.text).errors[0].code).toBe('UNAVAILABLE');
  });

  it('an admin API token (its account is re-read on every request) → 503', async () => {
    const res = await call(registry.url, 'GET', `/api/v1/users/${user.username}`, { auth: { token: apiToken } });
    expectUnavailable(res, 'GET /api/v1/users/<me> (bearer)');
    expect(res.body).toMatchObject({ statusCode: 503 });
  });

  it('GET /auth/token, with Basic and anonymous with a scope → 503', async () => {
    const basic = await getToken(registry.url, { auth: user, scopes: [`repository:${repo}:pull`] });
    expectUnavailable(basic, 'GET /auth/token (Basic)');
    expect(JSON.parse(basic.text).errors[0].code).toBe('UNAVAILABLE');
    expectUnavailable(await getToken(registry.url, { scopes: [`repository:${repo}:pull`] }), 'GET /auth/token (anonymous)');
  });

  it('POST /auth/token (password grant) and POST /api/v1/auth/login → 503', async () => {
    const form = { grant_type: 'password', username: user.username, password: user.password, service: 'berth-registry' };
    expectUnavailable(await call(registry.url, 'POST', '/auth/token', { form }), 'POST /auth/token');
    const login = await apiLogin(registry.url, user);
    expectUnavailable(login, 'POST /api/v1/auth/login');
    expect(login.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable' });
  });

  it('a registry token on a route that needs no database → 503 once revocations could not be read for 8 s, never 401', async () => {
    const client = new RegistryClient(registry.url, { token: registryToken });
    const start = Date.now();
    for (;;) {
      const res = await client.get('/v2/');
      if (res.status === 503) {
        expectUnavailable(res, 'GET /v2/ (bearer, stale revocations)');
        break;
      }
      expect(res.status, res.text).toBe(200);
      expect(Date.now() - start, 'still served 15 s into the outage').toBeLessThan(15_000);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // The remembered Basic login is no longer trusted either: checked against the database, which is down.
    const basic = await new RegistryClient(registry.url, user).get('/v2/');
    expectUnavailable(basic, 'GET /v2/ (remembered Basic, stale revocations)');
  });

  it('once the database is back, the same credentials work again', async () => {
    await relay.open();
    try {
      expect((await new RegistryClient(registry.url, user).get('/v2/')).status).toBe(200);
      expect((await apiLogin(registry.url, user)).status).toBe(200);
      // The revocation list is read again within a poll, and the token is served again.
      const client = new RegistryClient(registry.url, { token: registryToken });
      const start = Date.now();
      while ((await client.get('/v2/')).status !== 200) {
        expect(Date.now() - start, 'token still refused 10 s after the database came back').toBeLessThan(10_000);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    } finally {
      await relay.close();
    }
  });
});

/**
 * The token endpoint's cost does not grow with the number of scopes asked for: the
 * permissions of every requested repository are resolved in a constant number of
 * queries, and a request may name at most TOKEN_MAX_SCOPES scopes. Queries are counted
 * on the app's own DataSource (its logger sees every statement it sends).
 */
import { DataSource, type Logger } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eAvailable, externalRegistry } from '../support/http.js';
import { type Credentials, type InProcessRegistry, startInProcessRegistry } from '../support/registry.js';
import { AdminApi, accountName, call, expectStatus, getToken, mustGetToken, normaliseAccess, password } from './support.js';

const available = !externalRegistry && (await e2eAvailable('auth/token-scopes'));

/** Tables the credential check and the permission resolution read. */
const AUTH_TABLES = /\b(namespaces|memberships|users|robots|login_failures)\b/;

describe.skipIf(!available)('token endpoint: scopes per request', () => {
  let registry: InProcessRegistry;
  let user: Credentials;
  const member = accountName('scm');
  const others = Array.from({ length: 29 }, (_, i) => `${accountName('sco')}${i}`);
  let counting = false;
  let counted: string[] = [];

  beforeAll(async () => {
    registry = await startInProcessRegistry({ env: { RUN_WORKERS: 'false' } });
    const admin = await AdminApi.login(registry.url, registry.admin);
    user = await admin.createUser(accountName('scopes'), password());
    for (const ns of [member, ...others]) await admin.createOrganisation(ns);
    expectStatus(await admin.setMember(member, user.username, 'developer'), 200, 201);
    expectStatus(await admin.setVisibility(others[0], 'public'), 200);
    const dataSource = registry.app.get(DataSource);
    const logger = dataSource.logger;
    dataSource.logger = new Proxy(logger, {
      get(target, key, receiver) {
        if (key !== 'logQuery') return Reflect.get(target, key, receiver);
        return (query: string, ...rest: unknown[]) => {
          if (counting && AUTH_TABLES.test(query)) counted.push(query);
          return (target.logQuery as (...args: unknown[]) => unknown).call(target, query, ...rest);
        };
      },
    }) as Logger;
  });

  afterAll(async () => {
    await registry?.close();
  });

  async function queriesOf<T>(request: () => Promise<T>): Promise<{ result: T; queries: number }> {
    counted = [];
    counting = true;
    try {
      const result = await request();
      return { result, queries: counted.length };
    } finally {
      counting = false;
    }
  }

  const one = () => [`repository:${member}/app:pull,push`];
  const thirty = () => [`repository:${member}/app:pull,push`, ...others.map((ns) => `repository:${ns}/app:pull`)];

  it('30 scopes cost as many queries as 1, with Basic credentials', async () => {
    // The first login is verified against the database, later ones are remembered (VerifiedLogins): both measured warm.
    await mustGetToken(registry.url, { auth: user, scopes: [] });
    const single = await queriesOf(() => mustGetToken(registry.url, { auth: user, scopes: one() }));
    const many = await queriesOf(() => mustGetToken(registry.url, { auth: user, scopes: thirty() }));
    expect(single.queries).toBeGreaterThan(0);
    expect(many.queries).toBe(single.queries);
    // Still requested ∩ permitted: the member namespace, and pull on the public one.
    expect(normaliseAccess(many.result.claims.access)).toEqual(
      normaliseAccess([
        { type: 'repository', name: `${member}/app`, actions: ['pull', 'push'] },
        { type: 'repository', name: `${others[0]}/app`, actions: ['pull'] },
      ]),
    );
  });

  it('30 scopes cost as many queries as 1, anonymously', async () => {
    const single = await queriesOf(() => mustGetToken(registry.url, { scopes: [`repository:${others[0]}/app:pull`] }));
    const many = await queriesOf(() => mustGetToken(registry.url, { scopes: thirty() }));
    expect(many.queries).toBe(single.queries);
    expect(many.queries).toBeLessThanOrEqual(1);
    expect(normaliseAccess(many.result.claims.access)).toEqual([{ type: 'repository', name: `${others[0]}/app`, actions: ['pull'] }]);
  });

  it('TOKEN_MAX_SCOPES (32) scopes are served; 33 → 400 before any credential check or query', async () => {
    const scopes = (n: number) => Array.from({ length: n }, (_, i) => `repository:${member}/app${i}:pull`);
    expectStatus(await getToken(registry.url, { auth: user, scopes: scopes(32) }), 200);

    const { result: refused, queries } = await queriesOf(() => getToken(registry.url, { auth: user, scopes: scopes(33) }));
    expect(refused.status, refused.text).toBe(400);
    const error = JSON.parse(refused.text).errors[0];
    expect(error.code).toBe('UNSUPPORTED');
    expect(error.message).toContain('at most 32');
    expect(queries).toBe(0);

    // One parameter holding many space-separated scopes counts each of them.
    expectStatus(await getToken(registry.url, { auth: user, scopes: [scopes(33).join(' ')] }), 400);

    const form = { grant_type: 'password', username: user.username, password: user.password, service: 'berth-registry', scope: scopes(33).join(' ') };
    const post = await call(registry.url, 'POST', '/auth/token', { form });
    expect(post.status, post.text).toBe(400);
    expect(post.body).toMatchObject({ error: 'invalid_scope' });
  });
});

/**
 * Paths match exactly as written. Express matches routes case-insensitively by default,
 * and the guard once told registry routes from admin routes by the path's prefix:
 * `/V2/…` reached the /v2 handlers checked as an admin API call (any logged-in user),
 * so a user with no membership read and wrote private repositories.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, basicAuth, uniq } from '../support/http.js';
import { type TestRegistry, postgresAvailable, startInProcessRegistry } from '../support/registry.js';
import { AdminApi, call, password } from './support.js';

const available = await postgresAvailable();
if (!available && process.env.CI) throw new Error('the path-case suite needs Postgres');

describe.skipIf(!available)('paths are case-sensitive', () => {
  let registry: TestRegistry;
  const ns = uniq('case');
  const repo = `${ns}/app`;
  const outsider = { username: uniq('outsider'), password: password() };

  beforeAll(async () => {
    registry = await startInProcessRegistry();
    const admin = await AdminApi.login(registry.url, registry.admin!);
    await admin.createOrganisation(ns);
    await admin.createUser(outsider.username, outsider.password);
    await new RegistryClient(registry.url, registry.admin).pushImage(repo, 'latest');
  });
  afterAll(async () => registry?.close());

  it('the outsider is refused on /v2 (the control)', async () => {
    const answer = await call(registry.url, 'GET', `/v2/${repo}/manifests/latest`, { auth: outsider });
    expect([401, 403, 404]).toContain(answer.status);
  });

  it('/V2/… reaches no handler: a private manifest is neither served nor deleted', async () => {
    const path = `/V2/${encodeURIComponent(repo)}/manifests/latest`;
    const headers = { authorization: basicAuth(outsider) };
    const get = await fetch(`${registry.url}${path}`, { headers });
    expect(get.status).toBe(404);
    const del = await fetch(`${registry.url}${path}`, { method: 'DELETE', headers });
    expect(del.status).toBe(404);
    const still = await call(registry.url, 'GET', `/v2/${repo}/manifests/latest`, { auth: registry.admin });
    expect(still.status).toBe(200);
  });

  it('/API/v1/… reaches no handler either', async () => {
    const answer = await fetch(`${registry.url}/API/v1/users`, { headers: { authorization: basicAuth(registry.admin!) } });
    expect(answer.status).toBe(404);
  });
});

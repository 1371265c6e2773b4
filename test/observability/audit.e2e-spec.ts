import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../admin/support.js';
import { buildImage, uniq } from '../support/http.js';
import { basicAuth, postgresAvailable } from '../support/registry.js';
import { type ObservedRegistry, sample, startObservedRegistry } from './support.js';

const available = await postgresAvailable();
if (!available) console.warn('[audit] SKIPPED: Postgres is not reachable at TEST_DATABASE_URL.');

interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, any> | null;
  clientAddr: string | null;
}

const LOOPBACK = /^(?:127\.0\.0\.1|::ffff:127\.0\.0\.1|::1)$/;

describe.skipIf(!available)('audit of failed logins and /v2 deletes, and what request lines carry', () => {
  let registry: ObservedRegistry;
  let api: Api;

  beforeAll(async () => {
    // No REDIS_URL: notifications are off, so /v2 deletes run without the outbox's transaction.
    registry = await startObservedRegistry({ LOGIN_MAX_FAILURES: '3', LOGIN_MAX_FAILURES_PER_ADDRESS: '1000' });
    api = await Api.login(registry.url, registry.admin);
  });
  afterAll(async () => {
    await registry?.close();
  });

  /** Audit entries for `action` (newest first), read through the admin API until `until` holds (they are written within a second). */
  async function auditOf(action: string, actor: string | undefined, until: (entries: AuditEntry[]) => boolean): Promise<AuditEntry[]> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const answer = await api.get(`/audit?action=${encodeURIComponent(action)}&perPage=100${actor ? `&actor=${encodeURIComponent(actor)}` : ''}`);
      expect(answer.status).toBe(200);
      const entries: AuditEntry[] = answer.body.items;
      if (until(entries) || Date.now() > deadline) return entries;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function failuresMetric(reason: string): Promise<number | undefined> {
    const text = await (await fetch(`${registry.url}/metrics`)).text();
    return sample(text, `berth_login_failures_total{reason="${reason}"}`);
  }

  it('a failed login on every path logs the attempted username and address (never the password), is audited and counted', async () => {
    const before = (await failuresMetric('invalid_credentials')) ?? 0;
    const password = `wrong-${uniq()}-secret`;
    const basic = (username: string) => ({ Authorization: basicAuth({ username, password }) });
    const users = { v2: uniq('v2user'), tokenGet: uniq('getuser'), tokenPost: uniq('postuser'), apiLogin: uniq('apiuser') };

    expect((await fetch(`${registry.url}/v2/`, { headers: { ...basic(users.v2), 'X-Request-Id': `v2-${users.v2}` } })).status).toBe(401);
    const tokenGet = await fetch(`${registry.url}/auth/token?service=berth-registry`, { headers: { ...basic(users.tokenGet), 'X-Request-Id': `get-${users.tokenGet}` } });
    expect(tokenGet.status).toBe(401);
    const tokenPost = await fetch(`${registry.url}/auth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Request-Id': `post-${users.tokenPost}` },
      body: new URLSearchParams({ grant_type: 'password', username: users.tokenPost, password, service: 'berth-registry' }).toString(),
    });
    expect(tokenPost.status).toBe(401);
    const apiLogin = await fetch(`${registry.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Request-Id': `api-${users.apiLogin}` },
      body: JSON.stringify({ username: users.apiLogin, password }),
    });
    expect(apiLogin.status).toBe(401);

    const entries = registry.entries();
    for (const [prefix, username] of [['v2', users.v2], ['get', users.tokenGet], ['post', users.tokenPost], ['api', users.apiLogin]]) {
      const line = entries.find((e) => e.requestId === `${prefix}-${username}`);
      expect(line, `request line of ${prefix}`).toMatchObject({ status: 401, attemptedUser: username });
      expect(line!.user).toBeUndefined();
      expect(line!.clientAddr).toMatch(LOOPBACK);
    }
    expect(registry.lines.join('')).not.toContain(password);

    for (const username of Object.values(users)) {
      const audited = await auditOf('auth.login.failed', username, (found) => found.length > 0);
      expect(audited, username).toHaveLength(1);
      expect(audited[0]).toMatchObject({ actor: username, target: `user:${username}`, detail: { reason: 'invalid_credentials', attempts: 1 } });
      expect(audited[0].clientAddr).toMatch(LOOPBACK);
      expect(JSON.stringify(audited[0])).not.toContain(password);
    }
    expect(await failuresMetric('invalid_credentials')).toBe(before + 4);
  });

  it('repeated failures are gathered into few audit writes (an entry per account, address and reason, with a count), throttled ones included', async () => {
    const username = uniq('sprayed');
    const headers = { Authorization: basicAuth({ username, password: 'not-the-password-1' }) };
    const throttledBefore = (await failuresMetric('throttled')) ?? 0;
    const started = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await fetch(`${registry.url}/v2/`, { headers })).status);
    const elapsed = Date.now() - started;
    // LOGIN_MAX_FAILURES=3: three wrong passwords, then refusals.
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(new Set(statuses.slice(3))).toEqual(new Set([429]));

    const attempts = (found: AuditEntry[], reason: string) =>
      found.filter((e) => e.detail?.reason === reason).reduce((sum, e) => sum + Number(e.detail?.attempts), 0);
    const audited = await auditOf('auth.login.failed', username, (found) => attempts(found, 'invalid_credentials') === 3 && attempts(found, 'throttled') === 27);
    expect(attempts(audited, 'invalid_credentials')).toBe(3);
    expect(attempts(audited, 'throttled')).toBe(27);
    // At most one write a second, each holding one entry per reason for this account and address.
    const writes = Math.ceil(elapsed / 1000) + 1;
    expect(audited.length).toBeLessThanOrEqual(2 * writes);
    expect(audited.length).toBeLessThan(30);
    expect(await failuresMetric('throttled')).toBe(throttledBefore + 27);
  });

  it('request lines carry the client address and the user agent; the token endpoint\'s line names the user it issued to', async () => {
    const agent = `berth-test-agent/${uniq()}`;
    const id = `token-${uniq()}`;
    const res = await fetch(`${registry.url}/auth/token?service=berth-registry&scope=repository:x/y:pull`, {
      headers: { Authorization: basicAuth(registry.admin), 'User-Agent': agent, 'X-Request-Id': id },
    });
    expect(res.status).toBe(200);
    const post = await fetch(`${registry.url}/auth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Request-Id': `${id}-post` },
      body: new URLSearchParams({ grant_type: 'password', username: registry.admin.username, password: registry.admin.password, service: 'berth-registry' }).toString(),
    });
    expect(post.status).toBe(200);
    const entries = registry.entries();
    const line = entries.find((e) => e.requestId === id);
    expect(line).toMatchObject({ route: '/auth/token', status: 200, user: registry.admin.username, userAgent: agent });
    expect(line!.clientAddr).toMatch(LOOPBACK);
    expect(line!.attemptedUser).toBeUndefined();
    expect(entries.find((e) => e.requestId === `${id}-post`)).toMatchObject({ status: 200, user: registry.admin.username });
    expect(registry.lines.join('')).not.toContain(registry.admin.password);
  });

  it('/v2 deletes of a tag, a manifest and a blob are audited with the caller and the address', async () => {
    const repo = `${uniq('audited')}/app`;
    const image = buildImage({ layers: 1 });
    await registry.client.pushImage(repo, 'v1', image);
    expect((await registry.client.delete(`/v2/${repo}/manifests/v1`)).status).toBe(202);
    expect((await registry.client.delete(`/v2/${repo}/manifests/${image.digest}`)).status).toBe(202);
    const layer = image.manifest.layers[0].digest as string;
    expect((await registry.client.delete(`/v2/${repo}/blobs/${layer}`)).status).toBe(202);
    // A delete that finds nothing changes nothing and is not audited.
    expect((await registry.client.delete(`/v2/${repo}/blobs/${layer}`)).status).toBe(404);

    const mine = (entries: AuditEntry[]) => entries.filter((e) => e.target === `repository:${repo}`);
    const admin = registry.admin.username;
    const [tag] = mine(await auditOf('tag.delete', admin, (found) => mine(found).length > 0));
    expect(tag).toMatchObject({ actor: admin, action: 'tag.delete', detail: { tag: 'v1', digest: image.digest } });
    expect(tag.clientAddr).toMatch(LOOPBACK);
    const manifests = mine(await auditOf('manifest.delete', admin, (found) => mine(found).length > 0));
    expect(manifests).toHaveLength(1);
    expect(manifests[0]).toMatchObject({ actor: admin, detail: { digest: image.digest } });
    const blobs = mine(await auditOf('blob.delete', admin, (found) => mine(found).length > 0));
    expect(blobs).toHaveLength(1);
    expect(blobs[0]).toMatchObject({ actor: admin, detail: { digest: layer } });
    expect(blobs[0].clientAddr).toMatch(LOOPBACK);
  });
});

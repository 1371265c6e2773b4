/**
 * The webhook part of the admin API over HTTP, without Redis: notifications are off,
 * so this suite covers subscriptions, their validation and scoping, secrets, the
 * delivery history (rows written here directly), and the 409s of ping and redeliver.
 * Deliveries themselves are covered by test/notifications.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDatabase } from '../support/database.js';
import {
  ADMIN,
  type AdminRegistry,
  Api,
  type RoleFixture,
  adminSuiteAvailable,
  expectApiError,
  expectStatus,
  roleFixture,
  startAdminRegistry,
  uniqueName,
} from './support.js';

const available = await adminSuiteAvailable('admin/webhooks');

const HOOK_URL = 'https://hooks.example.com/berth/T0K3N-in-path';

/** One of this host's addresses (a global or unique-local IPv6 one first), an IPv4 one in its IPv4-mapped form (which still reaches it). */
function ownAddress(): string {
  const own = Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((i) => !i.internal)
    .sort((a, b) => Number(b.family === 'IPv6' && !b.address.startsWith('fe80')) - Number(a.family === 'IPv6' && !a.address.startsWith('fe80')));
  if (!own.length) return '::1';
  return own[0].family === 'IPv4' ? `::ffff:${own[0].address}` : own[0].address.replace(/%.*$/, '');
}
const MASK = '********';

describe.skipIf(!available)('admin API: webhooks', () => {
  let registry: AdminRegistry;
  let admin: Api;
  let team: RoleFixture;

  beforeAll(async () => {
    registry = await startWebhookRegistry();
    admin = await Api.login(registry.url, registry.admin);
    team = await roleFixture(admin, 'hooks');
  });
  afterAll(async () => {
    await registry?.close();
  });

  const nsHooks = (ns = team.namespace) => `/namespaces/${ns}/webhooks`;

  describe('notifications status', () => {
    it('tells administrators that notifications are off without REDIS_URL', async () => {
      const status = expectStatus(await admin.get('/system/notifications'), 200);
      expect(status).toMatchObject({ enabled: false, reason: expect.stringContaining('REDIS_URL') });
      expectApiError(await team.owner.get('/system/notifications'), 403);
      expectApiError(await new Api(registry.url).get('/system/notifications'), 401);
    });
  });

  describe('global subscriptions', () => {
    it('creates a subscription with defaults and shows a generated secret once', async () => {
      const created = expectStatus(await admin.post('/webhooks', { name: 'ci', url: HOOK_URL }), 201);
      expect(created.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(created.secret, 'base64url')).toHaveLength(32);
      expect(created.webhook).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        namespace: null,
        name: 'ci',
        url: HOOK_URL,
        headers: {},
        actions: null,
        ignoredMediaTypes: [],
        repositoryPattern: null,
        enabled: true,
        timeoutMs: 5000,
        maxAttempts: 10,
        createdBy: registry.admin.username,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      const [stored] = await registry.sql(`SELECT secret_encrypted, headers_encrypted, created_by FROM webhooks WHERE id = $1`, [created.webhook.id]);
      expect(stored.secret_encrypted).not.toContain(created.secret);
      expect(stored.headers_encrypted).toBeNull();
      expect(stored.created_by).toBe(registry.admin.username);
      const list = await admin.get('/webhooks');
      const one = await admin.get(`/webhooks/${created.webhook.id}`);
      for (const answer of [list, one]) {
        expectStatus(answer, 200);
        expect(answer.text).not.toContain(created.secret);
        expect(answer.text).not.toContain(stored.secret_encrypted);
        expect(answer.text).not.toMatch(/secret/i);
      }
      expect(one.body).toEqual(created.webhook);
      expect(list.body.items.map((w: { id: string }) => w.id)).toContain(created.webhook.id);
    });

    it('takes every setting, keeps a given secret, and masks header values', async () => {
      const secret = `given-${randomBytes(12).toString('hex')}`;
      const settings = {
        name: 'deployer',
        url: 'http://deploy.example.com:8080/hook',
        secret,
        headers: { Authorization: 'Bearer very-secret-token', 'X-Team': 'platform-value' },
        actions: ['push', 'delete', 'push'],
        ignoredMediaTypes: ['application/octet-stream'],
        repositoryPattern: 'apps/**',
        enabled: false,
        timeoutMs: 100,
        maxAttempts: 50,
      };
      const created = expectStatus(await admin.post('/webhooks', settings), 201);
      expect(created.secret).toBe(secret);
      expect(created.webhook).toMatchObject({
        name: 'deployer',
        url: settings.url,
        headers: { Authorization: MASK, 'X-Team': MASK },
        actions: ['push', 'delete'],
        ignoredMediaTypes: ['application/octet-stream'],
        repositoryPattern: 'apps/**',
        enabled: false,
        timeoutMs: 100,
        maxAttempts: 50,
      });
      const [stored] = await registry.sql(`SELECT secret_encrypted, headers_encrypted FROM webhooks WHERE id = $1`, [created.webhook.id]);
      expect(stored.secret_encrypted).not.toContain(secret);
      expect(stored.headers_encrypted).not.toContain('very-secret-token');
      expect(stored.headers_encrypted).not.toContain('Authorization');
      for (const answer of [await admin.get('/webhooks?perPage=100'), await admin.get(`/webhooks/${created.webhook.id}`)]) {
        expectStatus(answer, 200);
        expect(answer.text).not.toContain('very-secret-token');
        expect(answer.text).not.toContain('platform-value');
        expect(answer.text).not.toContain(secret);
      }
    });

    it('changes what PATCH gives; a masked header value keeps the stored one', async () => {
      const { webhook } = expectStatus(
        await admin.post('/webhooks', { name: 'patchme', url: HOOK_URL, headers: { Authorization: 'Bearer keep-me', 'X-Old': 'drop-me' } }),
        201,
      );
      const [before] = await registry.sql(`SELECT headers_encrypted FROM webhooks WHERE id = $1`, [webhook.id]);
      const changed = expectStatus(
        await admin.patch(`/webhooks/${webhook.id}`, {
          name: 'patched',
          enabled: false,
          actions: ['pull'],
          repositoryPattern: 'team/*',
          timeoutMs: 30000,
          maxAttempts: 1,
        }),
        200,
      );
      expect(changed).toMatchObject({ id: webhook.id, name: 'patched', enabled: false, actions: ['pull'], repositoryPattern: 'team/*', timeoutMs: 30000, maxAttempts: 1 });
      expect(changed.url).toBe(HOOK_URL);
      expect(changed.headers).toEqual({ Authorization: MASK, 'X-Old': MASK });
      const [unchanged] = await registry.sql(`SELECT headers_encrypted FROM webhooks WHERE id = $1`, [webhook.id]);
      expect(unchanged.headers_encrypted).toBe(before.headers_encrypted);

      // Read, edit, send back: the masked Authorization stays, X-Old goes, X-New comes.
      const read = expectStatus(await admin.get(`/webhooks/${webhook.id}`), 200);
      const headers = { Authorization: read.headers.Authorization, 'X-New': 'new-value' };
      const edited = expectStatus(await admin.patch(`/webhooks/${webhook.id}`, { headers }), 200);
      expect(edited.headers).toEqual({ Authorization: MASK, 'X-New': MASK });
      expectApiError(await admin.patch(`/webhooks/${webhook.id}`, { headers: { 'X-Unknown': MASK } }), 400, 'headers.X-Unknown');
      // Back to all actions and repositories, no headers.
      const cleared = expectStatus(await admin.patch(`/webhooks/${webhook.id}`, { actions: null, repositoryPattern: null, headers: null }), 200);
      expect(cleared).toMatchObject({ actions: null, repositoryPattern: null, headers: {} });
      const [after] = await registry.sql(`SELECT headers_encrypted FROM webhooks WHERE id = $1`, [webhook.id]);
      expect(after.headers_encrypted).toBeNull();
    });

    it('rotates the secret: the new one is shown once', async () => {
      const created = expectStatus(await admin.post('/webhooks', { name: 'rotor', url: HOOK_URL }), 201);
      const [before] = await registry.sql(`SELECT secret_encrypted FROM webhooks WHERE id = $1`, [created.webhook.id]);
      const rotated = expectStatus(await admin.post(`/webhooks/${created.webhook.id}/rotate-secret`), 200);
      expect(rotated.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(rotated.secret).not.toBe(created.secret);
      expect(rotated.webhook).toMatchObject({ id: created.webhook.id, name: 'rotor' });
      const [after] = await registry.sql(`SELECT secret_encrypted FROM webhooks WHERE id = $1`, [created.webhook.id]);
      expect(after.secret_encrypted).not.toBe(before.secret_encrypted);
      const one = expectStatus(await admin.get(`/webhooks/${created.webhook.id}`), 200);
      expect(JSON.stringify(one)).not.toContain(rotated.secret);
      expect(one).not.toHaveProperty('secret');
    });

    it('deletes a subscription (204), then 404', async () => {
      const { webhook } = expectStatus(await admin.post('/webhooks', { name: 'gone', url: HOOK_URL }), 201);
      expectStatus(await admin.delete(`/webhooks/${webhook.id}`), 204);
      expectApiError(await admin.get(`/webhooks/${webhook.id}`), 404);
      expectApiError(await admin.delete(`/webhooks/${webhook.id}`), 404);
      expectApiError(await admin.patch(`/webhooks/${webhook.id}`, { enabled: true }), 404);
      expectApiError(await admin.get('/webhooks/not-a-uuid'), 404);
      expectApiError(await admin.get(`/webhooks/${randomUUID()}`), 404);
    });

    it('pages the list', async () => {
      for (let i = 0; i < 3; i++) expectStatus(await admin.post('/webhooks', { name: `page-${i}`, url: HOOK_URL }), 201);
      const all = expectStatus(await admin.get('/webhooks?perPage=100'), 200);
      const second = expectStatus(await admin.get('/webhooks?perPage=2&page=2'), 200);
      expect(second).toMatchObject({ page: 2, perPage: 2, total: all.total });
      expect(second.items.map((w: { id: string }) => w.id)).toEqual(all.items.slice(2, 4).map((w: { id: string }) => w.id));
      expect(all.items.every((w: { namespace: string | null }) => w.namespace === null)).toBe(true);
      expectApiError(await admin.get('/webhooks?perPage=1000'), 400, 'perPage');
    });
  });

  describe('validation', () => {
    const valid = { name: 'v', url: HOOK_URL };

    it.each([
      ['a malformed URL', { url: 'not a url' }, 'url'],
      ['a non-HTTP URL', { url: 'ftp://example.com/hook' }, 'url'],
      ['credentials in the URL', { url: 'https://user:pw@example.com/hook' }, 'url'],
      ['a loopback URL', { url: 'http://127.0.0.1:9000/hook' }, 'url'],
      ['an IPv6 loopback URL', { url: 'http://[::1]:9000/hook' }, 'url'],
      ['a link-local URL', { url: 'http://169.254.169.254/latest/meta-data' }, 'url'],
      ["AWS's IPv6 metadata endpoint", { url: 'http://[fd00:ec2::254]/latest/meta-data' }, 'url'],
      ["Alibaba's metadata endpoint (carrier-grade NAT)", { url: 'http://100.100.100.200/latest/meta-data' }, 'url'],
      ['a NAT64 form of a loopback address', { url: 'http://[64:ff9b::127.0.0.1]/hook' }, 'url'],
      ['a 6to4 form of the metadata address', { url: 'http://[2002:a9fe:a9fe::1]/hook' }, 'url'],
      ['an IPv4-mapped metadata address', { url: 'http://[::ffff:169.254.169.254]/hook' }, 'url'],
      ["an address of this host's own interfaces", { url: `http://[${ownAddress()}]/hook` }, 'url'],
      ['an unknown action', { actions: ['push', 'tag'] }, 'actions.1'],
      ['no action', { actions: [] }, 'actions'],
      ['a bad pattern', { repositoryPattern: 'Apps/[x]' }, 'repositoryPattern'],
      ['an empty path component', { repositoryPattern: 'apps//web' }, 'repositoryPattern'],
      ['Content-Type', { headers: { 'Content-Type': 'text/plain' } }, 'headers.Content-Type'],
      ['User-Agent', { headers: { 'user-agent': 'me' } }, 'headers.user-agent'],
      ['Host', { headers: { Host: 'example.org' } }, 'headers.Host'],
      ['Content-Length', { headers: { 'Content-Length': '1' } }, 'headers.Content-Length'],
      ['an X-Berth header', { headers: { 'X-Berth-Signature': 'sha256=00' } }, 'headers.X-Berth-Signature'],
      ['a header name that is no token', { headers: { 'Bad Name': 'x' } }, 'headers.Bad Name'],
      ['a header value with a line break', { headers: { 'X-Ok': 'a\r\nX-Injected: 1' } }, 'headers.X-Ok'],
      ['a media type that is none', { ignoredMediaTypes: ['json'] }, 'ignoredMediaTypes.0'],
      ['a short timeout', { timeoutMs: 99 }, 'timeoutMs'],
      ['a long timeout', { timeoutMs: 30001 }, 'timeoutMs'],
      ['no attempt', { maxAttempts: 0 }, 'maxAttempts'],
      ['too many attempts', { maxAttempts: 51 }, 'maxAttempts'],
      ['a short secret', { secret: 'short' }, 'secret'],
      ['an unknown field', { colour: 'blue' }, 'colour'],
      ['an empty name', { name: '' }, 'name'],
    ])('refuses %s (400 on the field)', async (_what, change, field) => {
      expectApiError(await admin.post('/webhooks', { ...valid, ...change }), 400, field);
    });

    it('accepts a private network target (RFC 1918) by default', async () => {
      const { webhook } = expectStatus(await admin.post('/webhooks', { name: 'internal', url: 'http://10.20.30.40:8080/hook' }), 201);
      expect(webhook.url).toBe('http://10.20.30.40:8080/hook');
    });

    it('refuses the same on PATCH, and the secret there', async () => {
      const { webhook } = expectStatus(await admin.post('/webhooks', valid), 201);
      expectApiError(await admin.patch(`/webhooks/${webhook.id}`, { url: 'http://127.0.0.1/hook' }), 400, 'url');
      expectApiError(await admin.patch(`/webhooks/${webhook.id}`, { actions: ['ping'] }), 400, 'actions.0');
      expectApiError(await admin.patch(`/webhooks/${webhook.id}`, { headers: { 'X-Berth-Delivery': 'x' } }), 400, 'headers.X-Berth-Delivery');
      expectApiError(await admin.patch(`/webhooks/${webhook.id}`, { secret: 'a-new-secret-of-some-length' }), 400, 'secret');
      expectApiError(await admin.patch(`/webhooks/${webhook.id}`, {}), 400, 'body');
      expect(expectStatus(await admin.get(`/webhooks/${webhook.id}`), 200)).toMatchObject({ url: HOOK_URL, actions: null, headers: {} });
    });

    it('keeps a namespace subscription inside its namespace', async () => {
      expectApiError(await team.owner.post(nsHooks(), { ...valid, repositoryPattern: 'other/*' }), 400, 'repositoryPattern');
      expectApiError(await team.owner.post(nsHooks(), { ...valid, repositoryPattern: '**' }), 400, 'repositoryPattern');
      expectApiError(await team.owner.post(nsHooks(), { ...valid, repositoryPattern: `${team.namespace}*` }), 400, 'repositoryPattern');
      const ok = expectStatus(await team.owner.post(nsHooks(), { ...valid, repositoryPattern: `${team.namespace}/app-*` }), 201);
      expect(ok.webhook).toMatchObject({ namespace: team.namespace, repositoryPattern: `${team.namespace}/app-*` });
      expectApiError(await team.owner.patch(`${nsHooks()}/${ok.webhook.id}`, { repositoryPattern: 'apps/**' }), 400, 'repositoryPattern');
    });
  });

  describe('namespace subscriptions', () => {
    it('owners (and administrators) manage their namespace subscriptions; other members get 403, outsiders 404', async () => {
      const created = expectStatus(await team.owner.post(nsHooks(), { name: 'team-ci', url: HOOK_URL, actions: ['push'] }), 201);
      expect(created.webhook).toMatchObject({ namespace: team.namespace, createdBy: team.names.owner });
      const id = created.webhook.id;
      expect(expectStatus(await team.owner.get(`${nsHooks()}/${id}`), 200)).toMatchObject({ id, name: 'team-ci' });
      expect(expectStatus(await admin.get(`${nsHooks()}/${id}`), 200)).toMatchObject({ id });
      expect(expectStatus(await admin.patch(`${nsHooks()}/${id}`, { enabled: false }), 200)).toMatchObject({ enabled: false });
      for (const role of ['reader', 'developer', 'maintainer'] as const) {
        expectApiError(await team[role].get(nsHooks()), 403);
        expectApiError(await team[role].get(`${nsHooks()}/${id}`), 403);
        expectApiError(await team[role].post(nsHooks(), { name: 'x', url: HOOK_URL }), 403);
        expectApiError(await team[role].post(`${nsHooks()}/${id}/rotate-secret`), 403);
      }
      expectApiError(await team.outsider.get(nsHooks()), 404);
      expectApiError(await team.outsider.get(`${nsHooks()}/${id}`), 404);
      expectApiError(await team.outsider.delete(`${nsHooks()}/${id}`), 404);
      expectApiError(await admin.get(nsHooks(uniqueName('none'))), 404);
      const rotated = expectStatus(await team.owner.post(`${nsHooks()}/${id}/rotate-secret`), 200);
      expect(rotated.secret).not.toBe(created.secret);
      expectStatus(await team.owner.delete(`${nsHooks()}/${id}`), 204);
      expectApiError(await team.owner.get(`${nsHooks()}/${id}`), 404);
    });

    it('keeps global and namespace subscriptions apart (404 across scopes)', async () => {
      const global = expectStatus(await admin.post('/webhooks', { name: 'global-only', url: HOOK_URL }), 201).webhook;
      const mine = expectStatus(await team.owner.post(nsHooks(), { name: 'mine', url: HOOK_URL }), 201).webhook;
      const other = await roleFixture(admin, 'other');
      const theirs = expectStatus(await other.owner.post(nsHooks(other.namespace), { name: 'theirs', url: HOOK_URL }), 201).webhook;

      const listed = expectStatus(await team.owner.get(`${nsHooks()}?perPage=100`), 200);
      expect(listed.items.map((w: { id: string }) => w.id)).toContain(mine.id);
      expect(listed.items.every((w: { namespace: string }) => w.namespace === team.namespace)).toBe(true);
      expect(listed.total).toBe(listed.items.length);

      // A namespace owner reaches neither global subscriptions nor another namespace's.
      for (const id of [global.id, theirs.id]) {
        expectApiError(await team.owner.get(`${nsHooks()}/${id}`), 404);
        expectApiError(await team.owner.patch(`${nsHooks()}/${id}`, { enabled: false }), 404);
        expectApiError(await team.owner.delete(`${nsHooks()}/${id}`), 404);
        expectApiError(await team.owner.post(`${nsHooks()}/${id}/rotate-secret`), 404);
        expectApiError(await team.owner.post(`${nsHooks()}/${id}/ping`), 404);
        expectApiError(await team.owner.get(`${nsHooks()}/${id}/deliveries`), 404);
      }
      expectApiError(await team.owner.get('/webhooks'), 403);
      expectApiError(await team.owner.get(`/webhooks/${global.id}`), 403);
      expectApiError(await team.owner.post('/webhooks', { name: 'sneaky', url: HOOK_URL }), 403);
      // Nor does an administrator see a namespace's subscription among the global ones.
      expectApiError(await admin.get(`/webhooks/${mine.id}`), 404);
      const globals = expectStatus(await admin.get('/webhooks?perPage=100'), 200);
      expect(globals.items.map((w: { id: string }) => w.id)).not.toContain(mine.id);
      expect(globals.items.map((w: { id: string }) => w.id)).toContain(global.id);
      expect(expectStatus(await admin.get(`/webhooks/${global.id}`), 200)).toMatchObject({ namespace: null });
    });

    it('go with their namespace', async () => {
      const org = uniqueName('doomed');
      expectStatus(await admin.post('/namespaces', { name: org }), 201);
      const { webhook } = expectStatus(await admin.post(nsHooks(org), { name: 'short-lived', url: HOOK_URL }), 201);
      expectStatus(await admin.delete(`/namespaces/${org}`), 204);
      expect(await registry.sql(`SELECT id FROM webhooks WHERE id = $1`, [webhook.id])).toEqual([]);
    });
  });

  describe('deliveries', () => {
    let hook: { id: string };
    const ids: Record<string, string> = {};

    /** Records a delivery as the relay and the processor would (no Redis here). */
    async function recordDelivery(webhookId: string, status: string, minutesAgo: number, attempts: { statusCode: number | null; error: string | null }[] = []) {
      const id = randomUUID();
      const event = {
        id: randomUUID(),
        timestamp: new Date().toISOString(),
        action: 'push',
        target: { repository: `${team.namespace}/app`, tag: 'v1', digest: `sha256:${'a'.repeat(64)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
        request: { id: 'r', addr: '127.0.0.1', host: 'registry', method: 'PUT', useragent: 'test' },
        actor: { name: 'someone' },
        source: { addr: 'host', instanceID: 'i' },
      };
      await registry.sql(
        `INSERT INTO webhook_deliveries (id, webhook_id, event_id, action, payload, status, attempts, last_status_code, last_error, created_at)
         VALUES ($1, $2, $3, 'push', $4, $5, $6, $7, $8, now() - make_interval(mins => $9))`,
        [id, webhookId, event.id, JSON.stringify(event), status, attempts.length, attempts.at(-1)?.statusCode ?? null, attempts.at(-1)?.error ?? null, minutesAgo],
      );
      for (const [i, attempt] of attempts.entries()) {
        await registry.sql(
          `INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, duration_ms, error, next_retry_at)
           VALUES ($1, $2, now() - make_interval(mins => $3), $4, $5, $6, $7)`,
          [id, i + 1, minutesAgo - i, attempt.statusCode, 40 + i, attempt.error, i === attempts.length - 1 ? null : new Date()],
        );
      }
      return { id, event };
    }

    beforeAll(async () => {
      hook = expectStatus(await team.owner.post(nsHooks(), { name: 'history', url: HOOK_URL }), 201).webhook;
      ids.succeeded = (await recordDelivery(hook.id, 'succeeded', 30, [{ statusCode: 200, error: null }])).id;
      ids.dead = (
        await recordDelivery(hook.id, 'dead', 20, [
          { statusCode: 500, error: 'HTTP 500' },
          { statusCode: null, error: 'timeout after 5000 ms' },
        ])
      ).id;
      ids.failed = (await recordDelivery(hook.id, 'failed', 10, [{ statusCode: 503, error: 'HTTP 503' }])).id;
      ids.pending = (await recordDelivery(hook.id, 'pending', 0)).id;
    });

    it('lists deliveries newest first, filtered by status, paged', async () => {
      const all = expectStatus(await team.owner.get(`${nsHooks()}/${hook.id}/deliveries`), 200);
      expect(all).toMatchObject({ page: 1, perPage: 20, total: 4 });
      expect(all.items.map((d: { id: string }) => d.id)).toEqual([ids.pending, ids.failed, ids.dead, ids.succeeded]);
      expect(all.items[2]).toEqual({
        id: ids.dead,
        webhookId: hook.id,
        eventId: expect.any(String),
        action: 'push',
        repository: `${team.namespace}/app`,
        tag: 'v1',
        digest: `sha256:${'a'.repeat(64)}`,
        eventCount: 1,
        status: 'dead',
        attempts: 2,
        lastStatusCode: null,
        lastError: 'timeout after 5000 ms',
        nextAttemptAt: null,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      const dead = expectStatus(await team.owner.get(`${nsHooks()}/${hook.id}/deliveries?status=dead`), 200);
      expect(dead.items.map((d: { id: string }) => d.id)).toEqual([ids.dead]);
      expect(dead.total).toBe(1);
      const paged = expectStatus(await team.owner.get(`${nsHooks()}/${hook.id}/deliveries?perPage=2&page=2`), 200);
      expect(paged.items.map((d: { id: string }) => d.id)).toEqual([ids.dead, ids.succeeded]);
      expectApiError(await team.owner.get(`${nsHooks()}/${hook.id}/deliveries?status=lost`), 400, 'status');
      expectApiError(await team.developer.get(`${nsHooks()}/${hook.id}/deliveries`), 403);
      expectApiError(await team.outsider.get(`${nsHooks()}/${hook.id}/deliveries`), 404);
    });

    it('shows one delivery with its event and every attempt', async () => {
      const detail = expectStatus(await team.owner.get(`${nsHooks()}/${hook.id}/deliveries/${ids.dead}`), 200);
      expect(detail).toMatchObject({ id: ids.dead, status: 'dead', event: { action: 'push', target: { repository: `${team.namespace}/app`, tag: 'v1' } } });
      expect(detail.event.id).toBe(detail.eventId);
      expect(detail.eventCount).toBe(1);
      expect(detail.events).toEqual([detail.event]);
      expect(detail.attempts).toEqual([
        { attempt: 1, at: expect.any(String), statusCode: 500, durationMs: 40, error: 'HTTP 500', nextRetryAt: expect.any(String) },
        { attempt: 2, at: expect.any(String), statusCode: null, durationMs: 41, error: 'timeout after 5000 ms', nextRetryAt: null },
      ]);
      expect(expectStatus(await team.owner.get(`${nsHooks()}/${hook.id}/deliveries/${ids.pending}`), 200).attempts).toEqual([]);
      expectApiError(await team.owner.get(`${nsHooks()}/${hook.id}/deliveries/${randomUUID()}`), 404);
      expectApiError(await team.owner.get(`${nsHooks()}/${hook.id}/deliveries/nope`), 404);
      // A delivery is reached only through its own subscription.
      const sibling = expectStatus(await team.owner.post(nsHooks(), { name: 'sibling', url: HOOK_URL }), 201).webhook;
      expectApiError(await team.owner.get(`${nsHooks()}/${sibling.id}/deliveries/${ids.dead}`), 404);
    });

    it('shows a batch of pull events as one delivery: the first event in the listing, every event in the detail', async () => {
      const batch = expectStatus(await team.owner.post(nsHooks(), { name: 'pull-batch', url: HOOK_URL }), 201).webhook;
      const pulls = ['v1', 'v2', 'v3'].map((tag) => ({
        id: randomUUID(),
        timestamp: new Date().toISOString(),
        action: 'pull',
        target: { repository: `${team.namespace}/app`, tag, digest: `sha256:${tag.slice(1).repeat(64)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
        request: { id: 'r', addr: '127.0.0.1', host: 'registry', method: 'GET', useragent: 'test' },
        actor: { name: 'someone' },
        source: { addr: 'host', instanceID: 'i' },
      }));
      const id = randomUUID();
      // As the relay stores a batch: the array of its events, event_id and action those of the first.
      await registry.sql(
        `INSERT INTO webhook_deliveries (id, webhook_id, event_id, action, payload, status) VALUES ($1, $2, $3, 'pull', $4, 'succeeded')`,
        [id, batch.id, pulls[0].id, JSON.stringify(pulls)],
      );
      const listed = expectStatus(await team.owner.get(`${nsHooks()}/${batch.id}/deliveries`), 200);
      expect(listed.items).toEqual([
        expect.objectContaining({ id, eventId: pulls[0].id, action: 'pull', repository: `${team.namespace}/app`, tag: 'v1', digest: pulls[0].target.digest, eventCount: 3 }),
      ]);
      const detail = expectStatus(await team.owner.get(`${nsHooks()}/${batch.id}/deliveries/${id}`), 200);
      expect(detail).toMatchObject({ id, eventId: pulls[0].id, tag: 'v1', eventCount: 3, event: pulls[0], events: pulls, attempts: [] });
    });

    it('ping and redeliver answer 409 while notifications are off, and change nothing', async () => {
      expectApiError(await team.owner.post(`${nsHooks()}/${randomUUID()}/ping`), 404);
      expectApiError(await team.owner.post(`${nsHooks()}/${hook.id}/deliveries/${randomUUID()}/redeliver`), 404);
      const ping = expectApiError(await team.owner.post(`${nsHooks()}/${hook.id}/ping`), 409);
      expect(ping.message).toContain('REDIS_URL');
      const redeliver = expectApiError(await team.owner.post(`${nsHooks()}/${hook.id}/deliveries/${ids.dead}/redeliver`), 409);
      expect(redeliver.message).toContain('REDIS_URL');
      const global = expectStatus(await admin.post('/webhooks', { name: 'global-ping', url: HOOK_URL }), 201).webhook;
      expectApiError(await admin.post(`/webhooks/${global.id}/ping`), 409);
      const all = expectStatus(await team.owner.get(`${nsHooks()}/${hook.id}/deliveries`), 200);
      expect(all.total).toBe(4);
      expect(all.items.find((d: { id: string }) => d.id === ids.dead).status).toBe('dead');
      expectApiError(await team.developer.post(`${nsHooks()}/${hook.id}/ping`), 403);
      const audit = expectStatus(await admin.get('/audit?action=webhook.ping'), 200);
      expect(audit.total).toBe(0);
    });
  });

  describe('audit', () => {
    it('records every change without secrets, header values or the URL path', async () => {
      const secret = `audit-${randomBytes(12).toString('hex')}`;
      const created = expectStatus(
        await team.owner.post(nsHooks(), { name: 'audited', url: HOOK_URL, secret, headers: { Authorization: 'Bearer audit-token' }, actions: ['push'] }),
        201,
      );
      const id = created.webhook.id;
      expectStatus(await team.owner.patch(`${nsHooks()}/${id}`, { enabled: false, headers: { 'X-Key': 'audit-header-value' } }), 200);
      const rotated = expectStatus(await team.owner.post(`${nsHooks()}/${id}/rotate-secret`), 200);
      expectStatus(await team.owner.delete(`${nsHooks()}/${id}`), 204);

      const log = expectStatus(await admin.get(`/audit?action=webhook&actor=${team.names.owner}&perPage=100`), 200);
      const mine = log.items.filter((e: { target: string }) => e.target === `webhook:${id}`);
      expect(mine.map((e: { action: string }) => e.action)).toEqual(['webhook.delete', 'webhook.rotate-secret', 'webhook.update', 'webhook.create']);
      expect(mine[3].detail).toMatchObject({ namespace: team.namespace, name: 'audited', url: 'https://hooks.example.com', headers: ['Authorization'], actions: ['push'] });
      expect(mine[2].detail).toEqual({ name: 'audited', changes: { enabled: false, headers: ['X-Key'] } });
      expect(mine[1].detail).toEqual({ name: 'audited' });
      expect(mine[0].detail).toEqual({ name: 'audited' });
      for (const entry of mine) expect(entry).toMatchObject({ actor: team.names.owner, clientAddr: expect.stringMatching(/127\.0\.0\.1$/) });
      const text = JSON.stringify(log);
      for (const hidden of [secret, rotated.secret, 'audit-token', 'audit-header-value', 'T0K3N-in-path']) expect(text).not.toContain(hidden);
    });
  });

  it('documents the webhook routes in the OpenAPI document', async () => {
    const doc = expectStatus(await new Api(registry.url).request('GET', '/api/docs-json'), 200);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/webhooks',
        '/api/v1/webhooks/{id}',
        '/api/v1/webhooks/{id}/rotate-secret',
        '/api/v1/webhooks/{id}/ping',
        '/api/v1/webhooks/{id}/deliveries',
        '/api/v1/webhooks/{id}/deliveries/{deliveryId}',
        '/api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver',
        '/api/v1/namespaces/{ns}/webhooks',
        '/api/v1/namespaces/{ns}/webhooks/{id}',
        '/api/v1/namespaces/{ns}/webhooks/{id}/deliveries/{deliveryId}/redeliver',
        '/api/v1/system/notifications',
      ]),
    );
    expect(doc.paths['/api/v1/webhooks'].post.requestBody).toBeDefined();
    const parameters = (path: string, method: string) => doc.paths[path][method].parameters.map((p: { name: string }) => p.name);
    expect(parameters('/api/v1/namespaces/{ns}/webhooks/{id}/deliveries', 'get')).toEqual(expect.arrayContaining(['ns', 'id', 'status', 'page', 'perPage']));
    expect(parameters('/api/v1/webhooks/{id}/deliveries', 'get')).not.toContain('ns');
  });
});


describe.skipIf(!available)('admin API: webhook ping and redelivery, with a (recording) delivery queue', () => {
  let registry: AdminRegistry;
  let admin: Api;
  let queue: RecordingQueue;
  let hook: { id: string };

  beforeAll(async () => {
    queue = recordingQueue();
    registry = await composeWebhookRegistry(queue);
    admin = await Api.login(registry.url, registry.admin);
    hook = expectStatus(await admin.post('/webhooks', { name: 'queued', url: HOOK_URL }), 201).webhook;
  });
  afterAll(async () => {
    await registry?.close();
  });

  async function recordDelivery(status: string): Promise<string> {
    const id = randomUUID();
    const event = { id: randomUUID(), action: 'delete', target: { repository: 'apps/web', digest: `sha256:${'b'.repeat(64)}` } };
    await registry.sql(
      `INSERT INTO webhook_deliveries (id, webhook_id, event_id, action, payload, status, attempts, last_status_code, last_error)
       VALUES ($1, $2, $3, 'delete', $4, $5, 3, 500, 'HTTP 500')`,
      [id, hook.id, event.id, JSON.stringify(event), status],
    );
    return id;
  }

  it('ping queues a test event with the action "ping" and answers 202 with the delivery', async () => {
    queue.calls.length = 0;
    const delivery = expectStatus(await admin.post(`/webhooks/${hook.id}/ping`), 202);
    expect(delivery).toMatchObject({ id: expect.any(String), webhookId: hook.id, action: 'ping', status: 'pending', attempts: 0, repository: '' });
    expect(queue.calls).toEqual([{ ids: [delivery.id], options: undefined }]);
    const detail = expectStatus(await admin.get(`/webhooks/${hook.id}/deliveries/${delivery.id}`), 200);
    expect(detail.event).toEqual({
      id: delivery.eventId,
      timestamp: expect.any(String),
      action: 'ping',
      target: { repository: '' },
      request: { id: expect.any(String), addr: expect.stringMatching(/127\.0\.0\.1$/), host: '', method: 'POST', useragent: '' },
      actor: { name: registry.admin.username },
      source: { addr: expect.any(String), instanceID: expect.any(String) },
    });
    expect(detail.events).toEqual([detail.event]);
    expect(detail.eventCount).toBe(1);
    expect(detail.nextAttemptAt).toEqual(expect.any(String));
    const audit = expectStatus(await admin.get('/audit?action=webhook.ping'), 200);
    expect(audit.items[0]).toMatchObject({ target: `webhook:${hook.id}`, detail: { deliveryId: delivery.id, eventId: delivery.eventId } });
  });

  it('redelivers a dead, failed or succeeded delivery (202, pending again, queued as a redelivery); a pending one is 409', async () => {
    for (const status of ['dead', 'failed', 'succeeded']) {
      queue.calls.length = 0;
      const id = await recordDelivery(status);
      const answer = expectStatus(await admin.post(`/webhooks/${hook.id}/deliveries/${id}/redeliver`), 202);
      expect(answer).toMatchObject({ id, status: 'pending', attempts: 3, nextAttemptAt: expect.any(String) });
      expect(queue.calls).toEqual([{ ids: [id], options: { redelivery: true } }]);
      const [row] = await registry.sql(`SELECT status, next_attempt_at <= now() AS due FROM webhook_deliveries WHERE id = $1`, [id]);
      expect(row).toEqual({ status: 'pending', due: true });
      const again = expectApiError(await admin.post(`/webhooks/${hook.id}/deliveries/${id}/redeliver`), 409);
      expect(again.message).toContain('pending');
      expect(queue.calls).toHaveLength(1);
      const audit = expectStatus(await admin.get('/audit?action=webhook.redeliver'), 200);
      expect(audit.items[0]).toMatchObject({ target: `webhook:${hook.id}`, detail: { deliveryId: id, previousStatus: status } });
    }
    expectApiError(await admin.post(`/webhooks/${hook.id}/deliveries/${randomUUID()}/redeliver`), 404);
  });
});

// ---------------------------------------------------------------------------------
// The applications under test. The main suite runs the registry as bootstrap.ts builds
// it once the app wires the webhook API (AdminModule importing WebhookAdminModule,
// AppModule importing NotificationsModule). Until then, and for the suite with a
// recording queue, it is composed here the same way: the app module, the
// NotificationsModule (REDIS_URL unset) and the webhook API.

interface RecordingQueue {
  enabled: boolean;
  calls: { ids: string[]; options?: { redelivery?: boolean } }[];
  enqueue(ids: string[], options?: { redelivery?: boolean }): Promise<void>;
}

function recordingQueue(): RecordingQueue {
  const queue: RecordingQueue = {
    enabled: true,
    calls: [],
    enqueue: async (ids, options) => {
      queue.calls.push({ ids, options });
    },
  };
  return queue;
}

async function startWebhookRegistry(): Promise<AdminRegistry> {
  const [{ AdminModule }, { WebhookAdminModule }] = await Promise.all([import('@berth/admin'), import('../../libs/admin/src/webhook-admin.module.js')]);
  const adminImports: unknown[] = Reflect.getMetadata('imports', AdminModule) ?? [];
  return adminImports.includes(WebhookAdminModule) && (await appHasNotifications()) ? startAdminRegistry() : composeWebhookRegistry();
}

async function appHasNotifications(config?: unknown): Promise<boolean> {
  const [{ AppModule }, { NotificationsModule }, { BerthConfig }] = await Promise.all([
    import('../../apps/registry/src/app.module.js'),
    import('@berth/notifications'),
    import('@berth/config'),
  ]);
  const imports = AppModule.forRoot((config as InstanceType<typeof BerthConfig>) ?? new BerthConfig({ DATA_DIR: tmpdir() })).imports ?? [];
  return imports.some((m) => m === NotificationsModule || (m as { module?: unknown }).module === NotificationsModule);
}

/** The registry application with the webhook API; `queue` replaces the DeliveryQueue. */
async function composeWebhookRegistry(queue?: RecordingQueue): Promise<AdminRegistry> {
  const [
    { Test },
    { default: express },
    { BerthConfig },
    { rewriteV2Path, RegistryExceptionFilter },
    admin,
    accounts,
    { AppModule },
    { WebhookAdminModule },
    { DeliveryQueue, NotificationsModule },
  ] = await Promise.all([
    import('@nestjs/testing'),
    import('express'),
    import('@berth/config'),
    import('@berth/distribution'),
    import('@berth/admin'),
    import('../../libs/auth/src/accounts/index.js'),
    import('../../apps/registry/src/app.module.js'),
    import('../../libs/admin/src/webhook-admin.module.js'),
    import('@berth/notifications'),
  ]);
  const database = await TestDatabase.create('berth_hooks');
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-hooks-'));
  const config = new BerthConfig({
    DATABASE_URL: database.url,
    DATA_DIR: dataDir,
    STORAGE_DRIVER: 'inmemory',
    LOG_LEVEL: 'warn',
    AUTO_CREATE_NAMESPACES: 'true',
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
  });
  const notifications = (await appHasNotifications(config)) ? [] : [NotificationsModule.forRoot(config)];
  const builder = Test.createTestingModule({ imports: [AppModule.forRoot(config), ...notifications, WebhookAdminModule] });
  if (queue) builder.overrideProvider(DeliveryQueue).useValue(queue);
  const app = (await builder.compile()).createNestApplication({ bodyParser: false, logger: ['error', 'warn'] });
  app.use((req: { url: string }, res: { setHeader(n: string, v: string): void }, next: () => void) => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (req.url.startsWith('/v2/')) req.url = rewriteV2Path(req.url);
    next();
  });
  app.use('/api', express.json({ limit: '1mb' }), admin.apiBodyErrorHandler);
  app.useGlobalFilters(new RegistryExceptionFilter());
  admin.setupAdminOpenApi(app);
  await app.init();
  await app.get(accounts.UserService).ensureInitialAdmin(config.admin.username, config.admin.password, () => undefined);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    admin: ADMIN,
    sql: (query, params) => database.query(query, params),
    close: async () => {
      await app.close();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

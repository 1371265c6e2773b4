/**
 * A system administrator pushing into a namespace that does not exist: refused with 403
 * DENIED naming the namespace (the default), or, with AUTO_CREATE_NAMESPACES=true, the
 * namespace is created as a private organisation the administrator owns. Never a
 * repository that no namespace owns (no quota, members or usage would apply to it).
 *
 * Berth only: skipped against E2E_REGISTRY_URL.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, e2eAvailable, expectError, externalRegistry, randomBlob, RegistryClient, sha256 } from '../support/http.js';
import { type InProcessRegistry, startInProcessRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { AdminApi, accountName, mustGetToken } from '../auth/support.js';

const available = !externalRegistry && (await e2eAvailable('admin/namespace-on-push'));

describe.skipIf(!available)('pushing into a namespace that does not exist', () => {
  describe('AUTO_CREATE_NAMESPACES=false (the default): refused', () => {
    let registry: TestRegistry;
    let api: AdminApi;
    let c: RegistryClient;

    beforeAll(async () => {
      registry = await startRegistry({ env: { AUTO_CREATE_NAMESPACES: 'false' } });
      api = await AdminApi.login(registry.url, registry.admin!);
      c = new RegistryClient(registry.url, registry.admin!);
    });

    afterAll(async () => {
      const problems = c?.takeViolations() ?? [];
      await registry?.close();
      expect(problems, 'protocol violations').toEqual([]);
    });

    async function expectNoRepository(ns: string): Promise<void> {
      const catalog = await c.get('/v2/_catalog?n=10000');
      expect(catalog.json().repositories.filter((r: string) => r.startsWith(`${ns}/`))).toEqual([]);
      expect((await api.request('GET', `/namespaces/${ns}`)).status).toBe(404);
    }

    it('an upload session, a whole-blob POST, a mount and a manifest PUT → 403 DENIED naming the namespace', async () => {
      const ns = accountName('missing');
      const body = expectError(await c.post(`/v2/${ns}/app/blobs/uploads/`), 403, 'DENIED');
      expect(body.errors[0].message).toContain(`namespace ${ns} does not exist`);
      const blob = randomBlob(100);
      expectError(await c.post(`/v2/${ns}/app/blobs/uploads/?digest=${sha256(blob)}`, { body: blob, headers: { 'Content-Type': 'application/octet-stream' } }), 403, 'DENIED');

      const source = accountName('src');
      await api.createOrganisation(source);
      const image = await c.pushImage(`${source}/app`, 'v1');
      expectError(await c.post(`/v2/${ns}/app/blobs/uploads/?mount=${sha256(image.layers[0])}&from=${source}/app`), 403, 'DENIED');
      expectError(await c.pushManifest(`${ns}/app`, 'v1', image.manifestBytes, image.mediaType), 403, 'DENIED');
      await expectNoRepository(ns);
    });

    it('with a token too: 403 DENIED', async () => {
      const ns = accountName('missing');
      const { token } = await mustGetToken(registry.url, { auth: registry.admin!, scopes: [`repository:${ns}/app:pull,push`] });
      expectError(await c.withAuth({ token }).post(`/v2/${ns}/app/blobs/uploads/`), 403, 'DENIED');
      await expectNoRepository(ns);
    });

    it('a namespace deleted while a push creates its first repository leaves no orphan: the push is refused', async () => {
      const own: InProcessRegistry = await startInProcessRegistry({ env: { AUTO_CREATE_NAMESPACES: 'false' } });
      const deleter = new pg.Client({ connectionString: own.database!.url });
      try {
        const ownApi = await AdminApi.login(own.url, own.admin);
        const ns = accountName('doomed');
        await ownApi.createOrganisation(ns);
        await deleter.connect();
        // A namespace delete in progress: it holds the row, as NamespaceService.delete does.
        await deleter.query('BEGIN');
        await deleter.query('SELECT id FROM namespaces WHERE name = $1 FOR UPDATE', [ns]);
        const push = new RegistryClient(own.url, own.admin).post(`/v2/${ns}/app/blobs/uploads/`);
        // Wait (no clock) until the push's repository insert waits for that lock. Asked on
        // another connection: inside a transaction pg_stat_activity keeps its first snapshot.
        for (;;) {
          const [{ waiting }] = await own.database!.query<{ waiting: number }>(
            `SELECT count(*)::int AS waiting FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO repositories%'`,
          );
          if (waiting > 0) break;
          await new Promise((resolve) => setImmediate(resolve));
        }
        await deleter.query('DELETE FROM namespaces WHERE name = $1', [ns]);
        await deleter.query('COMMIT');
        expectError(await push, 403, 'DENIED');
        const orphans = await own.database!.query(`SELECT name FROM repositories WHERE split_part(name, '/', 1) = $1`, [ns]);
        expect(orphans).toEqual([]);
      } finally {
        await deleter.end().catch(() => undefined);
        await own.close();
      }
    });

    it('once the namespace is created the same push works', async () => {
      const ns = accountName('later');
      expectError(await c.post(`/v2/${ns}/app/blobs/uploads/`), 403, 'DENIED');
      await api.createOrganisation(ns);
      await c.pushImage(`${ns}/app`, 'v1');
      expect((await c.get(`/v2/${ns}/app/tags/list`)).json().tags).toEqual(['v1']);
    });
  });

  describe('AUTO_CREATE_NAMESPACES=true: created, owned by the pushing administrator', () => {
    let registry: TestRegistry;
    let api: AdminApi;
    let c: RegistryClient;

    beforeAll(async () => {
      registry = await startRegistry({ env: { AUTO_CREATE_NAMESPACES: 'true' } });
      api = await AdminApi.login(registry.url, registry.admin!);
      c = new RegistryClient(registry.url, registry.admin!);
    });

    afterAll(async () => {
      const problems = c?.takeViolations() ?? [];
      await registry?.close();
      expect(problems, 'protocol violations').toEqual([]);
    });

    it('a push creates a private organisation with the administrator as its owner', async () => {
      const ns = accountName('auto');
      await c.pushImage(`${ns}/app`, 'v1');
      const created = await api.must('GET', `/namespaces/${ns}`);
      expect(created).toMatchObject({ name: ns, kind: 'organization', visibility: 'private', role: 'owner' });
      const members = await api.must('GET', `/namespaces/${ns}/members`);
      expect(JSON.stringify(members)).toContain(registry.admin!.username);
      expect(JSON.stringify(members)).toContain('owner');
    });

    it('concurrent pushes into one new namespace all succeed and create it once', async () => {
      const ns = accountName('race');
      const image = buildImage();
      await Promise.all(Array.from({ length: 6 }, (_, i) => c.pushImage(`${ns}/app${i}`, 'v1', image)));
      const listed = await api.must('GET', `/namespaces?q=${ns}`);
      expect(JSON.stringify(listed).split(`"name":"${ns}"`).length - 1).toBe(1);
      for (let i = 0; i < 6; i++) expect((await c.get(`/v2/${ns}/app${i}/tags/list`)).status).toBe(200);
    });

    it('a name that cannot be a namespace (one character) is still refused with 403 DENIED', async () => {
      const body = expectError(await c.post('/v2/x/app/blobs/uploads/'), 403, 'DENIED');
      expect(body.errors[0].message).toContain('namespace x does not exist');
    });

    it('a user who is not an administrator gains nothing: no push, no namespace', async () => {
      const username = accountName('dev');
      const password = `Pa55-${accountName('pw')}`;
      await api.createUser(username, password);
      const ns = accountName('nope');
      expectError(await c.withAuth({ username, password }).post(`/v2/${ns}/app/blobs/uploads/`), 403, 'DENIED');
      expect((await api.request('GET', `/namespaces/${ns}`)).status).toBe(404);
    });
  });
});

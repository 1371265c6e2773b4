import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, e2eAvailable, externalRegistry, randomBlob, sha256, uniq, withQuery } from '../support/http.js';
import { type InProcessRegistry, startInProcessRegistry } from '../support/registry.js';

const available = !externalRegistry && (await e2eAvailable('api/push-statements'));

/**
 * Pins the SQL statements each push request sends (BEGIN and COMMIT included), counted at
 * the real pg driver the registry uses, so that they do not creep back. Raise a bound only
 * with a reason: every statement is a round trip on each of a push's requests.
 */
const recording: { statements: string[] | null } = { statements: null };
const query = pg.Client.prototype.query;

async function statementsOf(request: () => Promise<{ status: number }>, status: number): Promise<string[]> {
  recording.statements = [];
  try {
    const res = await request();
    expect(res.status).toBe(status);
    return recording.statements;
  } finally {
    recording.statements = null;
  }
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe.skipIf(!available)('SQL statements per push request', () => {
  let registry: InProcessRegistry;
  let c: RegistryClient;
  const plain = `${uniq('plain')}/app`;
  const quoted = `${uniq('quota')}/app`;

  beforeAll(async () => {
    (pg.Client.prototype as { query: unknown }).query = function (this: pg.Client, ...args: unknown[]) {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | undefined)?.text;
      // Not the request's: the revocation copy every replica refreshes every 2 s.
      if (!text?.includes('credential_generations')) recording.statements?.push((text ?? '').replace(/\s+/g, ' ').trim());
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    };
    registry = await startInProcessRegistry();
    // A bearer token, as docker uses: the guard checks it without the database.
    const scopes = [plain, quoted].map((r) => `scope=repository:${r}:pull,push`).join('&');
    const token = await new RegistryClient(registry.url, registry.admin).get(`/auth/token?service=berth-registry&${scopes}`);
    c = new RegistryClient(registry.url, { token: token.json().token });
    // Both namespaces exist (the first push creates them), one with a quota.
    for (const repo of [plain, quoted]) await c.pushBlob(repo, randomBlob(10));
    await registry.database!.query(`UPDATE namespaces SET quota_bytes = 1000000000 WHERE name = $1`, [quoted.split('/')[0]]);
    // The first push under a new quota counts the namespace's usage once; the rest keep the count.
    await c.pushBlob(quoted, randomBlob(10));
  });
  afterAll(async () => {
    (pg.Client.prototype as { query: unknown }).query = query;
    await registry?.close();
  });

  const count = (label: string, statements: string[]) => {
    if (process.env.PUSH_STATEMENTS_LOG) console.log(`${label}: ${statements.length}\n  ${statements.map((t) => t.slice(0, 140)).join('\n  ')}`);
    return statements.length;
  };
  const whole = (repo: string, blob: Buffer) => () => c.post(withQuery(`${registry.url}/v2/${repo}/blobs/uploads/`, { digest: sha256(blob) }), { body: blob });

  // Most: a namespace without a quota. With one, the namespace's row is locked and the push
  // counted under the lock (is the blob already held there, what the sessions stage, the new count).
  for (const [label, repo, most] of [
    ['without a quota', () => plain, { whole: 6, open: 2, patch: 2, put: 7, manifest: 5 }],
    ['with a quota', () => quoted, { whole: 10, open: 2, patch: 6, put: 13, manifest: 8 }],
  ] as const) {
    it(`a new blob pushed in one request (POST ?digest=), ${label}`, async () => {
      const blob = randomBlob(16384);
      // The look-up before the body (repository and quota), then BEGIN, namespace quota, locks, insert, COMMIT.
      const statements = await statementsOf(whole(repo(), blob), 201);
      expect(count(`POST ?digest=, ${label}`, statements), statements.join('\n')).toBeLessThanOrEqual(most.whole);
    });

    it(`a blob HEAD, a session opened, a chunk and its completion, ${label}`, async () => {
      const blob = randomBlob(16384);
      const head = await statementsOf(() => c.head(`/v2/${repo()}/blobs/${sha256(blob)}`), 404);
      expect(count(`HEAD (missing), ${label}`, head), head.join('\n')).toBe(1);
      let location = '';
      const open = await statementsOf(async () => {
        const res = await c.post(`/v2/${repo()}/blobs/uploads/`);
        location = res.location!;
        return res;
      }, 202);
      expect(count(`POST (open), ${label}`, open), open.join('\n')).toBeLessThanOrEqual(most.open);
      const patch = await statementsOf(async () => {
        const res = await c.patch(location, { body: blob, headers: { 'Content-Range': `0-${blob.length - 1}` } });
        location = res.location!;
        return res;
      }, 202);
      expect(count(`PATCH, ${label}`, patch), patch.join('\n')).toBeLessThanOrEqual(most.patch);
      const put = await statementsOf(() => c.put(withQuery(location, { digest: sha256(blob) })), 201);
      expect(count(`PUT ?digest=, ${label}`, put), put.join('\n')).toBeLessThanOrEqual(most.put);
      const present = await statementsOf(() => c.head(`/v2/${repo()}/blobs/${sha256(blob)}`), 200);
      expect(count(`HEAD (present), ${label}`, present), present.join('\n')).toBe(1);
    });

    it(`a manifest PUT by tag, ${label}`, async () => {
      const blobs = [Buffer.from(`{"n":"${uniq()}"}`), randomBlob(16384), randomBlob(16384)];
      for (const blob of blobs) expect((await whole(repo(), blob)()).status).toBe(201);
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(blobs[0]), size: blobs[0].length },
          layers: blobs.slice(1).map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(b), size: b.length })),
        }),
      );
      const put = () => c.put(`/v2/${repo()}/manifests/${uniq('v')}`, { body: manifest, headers: { 'Content-Type': OCI_MANIFEST } });
      // BEGIN, namespace quota, repository and references locked, manifest + references + tag, COMMIT.
      const statements = await statementsOf(put, 201);
      expect(count(`manifest PUT, ${label}`, statements), statements.join('\n')).toBeLessThanOrEqual(most.manifest);
    });
  }
});

import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { STORAGE_DRIVER, type StorageDriver, uploadDataPath } from '@berth/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, basicAuth, errorCode, expectError, randomBlob, sha256, withQuery } from '../support/http.js';
import { type AdminRegistry, Api, adminSuiteAvailable, createUser, expectStatus, startAdminRegistry, uniqueName } from '../admin/support.js';

const available = await adminSuiteAvailable('staged-uploads');

const KiB = 1024;
const octet = { 'Content-Type': 'application/octet-stream' };

describe.skipIf(!available)('staged uploads: quota and open sessions', () => {
  let registry: AdminRegistry;
  let admin: Api;
  let v2: RegistryClient;

  beforeAll(async () => {
    registry = await startAdminRegistry({ UPLOAD_MAX_SESSIONS_PER_ACCOUNT: '3', UPLOAD_MAX_SESSIONS_PER_NAMESPACE: '4' });
    admin = await Api.login(registry.url, registry.admin);
    v2 = new RegistryClient(registry.url, registry.admin);
  });
  afterAll(async () => {
    await registry?.close();
  });

  async function organisation(quotaBytes?: number): Promise<string> {
    const ns = uniqueName('st');
    expectStatus(await admin.post('/namespaces', { name: ns }), 201);
    if (quotaBytes !== undefined) expectStatus(await admin.put(`/namespaces/${ns}/quota`, { quotaBytes }), 200);
    return ns;
  }

  /** A PATCH whose body is sent chunked, without Content-Length: its size is only known once it ends. */
  async function streamedPatch(location: string, body: Buffer): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(location, { method: 'PATCH', headers: { ...octet, Authorization: basicAuth(registry.admin) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      for (let i = 0; i < body.length; i += 8 * KiB) req.write(body.subarray(i, i + 8 * KiB));
      req.end();
    });
  }

  /**
   * Sends `method` with `headers` and the first `sent` bytes of a body it never finishes:
   * the answer, when the registry gives one before the body ends. The request is destroyed after.
   */
  async function unfinished(method: string, location: string, headers: Record<string, string>, sent: number): Promise<{ status: number; text: string }> {
    let req: http.ClientRequest | undefined;
    try {
      return await new Promise((resolve, reject) => {
        req = http.request(new URL(location, registry.url), {
          method,
          headers: { ...octet, ...headers, Authorization: basicAuth(registry.admin) },
        });
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString() }));
        });
        req.on('error', reject);
        req.write(randomBlob(sent));
      });
    } finally {
      req?.destroy();
    }
  }

  /** Waits for `check` to hold (the registry acting on a cut-off body), failing after 10 s. */
  async function eventually(check: () => Promise<boolean>): Promise<void> {
    for (const deadline = Date.now() + 10_000; !(await check()); await sleep(20)) {
      if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    }
  }

  const uuidOf = (location: string) => new URL(location, registry.url).pathname.split('/').pop()!;

  async function cancelAll(locations: string[]): Promise<void> {
    for (const location of locations) await v2.delete(location);
  }

  it('counts staged bytes against the quota: the chunk that would pass it is refused, with its session', async () => {
    const ns = await organisation(100 * KiB);
    const first = await v2.startUpload(`${ns}/a`);
    const data = randomBlob(60 * KiB);
    const staged = await v2.patch(first, { headers: octet, body: data });
    expect(staged.status, staged.text).toBe(202);

    // Announced with Content-Length: refused before a byte is read.
    const second = await v2.startUpload(`${ns}/b`);
    const refused = expectError(await v2.patch(second, { headers: octet, body: randomBlob(60 * KiB) }), 403, 'DENIED');
    expect(refused.errors[0].message).toBe(`namespace "${ns}" quota exceeded: 0 B used (and 60 KiB staged in open uploads) of 100 KiB, this blob needs 60 KiB`);
    expect(errorCode(await v2.get(second))).toBe('BLOB_UPLOAD_UNKNOWN');

    // Streamed: cut off where it passes the quota, refused once it ends.
    const third = await v2.startUpload(`${ns}/c`);
    const streamed = await streamedPatch(third, randomBlob(60 * KiB));
    expect(streamed.status, streamed.text).toBe(403);
    expect(JSON.parse(streamed.text).errors[0].code).toBe('DENIED');
    expect(errorCode(await v2.get(third))).toBe('BLOB_UPLOAD_UNKNOWN');

    // What fits still goes in, and the staged session completes.
    const fourth = await v2.startUpload(`${ns}/d`);
    expect((await v2.patch(fourth, { headers: octet, body: randomBlob(40 * KiB) })).status).toBe(202);
    const done = await v2.put(withQuery(staged.location!, { digest: sha256(data) }));
    expect(done.status, done.text).toBe(201);
    expect(expectStatus(await admin.get(`/namespaces/${ns}/usage`), 200).totalBytes).toBe(60 * KiB);
    await cancelAll([fourth]);
  });

  it('keeps the exact count a chunk had to make, so the next chunks do not count the namespace again', async () => {
    const ns = await organisation(100 * KiB);
    await v2.pushBlob(`${ns}/a`, randomBlob(30 * KiB));
    // An over-estimate, as deletions leave it: 90 KiB + a 20 KiB chunk would pass the quota.
    await registry.sql('UPDATE namespaces SET quota_counted_bytes = $2 WHERE name = $1', [ns, 90 * KiB]);
    const session = await v2.startUpload(`${ns}/a`);
    expect((await v2.patch(session, { headers: octet, body: randomBlob(20 * KiB) })).status).toBe(202);
    expect(await registry.sql('SELECT quota_counted_bytes::int AS counted FROM namespaces WHERE name = $1', [ns])).toEqual([{ counted: 30 * KiB }]);
    await cancelAll([session]);
  });

  it('lets only one of two sessions racing for the last bytes stage them', async () => {
    const ns = await organisation(100 * KiB);
    const sessions = await Promise.all([v2.startUpload(`${ns}/a`), v2.startUpload(`${ns}/b`)]);
    const answers = await Promise.all(sessions.map((location) => v2.patch(location, { headers: octet, body: randomBlob(60 * KiB) })));
    expect(answers.map((answer) => answer.status).sort()).toEqual([202, 403]);
    await cancelAll(answers.filter((answer) => answer.status === 202).map((answer) => answer.location!));
  });

  it('refuses a final PUT whose last chunk passes the quota beside what other sessions stage', async () => {
    const ns = await organisation(100 * KiB);
    const holder = await v2.startUpload(`${ns}/a`);
    const held = await v2.patch(holder, { headers: octet, body: randomBlob(60 * KiB) });
    expect(held.status).toBe(202);
    const blob = randomBlob(50 * KiB);
    const location = await v2.startUpload(`${ns}/b`);
    expectError(await v2.put(withQuery(location, { digest: sha256(blob) }), { headers: octet, body: blob }), 403, 'DENIED');
    expectError(await v2.post(`/v2/${ns}/c/blobs/uploads/?digest=${sha256(blob)}`, { headers: octet, body: blob }), 403, 'DENIED');
    expect((await v2.head(`/v2/${ns}/b/blobs/${sha256(blob)}`)).status).toBe(404);
    await cancelAll([held.location!]);
    expect((await v2.post(`/v2/${ns}/c/blobs/uploads/?digest=${sha256(blob)}`, { headers: octet, body: blob })).status).toBe(201);
  });

  it('counts a blob once between sessions completing as it', async () => {
    const ns = await organisation(100 * KiB);
    const blob = randomBlob(60 * KiB);
    const digest = sha256(blob);
    const first = await v2.patch(await v2.startUpload(`${ns}/a`), { headers: octet, body: blob });
    expect(first.status).toBe(202);
    const uuid = new URL(first.location!).pathname.split('/').pop()!;
    // Its completion is cut off once the digest is recorded (the commit fails): 60 KiB stay staged as that blob.
    await registry.sql(`CREATE FUNCTION cut_off() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'cut off'; END $$`);
    await registry.sql(`CREATE TRIGGER cut_off BEFORE DELETE ON uploads FOR EACH ROW WHEN (OLD.id = '${uuid}') EXECUTE FUNCTION cut_off()`);
    try {
      expect((await v2.put(withQuery(first.location!, { digest }))).status).toBe(500);
    } finally {
      await registry.sql('DROP TRIGGER cut_off ON uploads');
      await registry.sql('DROP FUNCTION cut_off()');
    }

    // The same blob through another session fits beside it; another blob of that size does not.
    const again = await v2.put(withQuery(await v2.startUpload(`${ns}/b`), { digest }), { headers: octet, body: blob });
    expect(again.status, again.text).toBe(201);
    const other = randomBlob(60 * KiB);
    expectError(await v2.post(`/v2/${ns}/c/blobs/uploads/?digest=${sha256(other)}`, { headers: octet, body: other }), 403, 'DENIED');
    expect((await v2.put(withQuery(first.location!, { digest }))).status).toBe(201);
    expect(expectStatus(await admin.get(`/namespaces/${ns}/usage`), 200).totalBytes).toBe(60 * KiB);
  });

  it('caps the last chunk naming a blob the namespace holds at that blob\'s size, refused with its session before the body is read', async () => {
    const ns = await organisation(100 * KiB);
    const held = randomBlob(1);
    const digest = sha256(held);
    await v2.pushBlob(`${ns}/a`, held);

    // Announced larger than the blob: it cannot match, so it is refused before the rest arrives.
    const location = await v2.startUpload(`${ns}/b`);
    const refused = await unfinished('PUT', withQuery(location, { digest }), { 'Content-Length': String(1024 * KiB) }, KiB);
    expect(refused.status, refused.text).toBe(400);
    const error = JSON.parse(refused.text).errors[0];
    expect(error.code).toBe('DIGEST_INVALID');
    expect(error.message).toBe(`blob ${digest} holds 1 B: an upload of 1 MiB cannot match it`);
    expect(errorCode(await v2.get(location))).toBe('BLOB_UPLOAD_UNKNOWN');

    // The single-request upload has the same cap.
    const whole = await unfinished('POST', `/v2/${ns}/c/blobs/uploads/?digest=${digest}`, { 'Content-Length': String(1024 * KiB) }, KiB);
    expect(whole.status, whole.text).toBe(400);
    expect(JSON.parse(whole.text).errors[0].code).toBe('DIGEST_INVALID');

    // Streamed: cut off at the blob's size, refused at its end, and the session goes.
    const streamedAt = await v2.startUpload(`${ns}/d`);
    const streamed = await v2.put(withQuery(streamedAt, { digest }), { headers: octet, body: randomBlob(2) });
    expectError(streamed, 400, 'DIGEST_INVALID');
    expect(errorCode(await v2.get(streamedAt))).toBe('BLOB_UPLOAD_UNKNOWN');

    // The blob's own bytes still complete a session.
    const done = await v2.put(withQuery(await v2.startUpload(`${ns}/e`), { digest }), { headers: octet, body: held });
    expect(done.status, done.text).toBe(201);
    // Without the cap, the registry waits for the whole body: the test times out.
  }, 15_000);

  it('keeps no staged byte past the recorded size once a chunk is cut off', async () => {
    const ns = await organisation(1024 * KiB);
    const storage = registry.app.get<StorageDriver>(STORAGE_DRIVER);
    const held = randomBlob(64 * KiB);
    await v2.pushBlob(`${ns}/a`, held);
    const staged = async (location: string) => (await storage.stat(uploadDataPath(uuidOf(location))))?.size;
    const released = async (location: string) =>
      (await registry.sql('SELECT writer FROM uploads WHERE id = $1', [uuidOf(location)]))[0]?.writer === null;

    for (const [method, at] of [
      ['PUT', (location: string) => withQuery(location, { digest: sha256(held) })],
      ['PATCH', (location: string) => location],
    ] as const) {
      const location = await v2.startUpload(`${ns}/b`);
      expect((await v2.patch(location, { headers: octet, body: randomBlob(8 * KiB) })).status).toBe(202);
      // 24 KiB of a longer body arrive, then the client goes.
      const req = http.request(new URL(at(location), registry.url), {
        method,
        headers: { ...octet, Authorization: basicAuth(registry.admin) },
      });
      req.on('error', () => undefined);
      req.write(randomBlob(24 * KiB));
      await eventually(async () => (await staged(location)) === 32 * KiB);
      req.destroy();
      await eventually(() => released(location));
      expect(await staged(location), method).toBe(8 * KiB);
      // The session goes on from its recorded size.
      expect((await v2.get(location)).headers.get('range')).toBe(`0-${8 * KiB - 1}`);
      await v2.delete(location);
    }
  });

  it('bounds the sessions open per account and per namespace with 429 TOOMANYREQUESTS', async () => {
    const ns = await organisation();
    const mine = [];
    for (let i = 0; i < 3; i++) mine.push(await v2.startUpload(`${ns}/app`));
    const refused = expectError(await v2.post(`/v2/${ns}/app/blobs/uploads/`), 429, 'TOOMANYREQUESTS');
    expect(refused.errors[0].message).toBe('this account has 3 upload sessions open, the most allowed: finish or cancel one first');
    // The limit is the account's, wherever it pushes.
    const elsewhere = await organisation();
    const other = await v2.post(`/v2/${elsewhere}/app/blobs/uploads/`);
    expect(other.status).toBe(429);
    expect(other.headers.get('retry-after')).toBe('60');

    // Finishing or cancelling one frees its place.
    const blob = randomBlob(100);
    expect((await v2.put(withQuery(mine.shift()!, { digest: sha256(blob) }), { headers: octet, body: blob })).status).toBe(201);
    mine.push(await v2.startUpload(`${ns}/app`));

    // Another member of the namespace has places of their own, until the namespace is full.
    const member = await createUser(admin, 'dev');
    expectStatus(await admin.put(`/namespaces/${ns}/members/${member.username}`, { role: 'developer' }), 201);
    const theirs = new RegistryClient(registry.url, member);
    const their = await theirs.startUpload(`${ns}/app`);
    const full = expectError(await theirs.post(`/v2/${ns}/app/blobs/uploads/`), 429, 'TOOMANYREQUESTS');
    expect(full.errors[0].message).toBe(`namespace "${ns}" has 4 upload sessions open, the most allowed: finish or cancel one first`);

    await cancelAll(mine);
    await theirs.delete(their);
    expect((await theirs.post(`/v2/${ns}/app/blobs/uploads/`)).status).toBe(202);
  });
});

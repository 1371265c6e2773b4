import { readFile, readdir, stat } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  basicAuth,
  berthOnly,
  e2eAvailable,
  expectError,
  randomBlob,
  RegistryClient,
  type Res,
  sha256,
  sha512,
  uniq,
  useRegistry,
  withQuery,
} from '../support/http.js';
import type { InProcessRegistry } from '../support/registry.js';
import { startRestartableRegistry } from './restartable-registry.js';

const available = await e2eAvailable('api/uploads');

const octet = { 'Content-Type': 'application/octet-stream' };
/** The suite also runs on the s3 driver (TEST_STORAGE_DRIVER=s3); some checks look into the filesystem driver's directory. */
const onFilesystem = (process.env.TEST_STORAGE_DRIVER ?? 'filesystem') === 'filesystem';

function pathOf(url: string): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

/** Asserts a 202 "upload in progress" answer and returns its resolved Location. */
function expectInProgress(res: Res, received: number): string {
  expect(res.status, `${res.status} ${res.text.slice(0, 200)}`).toBe(202);
  expect(res.location).toBeTruthy();
  expect(res.headers.get('docker-upload-uuid')).toBeTruthy();
  expect(res.headers.get('range')).toBe(received === 0 ? '0-0' : `0-${received - 1}`);
  return res.location!;
}

/** Asserts a 201 "blob created" answer. */
function expectCreated(res: Res, repo: string, digest: string): void {
  expect(res.status, `${res.status} ${res.text.slice(0, 200)}`).toBe(201);
  expect(res.headers.get('docker-content-digest')).toBe(digest);
  expect(res.location).toBeTruthy();
  expect(new URL(res.location!).pathname).toBe(`/v2/${repo}/blobs/${digest}`);
}

describe.skipIf(!available)('blob uploads', () => {
  const ctx = useRegistry();
  const prefix = uniq('uploads');
  const repo = `${prefix}/app`;

  async function expectBlob(r: string, digest: string, data: Buffer): Promise<void> {
    const res = await ctx.c.get(`/v2/${r}/blobs/${digest}`);
    expect(res.status, `GET ${r}@${digest}: ${res.status}`).toBe(200);
    expect(res.body.equals(data)).toBe(true);
  }

  /** A PATCH announcing a MiB from `start` that sends only `part` of it, then drops the connection. */
  async function cutOffPatch(location: string, start: number, part: Buffer): Promise<void> {
    await new Promise<void>((resolve) => {
      const req = http.request(location, {
        method: 'PATCH',
        headers: {
          ...octet,
          'Content-Range': `${start}-${start + 1024 * 1024 - 1}`,
          'Content-Length': 1024 * 1024,
          Authorization: basicAuth(ctx.registry.admin!),
        },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(part, () => setTimeout(() => req.destroy(), 100));
    });
    // The server notices the drop a little later: until then the session stays claimed. A
    // chunk at the wrong offset tells which (it is refused either way, changing nothing).
    for (let attempt = 0; attempt < 200; attempt++) {
      const probe = await ctx.c.patch(location, { headers: { ...octet, 'Content-Range': '0-0' }, body: Buffer.from('x') });
      expect(probe.status).toBe(416);
      if (!probe.text.includes('another request is writing')) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error('the cut-off PATCH still holds the session');
  }

  async function expectNoBlob(r: string, digest: string): Promise<void> {
    expect((await ctx.c.head(`/v2/${r}/blobs/${digest}`)).status).toBe(404);
  }

  describe('starting and finishing', () => {
    it('POST → 202 with Location, Docker-Upload-UUID and Range: 0-0', async () => {
      const res = await ctx.c.post(`/v2/${repo}/blobs/uploads/`);
      const location = expectInProgress(res, 0);
      expect(new URL(location).pathname.startsWith(`/v2/${repo}/blobs/uploads/`)).toBe(true);
    });

    it('monolithic PUT with ?digest → 201, Location /v2/<name>/blobs/<d>, Docker-Content-Digest', async () => {
      const data = randomBlob(2048);
      const digest = sha256(data);
      const location = await ctx.c.startUpload(repo);
      expectCreated(await ctx.c.put(withQuery(location, { digest }), { headers: octet, body: data }), repo, digest);
      await expectBlob(repo, digest, data);
    });

    it('single POST ?digest= with the body completes (201) or falls back to a session (202)', async () => {
      const data = randomBlob(300);
      const digest = sha256(data);
      const res = await ctx.c.post(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { headers: octet, body: data });
      if (res.status === 202) {
        // Distribution 2.8 ignores the body; the spec allows it. Finish normally.
        const location = expectInProgress(res, 0);
        expectCreated(await ctx.c.put(withQuery(location, { digest }), { headers: octet, body: data }), repo, digest);
      } else {
        expectCreated(res, repo, digest);
      }
      await expectBlob(repo, digest, data);
    });

    berthOnly('single POST ?digest= with the body → 201 in one request', async () => {
      const data = randomBlob(301);
      const digest = sha256(data);
      const res = await ctx.c.post(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { headers: octet, body: data });
      expectCreated(res, repo, digest);
      await expectBlob(repo, digest, data);
    });

    berthOnly('single POST ?digest= whose body does not match → 400 DIGEST_INVALID, nothing stored', async () => {
      const data = randomBlob(302);
      const claimed = sha256(randomBlob(302));
      const staging = () => readdir(join(ctx.registry.dataDir, 'storage', 'uploads')).catch(() => []);
      const before = await staging();
      const res = await ctx.c.post(`/v2/${repo}/blobs/uploads/?digest=${claimed}`, { headers: octet, body: data });
      expectError(res, 400, 'DIGEST_INVALID');
      await expectNoBlob(repo, claimed);
      await expectNoBlob(repo, sha256(data));
      // No staging file is left behind either.
      expect(await staging()).toEqual(before);
    });

    it('single POST ?digest= without a body opens a normal session (202)', async () => {
      const data = randomBlob(303);
      const digest = sha256(data);
      const location = expectInProgress(await ctx.c.post(`/v2/${repo}/blobs/uploads/?digest=${digest}`), 0);
      expectCreated(await ctx.c.put(withQuery(location, { digest }), { headers: octet, body: data }), repo, digest);
    });

    it('PUT with a digest that does not match → 400 DIGEST_INVALID and nothing is visible', async () => {
      const data = randomBlob(500);
      const claimed = sha256(randomBlob(500));
      const location = await ctx.c.startUpload(repo);
      expectError(await ctx.c.put(withQuery(location, { digest: claimed }), { headers: octet, body: data }), 400, 'DIGEST_INVALID');
      await expectNoBlob(repo, claimed);
      await expectNoBlob(repo, sha256(data));
    });

    it('PUT without ?digest → 400 DIGEST_INVALID', async () => {
      const location = await ctx.c.startUpload(repo);
      expectError(await ctx.c.put(location, { headers: octet, body: randomBlob(10) }), 400, 'DIGEST_INVALID');
    });

    it.each(['sha256:xyz', 'md5:d41d8cd98f00b204e9800998ecf8427e'])('PUT with malformed digest %s → 400 DIGEST_INVALID', async (bad) => {
      const location = await ctx.c.startUpload(repo);
      expectError(await ctx.c.put(withQuery(location, { digest: bad }), { headers: octet, body: randomBlob(10) }), 400, 'DIGEST_INVALID');
    });
  });

  describe('chunked and streamed uploads', () => {
    it('PATCH chunks with Content-Range in order → 202 Range 0-<last>, then PUT with the last chunk → 201', async () => {
      const data = randomBlob(100);
      const digest = sha256(data);
      const start = await ctx.c.post(`/v2/${repo}/blobs/uploads/`);
      let location = expectInProgress(start, 0);
      const uuid = start.headers.get('docker-upload-uuid');

      const r1 = await ctx.c.patch(location, {
        headers: { ...octet, 'Content-Range': '0-39' },
        body: data.subarray(0, 40),
      });
      location = expectInProgress(r1, 40);
      expect(r1.headers.get('docker-upload-uuid')).toBe(uuid);

      const r2 = await ctx.c.patch(location, {
        headers: { ...octet, 'Content-Range': '40-79' },
        body: data.subarray(40, 80),
      });
      location = expectInProgress(r2, 80);

      const status = await ctx.c.get(location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe('0-79');
      expect(status.headers.get('docker-upload-uuid')).toBe(uuid);

      const done = await ctx.c.put(withQuery(location, { digest }), { headers: octet, body: data.subarray(80) });
      expectCreated(done, repo, digest);
      await expectBlob(repo, digest, data);
    });

    berthOnly('PATCH whose Content-Range does not start at the received size → 416; the session stays usable', async () => {
      const data = randomBlob(100);
      const digest = sha256(data);
      let location = await ctx.c.startUpload(repo);
      location = expectInProgress(
        await ctx.c.patch(location, { headers: { ...octet, 'Content-Range': '0-39' }, body: data.subarray(0, 40) }),
        40,
      );
      // A gap…
      const gap = await ctx.c.patch(location, { headers: { ...octet, 'Content-Range': '50-59' }, body: data.subarray(50, 60) });
      expectError(gap, 416, 'RANGE_INVALID', 'BLOB_UPLOAD_INVALID');
      // …and an overlap.
      const overlap = await ctx.c.patch(location, { headers: { ...octet, 'Content-Range': '0-9' }, body: data.subarray(0, 10) });
      expect(overlap.status).toBe(416);

      const status = await ctx.c.get(location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe('0-39');
      location = status.location ?? location;

      location = expectInProgress(
        await ctx.c.patch(location, { headers: { ...octet, 'Content-Range': '40-99' }, body: data.subarray(40) }),
        100,
      );
      expectCreated(await ctx.c.put(withQuery(location, { digest })), repo, digest);
      await expectBlob(repo, digest, data);
    });

    it('streamed PATCH without Content-Range appends (two in a row), then PUT without body → 201', async () => {
      const data = randomBlob(100);
      const digest = sha256(data);
      let location = await ctx.c.startUpload(repo);
      location = expectInProgress(await ctx.c.patch(location, { headers: octet, body: data.subarray(0, 40) }), 40);
      location = expectInProgress(await ctx.c.patch(location, { headers: octet, body: data.subarray(40) }), 100);
      expectCreated(await ctx.c.put(withQuery(location, { digest })), repo, digest);
      await expectBlob(repo, digest, data);
    });

    it('a multi-megabyte blob in 1 MiB chunks round-trips exactly', async () => {
      const data = randomBlob(3 * 1024 * 1024 + 123);
      const digest = sha256(data);
      const chunk = 1024 * 1024;
      let location = await ctx.c.startUpload(repo);
      let offset = 0;
      for (; offset + chunk <= data.length; offset += chunk) {
        const res = await ctx.c.patch(location, {
          headers: { ...octet, 'Content-Range': `${offset}-${offset + chunk - 1}` },
          body: data.subarray(offset, offset + chunk),
        });
        location = expectInProgress(res, offset + chunk);
      }
      expectCreated(await ctx.c.put(withQuery(location, { digest }), { headers: octet, body: data.subarray(offset) }), repo, digest);
      const head = await ctx.c.head(`/v2/${repo}/blobs/${digest}`);
      expect(head.headers.get('content-length')).toBe(String(data.length));
      await expectBlob(repo, digest, data);
    });

    it('the final PUT with a mismatching digest after chunks → 400 DIGEST_INVALID, nothing stored', async () => {
      const data = randomBlob(64);
      let location = await ctx.c.startUpload(repo);
      location = expectInProgress(await ctx.c.patch(location, { headers: octet, body: data }), 64);
      const claimed = sha256(randomBlob(64));
      expectError(await ctx.c.put(withQuery(location, { digest: claimed })), 400, 'DIGEST_INVALID');
      await expectNoBlob(repo, claimed);
      await expectNoBlob(repo, sha256(data));
    });
  });

  describe('session status, cancel and unknown sessions', () => {
    it('GET a fresh session → 204 with Range: 0-0 and Docker-Upload-UUID', async () => {
      const location = await ctx.c.startUpload(repo);
      const res = await ctx.c.get(location);
      expect(res.status).toBe(204);
      expect(res.headers.get('range')).toBe('0-0');
      expect(res.headers.get('docker-upload-uuid')).toBeTruthy();
      expect(res.body.length).toBe(0);
    });

    it('DELETE a session → 204, then GET/PATCH/PUT → 404 BLOB_UPLOAD_UNKNOWN', async () => {
      let location = await ctx.c.startUpload(repo);
      location = expectInProgress(await ctx.c.patch(location, { headers: octet, body: randomBlob(10) }), 10);
      const del = await ctx.c.delete(location);
      expect(del.status).toBe(204);
      expectError(await ctx.c.get(location), 404, 'BLOB_UPLOAD_UNKNOWN');
      expect((await ctx.c.patch(location, { headers: octet, body: randomBlob(10) })).status).toBe(404);
      expect((await ctx.c.put(withQuery(location, { digest: sha256('x') }), { body: 'x' })).status).toBe(404);
    });

    const badIds = [
      ['unknown', '3f1e2d4c-0000-4000-8000-000000000000'],
      ['malformed', 'not-a-uuid'],
    ];
    // Distribution decodes %2F and redirects (301) to the cleaned path: Berth only.
    const berthBadIds = [...badIds, ['traversal-like', '..%2F..%2Fetc']];

    it.each(badIds)('%s upload id → 404 on GET, PATCH, PUT and DELETE', async (_label, id) => {
      const base = `/v2/${repo}/blobs/uploads/${id}`;
      const results = [
        await ctx.c.get(base),
        await ctx.c.patch(base, { headers: octet, body: 'abc' }),
        await ctx.c.put(`${base}?digest=${sha256('abc')}`, { headers: octet, body: 'abc' }),
        await ctx.c.delete(base),
      ];
      for (const res of results) expect(res.status, `${res.status} ${res.text.slice(0, 200)}`).toBe(404);
      await expectNoBlob(repo, sha256('abc'));
    });

    for (const [label, id] of berthBadIds) {
      berthOnly(`${label} upload id → 404 BLOB_UPLOAD_UNKNOWN on GET, PATCH, PUT and DELETE`, async () => {
        const base = `/v2/${repo}/blobs/uploads/${id}`;
        expectError(await ctx.c.get(base), 404, 'BLOB_UPLOAD_UNKNOWN');
        expectError(await ctx.c.patch(base, { headers: octet, body: 'abc' }), 404, 'BLOB_UPLOAD_UNKNOWN');
        expectError(await ctx.c.put(`${base}?digest=${sha256('abc')}`, { headers: octet, body: 'abc' }), 404, 'BLOB_UPLOAD_UNKNOWN');
        expectError(await ctx.c.delete(base), 404, 'BLOB_UPLOAD_UNKNOWN');
      });
    }

    it('a session of one repository cannot be used through another repository', async () => {
      const location = await ctx.c.startUpload(repo);
      const u = new URL(location);
      const other = `${prefix}/other`;
      u.pathname = u.pathname.replace(`/v2/${repo}/`, `/v2/${other}/`);
      const data = randomBlob(20);
      const res = await ctx.c.put(withQuery(u.toString(), { digest: sha256(data) }), { headers: octet, body: data });
      expect(res.status).toBe(404);
      await expectNoBlob(other, sha256(data));
    });
  });

  describe('sha512 digests', () => {
    it('an upload finished with a sha512 digest → 201 and the blob is readable by that digest', async () => {
      const data = randomBlob(333);
      const digest = sha512(data);
      expect(digest).toMatch(/^sha512:[0-9a-f]{128}$/);
      const location = await ctx.c.startUpload(repo);
      const res = await ctx.c.put(withQuery(location, { digest }), { headers: octet, body: data });
      expect(res.status).toBe(201);
      const head = await ctx.c.head(`/v2/${repo}/blobs/${digest}`);
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(data.length));
      await expectBlob(repo, digest, data);
    });

    berthOnly('a sha512 upload answers with that digest in Location and Docker-Content-Digest', async () => {
      // Distribution 2.8 stores it but answers with the sha256 digest instead.
      const data = randomBlob(334);
      const digest = sha512(data);
      const location = await ctx.c.startUpload(repo);
      expectCreated(await ctx.c.put(withQuery(location, { digest }), { headers: octet, body: data }), repo, digest);
    });

    it('a mismatching sha512 digest → 400 DIGEST_INVALID', async () => {
      const data = randomBlob(335);
      const location = await ctx.c.startUpload(repo);
      expectError(await ctx.c.put(withQuery(location, { digest: sha512(randomBlob(335)) }), { headers: octet, body: data }), 400, 'DIGEST_INVALID');
    });
  });

  describe('cross-repository mount', () => {
    it('mount of a blob linked in `from` → 201 with Docker-Content-Digest and Location; readable in the target', async () => {
      const source = `${prefix}/mount-src`;
      const target = `${prefix}/mount-dst`;
      const data = randomBlob(700);
      const digest = await ctx.c.pushBlob(source, data);
      const res = await ctx.c.post(`/v2/${target}/blobs/uploads/?mount=${digest}&from=${source}`);
      expectCreated(res, target, digest);
      await expectBlob(target, digest, data);
    });

    it('mount of a blob that is not in `from` → 202 fallback session that works normally', async () => {
      const source = `${prefix}/mount-src2`;
      const target = `${prefix}/mount-dst2`;
      await ctx.c.pushBlob(source, randomBlob(10));
      const elsewhere = `${prefix}/mount-elsewhere`;
      const data = randomBlob(701);
      const digest = await ctx.c.pushBlob(elsewhere, data); // exists in the registry, not in `source`

      const res = await ctx.c.post(`/v2/${target}/blobs/uploads/?mount=${digest}&from=${source}`);
      const location = expectInProgress(res, 0);
      await expectNoBlob(target, digest);
      expectCreated(await ctx.c.put(withQuery(location, { digest }), { headers: octet, body: data }), target, digest);
      await expectBlob(target, digest, data);
    });

    it('mount from an unknown repository → 202 fallback session', async () => {
      const target = `${prefix}/mount-dst3`;
      const digest = await ctx.c.pushBlob(`${prefix}/mount-real`, randomBlob(702));
      const res = await ctx.c.post(`/v2/${target}/blobs/uploads/?mount=${digest}&from=${prefix}/does-not-exist`);
      expectInProgress(res, 0);
      await expectNoBlob(target, digest);
    });
  });

  describe('concurrency', () => {
    it('the same blob uploaded concurrently to 5 repositories → all 201 and all readable', async () => {
      const data = randomBlob(256 * 1024);
      const digest = sha256(data);
      const repos = Array.from({ length: 5 }, (_, i) => `${prefix}/concurrent-${i}`);
      const locations = await Promise.all(repos.map((r) => ctx.c.startUpload(r)));
      const results = await Promise.all(
        locations.map((loc) => ctx.c.put(withQuery(loc, { digest }), { headers: octet, body: data })),
      );
      results.forEach((res, i) => expectCreated(res, repos[i], digest));
      for (const r of repos) await expectBlob(r, digest, data);
    });

    it('the same blob finalised concurrently 5 times in one repository → all 201', async () => {
      const r = `${prefix}/concurrent-same`;
      const data = randomBlob(128 * 1024);
      const digest = sha256(data);
      const results = await Promise.all(Array.from({ length: 5 }, () => ctx.c.pushBlob(r, data)));
      expect(results).toEqual(Array(5).fill(digest));
      await expectBlob(r, digest, data);
    });
  });

  describe('interrupted requests', () => {
    berthOnly('a PATCH cut off mid-body counts nothing; retrying the chunk completes the blob', async () => {
      const r = `${prefix}/interrupted`;
      const data = randomBlob(3 * 1024 * 1024);
      const digest = sha256(data);
      let location = await ctx.c.startUpload(r);
      location = expectInProgress(
        await ctx.c.patch(location, { headers: { ...octet, 'Content-Range': `0-${1024 * 1024 - 1}` }, body: data.subarray(0, 1024 * 1024) }),
        1024 * 1024,
      );

      // Announce the second MiB, send half of it, then drop the connection.
      await cutOffPatch(location, 1024 * 1024, data.subarray(1024 * 1024, 1024 * 1024 + 512 * 1024));

      // Part of the cut-off body reached the staging file, but is dropped from it (seen where the
      // filesystem driver keeps it: counted by no quota, it must not wait for the purge); the session counts 1 MiB…
      if (onFilesystem) {
        const uuid = new URL(location).pathname.split('/').pop()!;
        const staged = await stat(join(ctx.registry.dataDir, 'storage', 'uploads', uuid, 'data'));
        expect(staged.size).toBe(1024 * 1024);
      }
      const status = await ctx.c.get(location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe(`0-${1024 * 1024 - 1}`);
      // …and the retried chunk replaces that tail.
      location = expectInProgress(
        await ctx.c.patch(location, {
          headers: { ...octet, 'Content-Range': `${1024 * 1024}-${2 * 1024 * 1024 - 1}` },
          body: data.subarray(1024 * 1024, 2 * 1024 * 1024),
        }),
        2 * 1024 * 1024,
      );
      expectCreated(await ctx.c.put(withQuery(location, { digest }), { headers: octet, body: data.subarray(2 * 1024 * 1024) }), r, digest);
      await expectBlob(r, digest, data);
    });

    berthOnly('a bodiless PUT after a PATCH cut off mid-body stores exactly the recorded bytes at the content address', async () => {
      const r = `${prefix}/trailing`;
      const data = randomBlob(1024 * 1024);
      const digest = sha256(data);
      const location = expectInProgress(await ctx.c.patch(await ctx.c.startUpload(r), { headers: octet, body: data }), data.length);
      await cutOffPatch(location, data.length, randomBlob(512 * 1024));
      const uuid = new URL(location).pathname.split('/').pop()!;
      if (onFilesystem) expect((await stat(join(ctx.registry.dataDir, 'storage', 'uploads', uuid, 'data'))).size).toBe(data.length);

      expectCreated(await ctx.c.put(withQuery(location, { digest })), r, digest);
      await expectBlob(r, digest, data);
      if (onFilesystem) {
        const hex = digest.slice('sha256:'.length);
        const stored = await readFile(join(ctx.registry.dataDir, 'storage', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'));
        expect(stored.length).toBe(data.length);
        expect(sha256(stored)).toBe(digest);
      }
    });
  });

  describe('restart', () => {
    berthOnly('an upload session continues after the registry restarts (same database and data dir)', async () => {
      const reg = await startRestartableRegistry();
      try {
        const r = `${prefix}/restart`;
        const data = randomBlob(4096);
        const digest = sha256(data);
        const c1 = new RegistryClient(reg.url);
        let location = await c1.startUpload(r);
        location = expectInProgress(
          await c1.patch(location, { headers: { ...octet, 'Content-Range': '0-2047' }, body: data.subarray(0, 2048) }),
          2048,
        );
        expect(c1.takeViolations()).toEqual([]);

        await reg.restart();
        const c2 = new RegistryClient(reg.url);
        const path = pathOf(location); // the port may have changed
        const status = await c2.get(path);
        expect(status.status).toBe(204);
        expect(status.headers.get('range')).toBe('0-2047');
        const next = await c2.patch(path, {
          headers: { ...octet, 'Content-Range': '2048-4095' },
          body: data.subarray(2048),
        });
        const last = pathOf(expectInProgress(next, 4096));
        const done = await c2.put(`${last}${last.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`);
        expect(done.status, done.text).toBe(201);
        expect(done.headers.get('docker-content-digest')).toBe(digest);
        const got = await c2.get(`/v2/${r}/blobs/${digest}`);
        expect(got.status).toBe(200);
        expect(got.body.equals(data)).toBe(true);
        expect(c2.takeViolations()).toEqual([]);
      } finally {
        await reg.close();
      }
    });

    berthOnly('a completion cut off between its move and its commit is finished by a retry with its digest, and refused for any other', async () => {
      const database = (ctx.registry as InProcessRegistry).database!;
      const r = `${prefix}/cut-completion`;
      // Another repository's blob of the same size, which this session never received.
      const other = randomBlob(4096);
      const otherDigest = await ctx.c.pushBlob(`${prefix}/elsewhere`, other);
      const data = randomBlob(4096);
      const digest = sha256(data);
      const location = expectInProgress(await ctx.c.patch(await ctx.c.startUpload(r), { headers: octet, body: data }), 4096);
      const uuid = new URL(location).pathname.split('/').pop()!;

      // The completion's commit fails once the bytes are at the blob's address, as a crash there leaves it.
      await database.query(`CREATE FUNCTION cut_off() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'cut off'; END $$`);
      await database.query(`CREATE TRIGGER cut_off BEFORE DELETE ON uploads FOR EACH ROW WHEN (OLD.id = '${uuid}') EXECUTE FUNCTION cut_off()`);
      try {
        expect((await ctx.c.put(withQuery(location, { digest }))).status).toBe(500);
      } finally {
        await database.query('DROP TRIGGER cut_off ON uploads');
        await database.query('DROP FUNCTION cut_off()');
      }
      expect((await ctx.c.head(`/v2/${r}/blobs/${digest}`)).status).toBe(404);

      const wrong = await ctx.c.put(withQuery(location, { digest: otherDigest }));
      expect(expectError(wrong, 400, 'DIGEST_INVALID').errors[0].message).toContain(digest);
      await expectNoBlob(r, otherDigest);

      expectCreated(await ctx.c.put(withQuery(location, { digest })), r, digest);
      await expectBlob(r, digest, data);
      expectError(await ctx.c.get(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    });
  });

  describe('a completion racing a repository delete', () => {
    berthOnly('waits for the delete, then answers 404 BLOB_UPLOAD_UNKNOWN (a single POST: NAME_UNKNOWN) and links nothing', async () => {
      const database = (ctx.registry as InProcessRegistry).database!;
      for (const single of [false, true]) {
        const r = `${prefix}/deleted-${single ? 'whole' : 'session'}`;
        const data = randomBlob(4096);
        const digest = sha256(data);
        const location = expectInProgress(await ctx.c.patch(await ctx.c.startUpload(r), { headers: octet, body: data }), 4096);
        const deleter = new pg.Client({ connectionString: database.url });
        await deleter.connect();
        try {
          // A repository delete in progress: its DELETE holds the row until it commits.
          await deleter.query('BEGIN');
          await deleter.query('SELECT 1 FROM repositories WHERE name = $1 FOR UPDATE', [r]);
          const [{ pid }] = (await deleter.query('SELECT pg_backend_pid() AS pid')).rows;
          const completion = single
            ? ctx.c.post(`/v2/${r}/blobs/uploads/?digest=${digest}`, { headers: octet, body: data })
            : ctx.c.put(withQuery(location, { digest }));
          // Wait (no clock) until the completion waits for that lock, asked on another connection.
          for (;;) {
            const [{ waiting }] = await database.query<{ waiting: number }>(
              `SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1`,
              [pid],
            );
            if (waiting > 0) break;
            await new Promise((resolve) => setImmediate(resolve));
          }
          await deleter.query('DELETE FROM repositories WHERE name = $1', [r]);
          await deleter.query('COMMIT');
          expectError(await completion, 404, single ? 'NAME_UNKNOWN' : 'BLOB_UPLOAD_UNKNOWN');
        } finally {
          await deleter.end();
        }
        expect(await database.query('SELECT repository_id FROM repository_blobs WHERE digest = $1', [digest])).toEqual([]);
        // Neither the session's staged bytes stay behind.
        if (onFilesystem && !single) {
          const uploads = await readdir(join(ctx.registry.dataDir, 'storage', 'uploads')).catch(() => []);
          expect(uploads).not.toContain(new URL(location).pathname.split('/').pop());
        }
      }
    });
  });
});

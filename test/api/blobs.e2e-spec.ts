import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  berthOnly,
  e2eAvailable,
  expectError,
  randomBlob,
  sha256,
  uniq,
  useRegistry,
} from '../support/http.js';

const available = await e2eAvailable('api/blobs');
/** The suite also runs on the s3 driver (TEST_STORAGE_DRIVER=s3); this check deletes a file of the filesystem driver. */
const onFilesystem = (process.env.TEST_STORAGE_DRIVER ?? 'filesystem') === 'filesystem';

describe.skipIf(!available)('blobs: HEAD, GET, ranges, DELETE', () => {
  const ctx = useRegistry();
  const prefix = uniq('blobs');
  const repo = `${prefix}/app`;
  const blob = randomBlob(1024);
  const digest = sha256(blob);

  beforeAll(async () => {
    expect(await ctx.c.pushBlob(repo, blob)).toBe(digest);
  });

  it('HEAD an existing blob: 200, Content-Length, Docker-Content-Digest, ETag, no body', async () => {
    const res = await ctx.c.head(`/v2/${repo}/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(blob.length));
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(res.headers.get('etag')).toContain(digest);
    expect(res.body.length).toBe(0);
  });

  it('GET an existing blob: exact bytes and headers', async () => {
    const res = await ctx.c.get(`/v2/${repo}/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.body.equals(blob)).toBe(true);
    expect(res.headers.get('content-length')).toBe(String(blob.length));
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(res.headers.get('etag')).toContain(digest);
  });

  it('GET carries a long Cache-Control (content-addressed data never changes)', async () => {
    const res = await ctx.c.get(`/v2/${repo}/blobs/${digest}`);
    const maxAge = /max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '');
    expect(maxAge, `Cache-Control: ${res.headers.get('cache-control')}`).not.toBeNull();
    expect(Number(maxAge![1])).toBeGreaterThanOrEqual(86_400);
  });

  it('GET with Range: bytes=10-19 → 206 with Content-Range and the slice', async () => {
    const res = await ctx.c.get(`/v2/${repo}/blobs/${digest}`, { headers: { Range: 'bytes=10-19' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 10-19/${blob.length}`);
    expect(res.headers.get('content-length')).toBe('10');
    expect(res.body.equals(blob.subarray(10, 20))).toBe(true);
  });

  it('GET with an open-ended Range (bytes=1000-) → 206 with the tail', async () => {
    const res = await ctx.c.get(`/v2/${repo}/blobs/${digest}`, { headers: { Range: 'bytes=1000-' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 1000-1023/${blob.length}`);
    expect(res.body.equals(blob.subarray(1000))).toBe(true);
  });

  it('GET with an unsatisfiable Range → 416 with Content-Range: bytes */<size> (RFC 9110 §15.5.17)', async () => {
    const res = await ctx.c.get(`/v2/${repo}/blobs/${digest}`, { headers: { Range: 'bytes=5000-6000' } });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${blob.length}`);
  });

  berthOnly('unsatisfiable Range → 416 RANGE_INVALID error body', async () => {
    // Distribution 2.8 answers with a plain-text body.
    const res = await ctx.c.get(`/v2/${repo}/blobs/${digest}`, { headers: { Range: 'bytes=5000-6000' } });
    expectError(res, 416, 'RANGE_INVALID');
  });

  it('unknown digest → 404 BLOB_UNKNOWN (GET) and 404 without body (HEAD)', async () => {
    const unknown = sha256(randomBlob(16));
    expectError(await ctx.c.get(`/v2/${repo}/blobs/${unknown}`), 404, 'BLOB_UNKNOWN');
    const head = await ctx.c.head(`/v2/${repo}/blobs/${unknown}`);
    expect(head.status).toBe(404);
    expect(head.body.length).toBe(0);
  });

  it('unknown digest in an unknown repository → 404', async () => {
    const res = await ctx.c.get(`/v2/${prefix}/never-pushed/blobs/${digest}`);
    expectError(res, 404, 'BLOB_UNKNOWN', 'NAME_UNKNOWN');
  });

  it.each([
    ['sha256:xyz'],
    ['md5:d41d8cd98f00b204e9800998ecf8427e'],
    [`sha256:${'a'.repeat(63)}`],
    [`sha256:${'a'.repeat(65)}`],
    [`sha512:${'a'.repeat(64)}`],
  ])('malformed digest %s → 400 DIGEST_INVALID', async (bad) => {
    expectError(await ctx.c.get(`/v2/${repo}/blobs/${bad}`), 400, 'DIGEST_INVALID');
    expect((await ctx.c.head(`/v2/${repo}/blobs/${bad}`)).status).toBe(400);
    expectError(await ctx.c.delete(`/v2/${repo}/blobs/${bad}`), 400, 'DIGEST_INVALID');
  });

  berthOnly('encoded path traversal in a digest never reaches storage (400 DIGEST_INVALID or 404)', async () => {
    for (const bad of ['sha256%3A..%2F..%2F..%2Fetc%2Fpasswd', 'sha256:..%2F..%2Fdata', '..%2F..%2F..%2Fetc%2Fpasswd']) {
      const res = await ctx.c.get(`/v2/${repo}/blobs/${bad}`);
      expect([400, 404], `${bad}: ${res.status} ${res.text.slice(0, 200)}`).toContain(res.status);
      if (res.status === 400) expect(res.json().errors[0].code).toBe('DIGEST_INVALID');
    }
  });

  it('a blob pushed to repository A is not visible in repository B', async () => {
    const a = `${prefix}/a`;
    const b = `${prefix}/b`;
    const data = randomBlob(64);
    const d = await ctx.c.pushBlob(a, data);
    await ctx.c.pushBlob(b, randomBlob(8)); // B exists, but does not link the blob
    expect((await ctx.c.head(`/v2/${a}/blobs/${d}`)).status).toBe(200);
    expect((await ctx.c.head(`/v2/${b}/blobs/${d}`)).status).toBe(404);
    expectError(await ctx.c.get(`/v2/${b}/blobs/${d}`), 404, 'BLOB_UNKNOWN');
  });

  it('DELETE a blob → 202, then 404 in that repository only', async () => {
    const one = `${prefix}/del-one`;
    const two = `${prefix}/del-two`;
    const data = randomBlob(128);
    const d = await ctx.c.pushBlob(one, data);
    await ctx.c.pushBlob(two, data);
    const del = await ctx.c.delete(`/v2/${one}/blobs/${d}`);
    expect(del.status).toBe(202);
    expect((await ctx.c.head(`/v2/${one}/blobs/${d}`)).status).toBe(404);
    expectError(await ctx.c.get(`/v2/${one}/blobs/${d}`), 404, 'BLOB_UNKNOWN');
    // Still linked in the other repository.
    const other = await ctx.c.get(`/v2/${two}/blobs/${d}`);
    expect(other.status).toBe(200);
    expect(other.body.equals(data)).toBe(true);
  });

  it('DELETE an unknown blob → 404 BLOB_UNKNOWN', async () => {
    expectError(await ctx.c.delete(`/v2/${repo}/blobs/${sha256(randomBlob(8))}`), 404, 'BLOB_UNKNOWN');
  });

  it('an empty blob can be pushed and read back', async () => {
    const empty = Buffer.alloc(0);
    const d = await ctx.c.pushBlob(repo, empty);
    expect(d).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const res = await ctx.c.get(`/v2/${repo}/blobs/${d}`);
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(0);
    expect(res.headers.get('docker-content-digest')).toBe(d);
  });

  (onFilesystem ? berthOnly : it.skip)('a blob lost from storage answers 404 BLOB_UNKNOWN, and pushing it again heals it', async () => {
    const data = randomBlob(2048);
    const d = await ctx.c.pushBlob(repo, data);
    const hex = d.slice('sha256:'.length);
    await rm(join(ctx.registry.dataDir, 'storage', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'));
    expectError(await ctx.c.get(`/v2/${repo}/blobs/${d}`), 404, 'BLOB_UNKNOWN');
    await ctx.c.pushBlob(repo, data);
    const res = await ctx.c.get(`/v2/${repo}/blobs/${d}`);
    expect(res.status).toBe(200);
    expect(res.body.equals(data)).toBe(true);
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { S3Driver } from '../../libs/storage/src/s3/s3.driver.js';
import { S3TestServer } from '../../libs/storage/src/s3/testing/s3-test-server.js';
import { startRestartableRegistry, type RestartableRegistry } from '../api/restartable-registry.js';
import { RegistryClient, buildImage, e2eAvailable, externalRegistry, randomBlob, sha256, uniq, withQuery, type Res } from '../support/http.js';
import { startRegistry, type InProcessRegistry, type TestRegistry } from '../support/registry.js';

const available = !externalRegistry && (await e2eAvailable('s3'));
const MiB = 1024 * 1024;

/** Pushes `blob` in PATCH chunks of `chunkSize` bytes, then the closing PUT. */
async function pushChunked(client: RegistryClient, repo: string, blob: Buffer, chunkSize: number): Promise<string> {
  let location = await client.startUpload(repo);
  for (let start = 0; start < blob.length; start += chunkSize) {
    const chunk = blob.subarray(start, start + chunkSize);
    const res = await client.patch(location, {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${start + chunk.length - 1}` },
      body: chunk,
    });
    expect(res.status, res.text).toBe(202);
    location = res.location!;
  }
  const digest = sha256(blob);
  const res = await client.put(withQuery(location, { digest }));
  expect(res.status, res.text).toBe(201);
  return digest;
}

/** Follows a redirect the way a client does: no registry credentials for the object store. */
async function follow(res: Res, headers: Record<string, string> = {}): Promise<Response> {
  expect(res.status, res.text).toBe(307);
  return fetch(res.headers.get('location')!, { headers });
}

describe.skipIf(!available)('S3 storage: blobs redirect to the bucket', () => {
  let s3: S3TestServer;
  let registry: TestRegistry;
  let client: RegistryClient;

  beforeAll(async () => {
    s3 = await S3TestServer.start();
    registry = await startRegistry({ env: s3.env('registry') });
    client = new RegistryClient(registry.url, registry.admin);
  });

  afterAll(async () => {
    await registry?.close();
    await s3?.stop();
  });

  afterEach(() => {
    expect(client.takeViolations()).toEqual([]);
  });

  it('answers a blob GET with 307 to a presigned URL, keeping Docker-Content-Digest; the URL gives the bytes', async () => {
    const repo = `${uniq('s3')}/app`;
    const blob = randomBlob(3000);
    const digest = await client.pushBlob(repo, blob);

    const res = await client.get(`/v2/${repo}/blobs/${digest}`);
    expect(res.status).toBe(307);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(res.headers.get('content-length')).toBe('0');
    const location = new URL(res.headers.get('location')!);
    expect(location.origin).toBe(s3.endpoint);
    expect(location.pathname).toBe(`/${s3.bucket}/registry/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`);
    expect(location.searchParams.get('X-Amz-Expires')).toBe('600');

    const fetched = await follow(res);
    expect(fetched.status).toBe(200);
    expect(Buffer.from(await fetched.arrayBuffer()).equals(blob)).toBe(true);

    const ranged = await follow(res, { Range: 'bytes=100-199' });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(blob.subarray(100, 200))).toBe(true);
  });

  it('answers HEAD itself: the size is known without the object store', async () => {
    const repo = `${uniq('s3')}/app`;
    const blob = randomBlob(1234);
    const digest = await client.pushBlob(repo, blob);
    const res = await client.head(`/v2/${repo}/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('1234');
    expect(res.headers.get('docker-content-digest')).toBe(digest);
  });

  it('assembles a chunked push of small PATCHes (1 MiB each, 12 MiB in all) into one object', async () => {
    const repo = `${uniq('s3')}/app`;
    const blob = randomBlob(12 * MiB + 123);
    const digest = await pushChunked(client, repo, blob, MiB);
    const fetched = await follow(await client.get(`/v2/${repo}/blobs/${digest}`));
    expect(Buffer.from(await fetched.arrayBuffer()).equals(blob)).toBe(true);
  });

  it('pushes and pulls an image: manifests from Berth, blobs from the bucket', async () => {
    const repo = `${uniq('s3')}/app`;
    const image = buildImage();
    await client.pushImage(repo, 'v1', image);
    const manifest = await client.get(`/v2/${repo}/manifests/v1`, { headers: { Accept: image.mediaType } });
    expect(manifest.status).toBe(200);
    expect(manifest.body.equals(image.manifestBytes)).toBe(true);
    for (const blob of image.blobs) {
      const fetched = await follow(await client.get(`/v2/${repo}/blobs/${sha256(blob)}`));
      expect(Buffer.from(await fetched.arrayBuffer()).equals(blob)).toBe(true);
    }
  });

  it('refuses a wrong digest and leaves nothing of the upload in the bucket', async () => {
    const repo = `${uniq('s3')}/app`;
    const location = await client.startUpload(repo);
    const res = await client.put(withQuery(location, { digest: sha256('other') }), { body: randomBlob(100) });
    expect(res.status).toBe(400);
    const driver = new S3Driver(s3.settings('registry/'));
    expect(await driver.list('uploads')).toEqual([]);
  });
});

describe.skipIf(!available)('S3 storage: STORAGE_REDIRECT=false', () => {
  let s3: S3TestServer;
  let registry: TestRegistry;
  let client: RegistryClient;

  beforeAll(async () => {
    s3 = await S3TestServer.start();
    registry = await startRegistry({ env: { ...s3.env(), STORAGE_REDIRECT: 'false' } });
    client = new RegistryClient(registry.url, registry.admin);
  });

  afterAll(async () => {
    await registry?.close();
    await s3?.stop();
  });

  it('refuses up front, with 413 SIZE_INVALID, a chunk that would take an upload past 10,000 parts; the session stays', async () => {
    const database = (registry as InProcessRegistry).database!;
    const location = await client.startUpload(`${uniq('s3')}/huge`);
    const uuid = new URL(location).pathname.split('/').pop()!;
    const max = 10_000 * 10 * MiB;
    // As if all but 5 bytes of the largest file had arrived: the refusal comes before any staged byte is read.
    await database.query('UPDATE uploads SET size = $2 WHERE id = $1', [uuid, max - 5]);
    const res = await client.patch(location, {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${max - 5}-${max}` },
      body: randomBlob(6),
    });
    expect(res.status, res.text).toBe(413);
    const error = (JSON.parse(res.text) as { errors: { code: string; message: string }[] }).errors[0];
    expect(error).toMatchObject({ code: 'SIZE_INVALID', message: 'the storage holds at most 97.7 GiB per blob: this chunk would take the upload past it' });
    const status = await client.get(location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe(`0-${max - 6}`);
  });

  it('streams blob bytes itself, ranges included', async () => {
    const repo = `${uniq('s3')}/app`;
    const blob = randomBlob(6 * MiB);
    const digest = await pushChunked(client, repo, blob, 2 * MiB);
    const res = await client.get(`/v2/${repo}/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(res.body.equals(blob)).toBe(true);
    const ranged = await client.get(`/v2/${repo}/blobs/${digest}`, { headers: { Range: 'bytes=5242870-5242889' } });
    expect(ranged.status).toBe(206);
    expect(ranged.body.equals(blob.subarray(5242870, 5242890))).toBe(true);
    expect(client.takeViolations()).toEqual([]);
  });
});

describe.skipIf(!available)('S3 storage: an upload continues after a restart', () => {
  let s3: S3TestServer;
  let registry: RestartableRegistry;

  beforeAll(async () => {
    s3 = await S3TestServer.start();
    registry = await startRestartableRegistry({ env: s3.env() });
  });

  afterAll(async () => {
    await registry?.close();
    await s3?.stop();
  });

  it('finishes a chunked session on the restarted process, re-reading the staged bytes for the digest', async () => {
    const repo = `${uniq('s3')}/app`;
    const blob = randomBlob(7 * MiB + 5);
    let client = new RegistryClient(registry.url, registry.admin);
    const location = await client.startUpload(repo);
    const first = await client.patch(location, {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${4 * MiB - 1}` },
      body: blob.subarray(0, 4 * MiB),
    });
    expect(first.status).toBe(202);
    const path = new URL(first.location!).pathname + new URL(first.location!).search;

    await registry.restart();
    client = new RegistryClient(registry.url, registry.admin);
    const status = await client.get(path);
    expect(status.headers.get('range')).toBe(`0-${4 * MiB - 1}`);
    const second = await client.patch(path, {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${4 * MiB}-${blob.length - 1}` },
      body: blob.subarray(4 * MiB),
    });
    expect(second.status, second.text).toBe(202);
    const digest = sha256(blob);
    const done = await client.put(withQuery(client.resolve(second.location!), { digest }));
    expect(done.status, done.text).toBe(201);
    const fetched = await follow(await client.get(`/v2/${repo}/blobs/${digest}`));
    expect(Buffer.from(await fetched.arrayBuffer()).equals(blob)).toBe(true);
  });
});

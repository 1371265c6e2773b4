/**
 * Every error is the route's JSON, never Express's HTML page: oversized manifests sent
 * chunked, storage failures, malformed percent-encoding and malformed JSON. No stack
 * trace or file path ever reaches a client.
 *
 * Berth only: it breaks its own registry's storage and checks Berth's error bodies.
 */
import http from 'node:http';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, buildImage, e2eAvailable, expectError, externalRegistry, randomBlob, RegistryClient, sha256, uniq, withQuery } from '../support/http.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

const available = !externalRegistry && (await e2eAvailable('api/error-responses'));

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

/** Sends `size` bytes with Transfer-Encoding: chunked (no Content-Length), 64 KiB at a time. */
function sendChunked(url: string, method: string, headers: Record<string, string>, size: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? '', text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** Neither a stack frame nor an absolute path of this machine. */
function expectNothingInternal(text: string, dataDir: string): void {
  expect(text).not.toMatch(/\n\s+at |<html|<pre>/i);
  expect(text).not.toContain(dataDir);
  expect(text).not.toContain(process.cwd());
  expect(text).not.toMatch(/\/(tmp|work|home|usr)\//);
}

describe.skipIf(!available)('error responses', () => {
  let registry: TestRegistry;
  let c: RegistryClient;

  beforeAll(async () => {
    // The filesystem driver whatever TEST_STORAGE_DRIVER says: the storage tests reach into its root.
    registry = await startRegistry({ storageDriver: 'filesystem', env: { MANIFEST_MAX_BYTES: String(64 * 1024) } });
    c = new RegistryClient(registry.url, registry.admin!);
  });

  afterAll(async () => {
    await registry?.close();
  });

  it('a chunked manifest PUT (no Content-Length) over MANIFEST_MAX_BYTES → 413 JSON, nothing stored', async () => {
    const repo = `${uniq('big')}/app`;
    const image = await c.pushImage(repo, 'small');
    const res = await sendChunked(
      `${registry.url}/v2/${repo}/manifests/too-big`,
      'PUT',
      { Authorization: basicAuth(registry.admin!), 'Content-Type': image.mediaType },
      1024 * 1024,
    );
    expect(res.status, res.text.slice(0, 300)).toBe(413);
    expect(res.contentType).toMatch(/application\/json/);
    expect(JSON.parse(res.text).errors[0].code).toBe('SIZE_INVALID');
    expectNothingInternal(res.text, registry.dataDir);
    expect((await c.head(`/v2/${repo}/manifests/too-big`)).status).toBe(404);
    // The connection and the registry carry on.
    expect((await c.get(`/v2/${repo}/manifests/small`)).status).toBe(200);
  });

  it('a chunked manifest PUT under the limit is stored', async () => {
    const repo = `${uniq('chunked')}/app`;
    const image = buildImage();
    for (const blob of image.blobs) await c.pushBlob(repo, blob);
    const res = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${registry.url}/v2/${repo}/manifests/v1`, {
        method: 'PUT',
        headers: { Authorization: basicAuth(registry.admin!), 'Content-Type': image.mediaType },
      });
      req.on('response', (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(image.manifestBytes.subarray(0, 10));
      req.end(image.manifestBytes.subarray(10));
    });
    expect(res).toBe(201);
  });

  it('malformed percent-encoding in a /v2 path → 400 JSON NAME_INVALID', async () => {
    const res = await c.get('/v2/%E0%A4%A/tags/list');
    expectError(res, 400, 'NAME_INVALID');
    expectNothingInternal(res.text, registry.dataDir);
  });

  it('malformed percent-encoding in an /api/v1 path → 400 JSON', async () => {
    const res = await fetch(`${registry.url}/api/v1/namespaces/%E0%A4%A`, { headers: { Authorization: basicAuth(registry.admin!) } });
    const text = await res.text();
    expect(res.status, text).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(JSON.parse(text).message).toMatch(/encod/i);
    expectNothingInternal(text, registry.dataDir);
  });

  it('malformed JSON on /api/v1 → 400 JSON', async () => {
    const res = await fetch(`${registry.url}/api/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"username":' });
    const text = await res.text();
    expect(res.status, text).toBe(400);
    expect(JSON.parse(text).message).toMatch(/JSON/);
    expectNothingInternal(text, registry.dataDir);
  });

  it('an oversized JSON body on /api/v1 → 413 JSON', async () => {
    const res = await fetch(`${registry.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'x'.repeat(2 * 1024 * 1024), password: 'y' }),
    });
    const text = await res.text();
    expect(res.status, text).toBe(413);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expectNothingInternal(text, registry.dataDir);
  });

  it('a full disk mid-upload (ENOSPC: the staging file is /dev/full) → 5xx JSON without a path or a stack', async () => {
    const repo = `${uniq('full')}/app`;
    const location = await c.startUpload(repo);
    const uuid = new URL(location).pathname.split('/').pop()!;
    const staging = join(registry.dataDir, 'storage', 'uploads', uuid);
    await mkdir(staging, { recursive: true });
    await symlink('/dev/full', join(staging, 'data'));
    const data = randomBlob(1024 * 1024);
    const res = await sendChunked(withQuery(location, { digest: sha256(data) }), 'PUT', { Authorization: basicAuth(registry.admin!), 'Content-Type': 'application/octet-stream' }, data.length);
    expect(res.status, res.text.slice(0, 300)).toBeGreaterThanOrEqual(500);
    expect(res.contentType).toMatch(/application\/json/);
    expect(typeof JSON.parse(res.text).errors[0].code).toBe('string');
    expectNothingInternal(res.text, registry.dataDir);
    expect((await c.head(`/v2/${repo}/blobs/${sha256(data)}`)).status).toBe(404);
  });

  describe('storage failures', () => {
    // Its own registry: its storage root is replaced by a file, so every write fails (ENOTDIR).
    let broken: TestRegistry;
    let b: RegistryClient;

    beforeAll(async () => {
      broken = await startRegistry({ storageDriver: 'filesystem' });
      b = new RegistryClient(broken.url, broken.admin!);
      const root = join(broken.dataDir, 'storage');
      await rm(root, { recursive: true, force: true });
      await writeFile(root, 'not a directory');
    });

    afterAll(async () => {
      await broken?.close();
    });

    it('a blob PUT onto failing storage → 5xx JSON without a path or a stack', async () => {
      const repo = `${uniq('disk')}/app`;
      const location = await b.startUpload(repo);
      const data = randomBlob(256 * 1024);
      const res = await b.put(withQuery(location, { digest: sha256(data) }), { headers: { 'Content-Type': 'application/octet-stream' }, body: data });
      expect(res.status, res.text.slice(0, 300)).toBeGreaterThanOrEqual(500);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      expect(typeof res.json().errors[0].code).toBe('string');
      expectNothingInternal(res.text, broken.dataDir);
      expect((await b.head(`/v2/${repo}/blobs/${sha256(data)}`)).status).toBe(404);
    });

    it('a chunked blob PATCH and a whole POST ?digest= onto failing storage → 5xx JSON', async () => {
      const repo = `${uniq('disk')}/app`;
      const location = await b.startUpload(repo);
      const patched = await sendChunked(location, 'PATCH', { Authorization: basicAuth(broken.admin!), 'Content-Type': 'application/octet-stream' }, 512 * 1024);
      expect(patched.status, patched.text.slice(0, 300)).toBeGreaterThanOrEqual(500);
      expect(patched.contentType).toMatch(/application\/json/);
      expectNothingInternal(patched.text, broken.dataDir);
      const data = randomBlob(1024);
      const whole = await b.post(`/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { headers: { 'Content-Type': 'application/octet-stream' }, body: data });
      expect(whole.status, whole.text.slice(0, 300)).toBeGreaterThanOrEqual(500);
      expectNothingInternal(whole.text, broken.dataDir);
    });
  });

  afterAll(() => {
    expect(c?.takeViolations() ?? [], 'protocol violations').toEqual([]);
  });
});

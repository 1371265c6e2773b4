/**
 * The pull-through cache over HTTP: proxy namespaces over a real Distribution 2.8
 * upstream, seen through a counting (and fault-playing) server in front of it, and over a
 * second Berth with Docker token auth. Real Postgres, real storage, real upstreams.
 */
import http from 'node:http';
import { RegistryClient, buildImage, buildIndex, expectError, manifestBytes, randomBlob, sha256, uniq, type TestImage } from '../support/http.js';
import type { InProcessRegistry } from '../support/registry.js';
import { distributionAvailable, startUpstreamRegistry, type UpstreamRegistry } from '../support/upstream-registry.js';
import { CountingUpstream, adminCall, createProxyNamespace, startCachingRegistry } from './support.js';

const ci = process.env.CI === 'true';
const available = distributionAvailable || ci;
if (!distributionAvailable && !ci) console.warn('[proxy] SKIPPED: /usr/bin/docker-registry is not installed (apt-get install docker-registry)');

describe.runIf(available)('pull-through cache', () => {
  let upstream: UpstreamRegistry;
  let counting: CountingUpstream;
  let berth: InProcessRegistry;
  let c: RegistryClient;
  let up: RegistryClient;

  beforeAll(async () => {
    upstream = await startUpstreamRegistry();
    counting = await CountingUpstream.start(upstream.url);
    berth = await startCachingRegistry({ MIRROR_DEFAULT_NAMESPACE: 'hub' });
    c = new RegistryClient(berth.url);
    up = new RegistryClient(upstream.url, null);
    await createProxyNamespace(berth, 'hub', { url: counting.url, tagTtlSeconds: 3600 });
    await createProxyNamespace(berth, 'short', { url: counting.url, tagTtlSeconds: 1 });
  });

  afterAll(async () => {
    await berth?.close();
    await counting?.close();
    await upstream?.close();
  });

  afterEach(() => {
    counting.mode = 'pass';
    counting.release();
  });

  async function pushUpstream(repo: string, tag: string, image: TestImage = buildImage({ layerSize: 200_000 })): Promise<TestImage> {
    return up.pushImage(repo, tag, image);
  }

  async function pullImage(name: string, ref: string, image: TestImage): Promise<void> {
    const m = await c.request('GET', `/v2/${name}/manifests/${ref}`, { headers: { accept: image.mediaType } });
    expect(m.status, m.body.toString()).toBe(200);
    expect(m.headers.get('docker-content-digest')).toBe(image.digest);
    expect(m.body.equals(image.manifestBytes)).toBe(true);
    for (const blob of image.blobs) {
      const b = await c.request('GET', `/v2/${name}/blobs/${sha256(blob)}`);
      expect(b.status).toBe(200);
      expect(b.body.equals(blob)).toBe(true);
    }
  }

  async function metric(line: string): Promise<number> {
    const text = await (await fetch(`${berth.url}/metrics`)).text();
    const found = text.split('\n').find((l) => l.startsWith(line));
    return found ? Number(found.split(' ').pop()) : 0;
  }

  test('a proxy namespace pulls an image from upstream once, then serves it from the cache', async () => {
    const repo = `library/${uniq('app')}`;
    const image = await pushUpstream(repo, '3.20');
    counting.reset();
    await pullImage(`hub/${repo}`, '3.20', image);
    expect(counting.count(`GET /v2/${repo}/manifests/3.20`)).toBe(1);
    for (const blob of image.blobs) expect(counting.count(`GET /v2/${repo}/blobs/${sha256(blob)}`)).toBe(1);
    await pullImage(`hub/${repo}`, '3.20', image);
    await pullImage(`hub/${repo}`, image.digest, image);
    expect(counting.count('/v2/')).toBe(1 + image.blobs.length);
    // A real tag at once: listed, counted in usage.
    const tags = await c.request('GET', `/v2/hub/${repo}/tags/list`);
    expect(JSON.parse(tags.body.toString())).toEqual({ name: `hub/${repo}`, tags: ['3.20'] });
    const usage = await adminCall(berth, 'GET', '/namespaces/hub/usage');
    expect(usage.status).toBe(200);
    expect(usage.body.repositories).toBeGreaterThanOrEqual(1);
  });

  test('pathPrefix prefixes the upstream name (the Docker Hub library/ rule is in the unit spec)', async () => {
    const repo = uniq('team');
    const image = await pushUpstream(`acme/${repo}`, 'v1');
    await createProxyNamespace(berth, uniq('pre'), { url: counting.url, pathPrefix: 'acme' }).then(async (ns) => {
      const m = await c.request('GET', `/v2/${ns.name}/${repo}/manifests/v1`, { headers: { accept: image.mediaType } });
      expect(m.status).toBe(200);
      expect(m.headers.get('docker-content-digest')).toBe(image.digest);
    });
  });

  test('by digest: served from the cache without asking upstream, even when it is down', async () => {
    const repo = `library/${uniq('dig')}`;
    const image = await pushUpstream(repo, 'v1');
    const first = await c.request('GET', `/v2/hub/${repo}/manifests/${image.digest}`, { headers: { accept: image.mediaType } });
    expect(first.status).toBe(200);
    counting.reset();
    counting.mode = 'refuse';
    const again = await c.request('GET', `/v2/hub/${repo}/manifests/${image.digest}`, { headers: { accept: image.mediaType } });
    expect(again.status).toBe(200);
    expect(again.body.equals(image.manifestBytes)).toBe(true);
    expect(counting.count('/v2/')).toBe(0);
  });

  test('a tag moved upstream is seen after the TTL and not before; an unmoved tag costs one HEAD', async () => {
    const name = uniq('ttl');
    await createProxyNamespace(berth, name, { url: counting.url, tagTtlSeconds: 3600 });
    const repo = `library/${uniq('ttl')}`;
    const first = await pushUpstream(repo, 'latest');
    await pullImage(`${name}/${repo}`, 'latest', first);
    const second = await pushUpstream(repo, 'latest');
    counting.reset();
    const within = await c.request('GET', `/v2/${name}/${repo}/manifests/latest`, { headers: { accept: first.mediaType } });
    expect(within.headers.get('docker-content-digest')).toBe(first.digest);
    expect(counting.count('/v2/')).toBe(0);
    // The TTL over (0: every pull asks): one HEAD sees the move, one GET fetches it.
    expect((await adminCall(berth, 'PATCH', `/namespaces/${name}`, { upstream: { tagTtlSeconds: 0 } })).status).toBe(200);
    const after = await c.request('GET', `/v2/${name}/${repo}/manifests/latest`, { headers: { accept: second.mediaType } });
    expect(after.headers.get('docker-content-digest')).toBe(second.digest);
    expect(counting.count(`HEAD /v2/${repo}/manifests/latest`)).toBe(1);
    expect(counting.count(`GET /v2/${repo}/manifests/latest`)).toBe(1);
    counting.reset();
    const unmoved = await c.request('GET', `/v2/${name}/${repo}/manifests/latest`, { headers: { accept: second.mediaType } });
    expect(unmoved.headers.get('docker-content-digest')).toBe(second.digest);
    expect(counting.count(`HEAD /v2/${repo}/manifests/latest`)).toBe(1);
    expect(counting.count(`GET /v2/${repo}/manifests/latest`)).toBe(0);
    // The old manifest stays reachable by digest, without asking upstream.
    const old = await c.request('GET', `/v2/${name}/${repo}/manifests/${first.digest}`, { headers: { accept: first.mediaType } });
    expect(old.status).toBe(200);
    expect(counting.count(`/manifests/${first.digest}`)).toBe(0);
  });

  test('a layer shared by two images is downloaded once: the second repository links it after a HEAD upstream', async () => {
    const layer = randomBlob(500_000);
    const one = `library/${uniq('one')}`;
    const two = `library/${uniq('two')}`;
    await up.pushBlob(one, layer);
    await up.pushBlob(two, layer);
    const digest = sha256(layer);
    expect((await c.request('GET', `/v2/hub/${one}/blobs/${digest}`)).body.equals(layer)).toBe(true);
    await eventually(async () => (await linked(`hub/${one}`, digest)));
    counting.reset();
    expect((await c.request('GET', `/v2/hub/${two}/blobs/${digest}`)).body.equals(layer)).toBe(true);
    expect(counting.count(`GET /v2/${two}/blobs/${digest}`)).toBe(0);
    expect(counting.count(`HEAD /v2/${two}/blobs/${digest}`)).toBe(1);
    await eventually(() => linked(`hub/${two}`, digest));
    // A repository upstream does not have it is told so, and gets no link.
    const three = `library/${uniq('three')}`;
    await pushUpstream(three, 'v1');
    expectError(await c.request('GET', `/v2/hub/${three}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    expect(await linked(`hub/${three}`, digest)).toBe(false);
  });

  test('an index is cached, and its child manifests are fetched when asked for', async () => {
    const repo = `library/${uniq('multi')}`;
    const amd = await pushUpstream(repo, 'amd');
    const arm = await pushUpstream(repo, 'arm');
    const index = buildIndex([amd.descriptor, arm.descriptor]);
    const put = await up.request('PUT', `/v2/${repo}/manifests/multi`, { body: index.manifestBytes, headers: { 'content-type': index.mediaType } });
    expect(put.status).toBe(201);
    const got = await c.request('GET', `/v2/hub/${repo}/manifests/multi`, { headers: { accept: index.mediaType } });
    expect(got.status).toBe(200);
    expect(got.headers.get('docker-content-digest')).toBe(index.digest);
    counting.reset();
    await pullImage(`hub/${repo}`, arm.digest, arm);
    expect(counting.count(`GET /v2/${repo}/manifests/${arm.digest}`)).toBe(1);
  });

  test('the first pull streams the blob while upstream is still sending it; it is cached once verified', async () => {
    const repo = `library/${uniq('slow')}`;
    const layer = randomBlob(4 * 1024 * 1024);
    await up.pushBlob(repo, layer);
    counting.holdBlobsAfter = 1024 * 1024;
    const digest = sha256(layer);
    const received = await new Promise<{ early: number; all: Buffer }>((resolve, reject) => {
      const req = http.get(`${berth.url}/v2/hub/${repo}/blobs/${digest}`, { headers: { authorization: basic() } }, (res) => {
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-length']).toBe(String(layer.length));
        const chunks: Buffer[] = [];
        let early = 0;
        let timer: NodeJS.Timeout | undefined;
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          early += chunk.length;
          // Bytes arrive while upstream holds the rest back; then let it go on.
          timer ??= setTimeout(() => {
            const seen = early;
            counting.release();
            resolveEarly(seen);
          }, 300);
        });
        let resolveEarly: (n: number) => void = () => undefined;
        const earlySeen = new Promise<number>((r) => (resolveEarly = r));
        res.on('end', async () => resolve({ early: await earlySeen, all: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    expect(received.early).toBeGreaterThan(0);
    expect(received.early).toBeLessThan(layer.length);
    expect(received.all.equals(layer)).toBe(true);
    await eventually(() => linked(`hub/${repo}`, digest));
    counting.reset();
    const cached = await c.request('GET', `/v2/hub/${repo}/blobs/${digest}`);
    expect(cached.body.equals(layer)).toBe(true);
    expect(counting.count('/blobs/')).toBe(0);
  });

  test('an upstream that sends wrong bytes for a digest: the client gets an error and nothing is cached', async () => {
    const repo = `library/${uniq('bad')}`;
    const blob = randomBlob(300_000);
    await up.pushBlob(repo, blob);
    const digest = sha256(blob);
    counting.mode = 'corrupt-blobs';
    const outcome = await new Promise<{ status?: number; bytes: number; error?: string; complete: boolean }>((resolve) => {
      http
        .get(`${berth.url}/v2/hub/${repo}/blobs/${digest}`, { headers: { authorization: basic() } }, (res) => {
          let bytes = 0;
          res.on('data', (chunk: Buffer) => (bytes += chunk.length));
          res.on('end', () => resolve({ status: res.statusCode, bytes, complete: res.complete }));
          res.on('error', (err) => resolve({ status: res.statusCode, bytes, error: err.message, complete: false }));
          res.on('aborted', () => resolve({ status: res.statusCode, bytes, error: 'aborted', complete: false }));
        })
        .on('error', (err) => resolve({ bytes: 0, error: err.message, complete: false }));
    });
    // The last byte is held until the digest matched: the client never has the whole (wrong) blob.
    expect(outcome.complete && outcome.bytes === blob.length).toBe(false);
    counting.mode = 'pass';
    await eventually(async () => (await c.request('GET', `/v2/hub/${repo}/blobs/${digest}`)).body.equals(blob));
    expect(counting.count(`GET /v2/${repo}/blobs/${digest}`)).toBe(2);
  });

  test('16 concurrent cold pulls of one image make one upstream request per manifest and blob', async () => {
    const repo = `library/${uniq('herd')}`;
    const image = await pushUpstream(repo, 'v1', buildImage({ layers: 3, layerSize: 1024 * 1024 }));
    counting.reset();
    await Promise.all(Array.from({ length: 16 }, () => pullImage(`hub/${repo}`, 'v1', image)));
    expect(counting.count(`GET /v2/${repo}/manifests/v1`)).toBe(1);
    for (const blob of image.blobs) expect(counting.count(`GET /v2/${repo}/blobs/${sha256(blob)}`)).toBe(1);
  });

  test('a client killed mid-fill does not abort the fill: the blob is cached for the next pull', async () => {
    const repo = `library/${uniq('kill')}`;
    const blob = randomBlob(3 * 1024 * 1024);
    await up.pushBlob(repo, blob);
    const digest = sha256(blob);
    counting.reset();
    counting.holdBlobsAfter = 512 * 1024;
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${berth.url}/v2/hub/${repo}/blobs/${digest}`, { headers: { authorization: basic() } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    });
    counting.release();
    await eventually(() => linked(`hub/${repo}`, digest));
    const again = await c.request('GET', `/v2/hub/${repo}/blobs/${digest}`);
    expect(again.body.equals(blob)).toBe(true);
    expect(counting.count(`GET /v2/${repo}/blobs/${digest}`)).toBe(1);
  });

  test('upstream down or refusing: cached content (stale tags too) is served; what is not cached is 503 with the reason', async () => {
    const repo = `library/${uniq('down')}`;
    const image = await pushUpstream(repo, 'v1');
    await pullImage(`short/${repo}`, 'v1', image);
    await new Promise((r) => setTimeout(r, 1100));
    const staleBefore = await metric('berth_proxy_requests_total{namespace="short",kind="manifest",result="stale"}');
    for (const mode of ['refuse', 'unavailable', 'throttled'] as const) {
      counting.mode = mode;
      await pullImage(`short/${repo}`, 'v1', image);
      const missing = await c.request('GET', `/v2/short/${repo}/manifests/other`);
      const body = expectError(missing, 503, 'UNAVAILABLE');
      expect(body.errors[0].message).toMatch(mode === 'refuse' ? /could not be reached/ : mode === 'unavailable' ? /answered 503/ : /answered 429/);
      const blob = await c.request('GET', `/v2/short/${repo}/blobs/${sha256(randomBlob(10))}`);
      expectError(blob, 503, 'UNAVAILABLE');
    }
    expect(await metric('berth_proxy_requests_total{namespace="short",kind="manifest",result="stale"}')).toBeGreaterThanOrEqual(staleBefore + 3);
    const ns = await adminCall(berth, 'GET', '/namespaces/short');
    expect(ns.body.upstream.health.lastError).toMatch(/upstream/);
    expect(ns.body.upstream.health.lastErrorAt).not.toBeNull();
    counting.mode = 'pass';
    // 404 upstream is 404 here.
    expectError(await c.request('GET', `/v2/short/${repo}/manifests/nope`), 404, 'MANIFEST_UNKNOWN');
    expectError(await c.request('GET', `/v2/short/${repo}/blobs/${sha256(randomBlob(10))}`), 404, 'BLOB_UNKNOWN');
  });

  test('a namespace over its quota still serves what upstream sends, without keeping it', async () => {
    const name = uniq('full');
    await createProxyNamespace(berth, name, { url: counting.url });
    expect((await adminCall(berth, 'PUT', `/namespaces/${name}/quota`, { quotaBytes: 0 })).status).toBe(200);
    const repo = `library/${uniq('quota')}`;
    const image = await pushUpstream(repo, 'v1');
    await pullImage(`${name}/${repo}`, 'v1', image);
    const usage = await adminCall(berth, 'GET', `/namespaces/${name}/usage`);
    expect(usage.body.repositories).toBe(0);
    counting.reset();
    await pullImage(`${name}/${repo}`, 'v1', image);
    expect(counting.count(`GET /v2/${repo}/manifests/v1`)).toBe(1);
  });

  test('pushes are refused with 405 UNSUPPORTED; a maintainer deleting a cached tag evicts it', async () => {
    const repo = `library/${uniq('ro')}`;
    const image = await pushUpstream(repo, 'v1');
    await pullImage(`hub/${repo}`, 'v1', image);
    const put = await c.request('PUT', `/v2/hub/${repo}/manifests/v2`, { body: image.manifestBytes, headers: { 'content-type': image.mediaType } });
    expect(expectError(put, 405, 'UNSUPPORTED').errors[0].message).toMatch(/pull-through cache/);
    expectError(await c.request('POST', `/v2/hub/${repo}/blobs/uploads/`), 405, 'UNSUPPORTED');
    const del = await c.request('DELETE', `/v2/hub/${repo}/manifests/v1`);
    expect(del.status).toBe(202);
    counting.reset();
    await pullImage(`hub/${repo}`, 'v1', image);
    expect(counting.count(`GET /v2/${repo}/manifests/v1`)).toBe(1);
  });

  test('mirror mode: ?ns=<upstream host> routes to the proxy namespace of that host; MIRROR_DEFAULT_NAMESPACE serves names in no namespace', async () => {
    const second = await CountingUpstream.start(upstream.url);
    try {
      const quay = uniq('quay');
      await createProxyNamespace(berth, quay, { url: second.url });
      const routed = `acme/${uniq('ns')}`;
      const image = await pushUpstream(routed, 'v1');
      counting.reset();
      const viaNs = await c.request('GET', `/v2/${routed}/manifests/v1?ns=${second.host}`, { headers: { accept: image.mediaType } });
      expect(viaNs.status).toBe(200);
      expect(viaNs.headers.get('docker-content-digest')).toBe(image.digest);
      const blob = await c.request('GET', `/v2/${routed}/blobs/${sha256(image.blobs[1])}?ns=${second.host}`);
      expect(blob.body.equals(image.blobs[1])).toBe(true);
      expect(second.count(`GET /v2/${routed}/manifests/v1`)).toBe(1);
      expect(counting.count('/v2/')).toBe(0);
      expect(JSON.parse((await c.request('GET', `/v2/${quay}/${routed}/tags/list`)).body.toString()).tags).toEqual(['v1']);
      // A push keeps its name: the default mirror namespace does not take it.
      const push = await c.request('POST', `/v2/${uniq('newns')}/app/blobs/uploads/`);
      expect(push.status).toBe(202);
    } finally {
      await second.close();
    }
    const repo = `library/${uniq('mirror')}`;
    const image = await pushUpstream(repo, 'v1');
    // `library` is no namespace here: the default mirror namespace serves it.
    const viaDefault = await c.request('GET', `/v2/${repo}/manifests/v1`, { headers: { accept: image.mediaType } });
    expect(viaDefault.status).toBe(200);
    const tags = await c.request('GET', `/v2/hub/${repo}/tags/list`);
    expect(JSON.parse(tags.body.toString()).tags).toEqual(['v1']);
    // dockerd's flow: an anonymous token for the name as it knows it, then the pull.
    const challenge = await fetch(`${berth.url}/v2/${repo}/manifests/v1`);
    expect(challenge.status).toBe(401);
    const token = await fetch(`${berth.url}/auth/token?service=${encodeURIComponent('berth')}&scope=${encodeURIComponent(`repository:${repo}:pull`)}`);
    const { token: bearer } = (await token.json()) as { token: string };
    const anonymous = await c.request('GET', `/v2/${repo}/manifests/v1`, { auth: { token: bearer }, headers: { accept: image.mediaType } });
    expect(anonymous.status).toBe(200);
    expect(anonymous.headers.get('docker-content-digest')).toBe(image.digest);
  });

  test('referrers come from upstream, through the fallback tag schema when it has no referrers API', async () => {
    const repo = `library/${uniq('refs')}`;
    const image = await pushUpstream(repo, 'v1');
    const signature = await pushUpstream(repo, 'sig', buildImage({ artifactType: 'application/vnd.example.sig', subject: image.descriptor, layers: 1, layerSize: 64 }));
    const fallback = manifestBytes({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ ...signature.descriptor, artifactType: 'application/vnd.example.sig' }],
    });
    const tag = image.digest.replace(':', '-');
    expect((await up.request('PUT', `/v2/${repo}/manifests/${tag}`, { body: fallback, headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' } })).status).toBe(201);
    const res = await c.request('GET', `/v2/hub/${repo}/referrers/${image.digest}`);
    expect(res.status).toBe(200);
    const index = JSON.parse(res.body.toString());
    expect(index.manifests.map((d: { digest: string }) => d.digest)).toEqual([signature.digest]);
    expect(index.manifests[0].artifactType).toBe('application/vnd.example.sig');
    const filtered = await c.request('GET', `/v2/hub/${repo}/referrers/${image.digest}?artifactType=other`);
    expect(JSON.parse(filtered.body.toString()).manifests).toEqual([]);
  });

  test('the admin API: secrets are sealed and never shown; PATCH changes the upstream; bad input is a 400', async () => {
    const name = uniq('sec');
    const created = await createProxyNamespace(berth, name, { url: counting.url, username: 'robot', password: 'upstream-Secret-1' }, 'private');
    expect(created.kind).toBe('proxy');
    expect(created.upstream).toMatchObject({ url: counting.url, username: 'robot', hasPassword: true, hasToken: false, tagTtlSeconds: 300 });
    expect(JSON.stringify(created)).not.toContain('upstream-Secret-1');
    const [row] = await berth.database!.query<{ sealed_password: string }>(`SELECT sealed_password FROM proxy_upstreams p JOIN namespaces n ON n.id = p.namespace_id WHERE n.name = $1`, [name]);
    expect(row.sealed_password).not.toContain('upstream-Secret-1');
    const patched = await adminCall(berth, 'PATCH', `/namespaces/${name}`, { upstream: { tagTtlSeconds: 60, password: null, username: null } });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.upstream).toMatchObject({ tagTtlSeconds: 60, hasPassword: false, username: null });
    for (const upstream of [{ url: 'ftp://x' }, { url: 'http://user:pw@127.0.0.1:1' }, { url: 'http://127.0.0.1:1/some/path' }]) {
      const bad = await adminCall(berth, 'POST', '/namespaces', { name: uniq('bad'), kind: 'proxy', upstream });
      expect(bad.status, JSON.stringify(bad.body)).toBe(400);
    }
    expect((await adminCall(berth, 'POST', '/namespaces', { name: uniq('bad'), kind: 'proxy' })).status).toBe(400);
    expect((await adminCall(berth, 'PATCH', '/namespaces/admin', { upstream: { tagTtlSeconds: 5 } })).status).toBe(409);
    // A new URL drops the stored secrets: they were given for the old one.
    expect((await adminCall(berth, 'PATCH', `/namespaces/${name}`, { upstream: { username: 'robot', password: 'again-Secret-2' } })).body.upstream.hasPassword).toBe(true);
    const moved = await adminCall(berth, 'PATCH', `/namespaces/${name}`, { upstream: { url: upstream.url } });
    expect(moved.body.upstream).toMatchObject({ url: upstream.url, hasPassword: false });
    // An owner who is no administrator changes the visibility, not the upstream.
    const owner = { username: uniq('owner'), password: 'owner-Password-123' };
    expect((await adminCall(berth, 'POST', '/users', owner)).status).toBe(201);
    expect([200, 201]).toContain((await adminCall(berth, 'PUT', `/namespaces/${name}/members/${owner.username}`, { role: 'owner' })).status);
    const asOwner = (body: unknown) =>
      fetch(`${berth.url}/api/v1/namespaces/${name}`, {
        method: 'PATCH',
        headers: { authorization: `Basic ${Buffer.from(`${owner.username}:${owner.password}`).toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await asOwner({ upstream: { url: 'http://127.0.0.1:9' } })).status).toBe(403);
    expect((await asOwner({ visibility: 'public' })).status).toBe(200);
  });

  test('a second Berth as upstream: its Docker token flow is followed with the configured credentials', async () => {
    const other = await startCachingRegistry();
    try {
      const image = buildImage({ layerSize: 50_000 });
      await new RegistryClient(other.url).pushImage(`team/app`, 'v1', image);
      const name = uniq('berth');
      await createProxyNamespace(berth, name, { url: other.url, username: other.admin.username, password: other.admin.password });
      const logins = async () => {
        const text = await (await fetch(`${other.url}/metrics`)).text();
        return text.split('\n').filter((l) => l.startsWith('berth_logins_total{')).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
      };
      const before = await logins();
      await pullImage(`${name}/team/app`, 'v1', image);
      // One token for the manifest and its three blobs: reused until it expires.
      expect(await logins()).toBe(before + 1);
      // Its referrers API answers for the proxy namespace.
      const sbom = buildImage({ artifactType: 'application/spdx+json', subject: image.descriptor, layers: 1, layerSize: 32 });
      await new RegistryClient(other.url).pushImage('team/app', 'sbom', sbom);
      const referrers = await c.request('GET', `/v2/${name}/team/app/referrers/${image.digest}`);
      expect(referrers.status).toBe(200);
      expect(JSON.parse(referrers.body.toString()).manifests).toEqual([expect.objectContaining({ digest: sbom.digest, artifactType: 'application/spdx+json' })]);
      // Anonymous upstream access to a private namespace is refused: not found here.
      const anonymous = uniq('anon');
      await createProxyNamespace(berth, anonymous, { url: other.url });
      const refused = await c.request('GET', `/v2/${anonymous}/team/app/manifests/v1`);
      expect(refused.status).toBe(404);
      expect(expectError(refused, 404, 'MANIFEST_UNKNOWN').errors[0].message).toMatch(/refused access/);
    } finally {
      await other.close();
    }
  });

  /** Whether the blob is cached (linked) in the repository, from the database. */
  async function linked(name: string, digest: string): Promise<boolean> {
    const rows = await berth.database!.query(`SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id WHERE r.name = $1 AND rb.digest = $2`, [name, digest]);
    return rows.length > 0;
  }

  function basic(): string {
    return `Basic ${Buffer.from(`${berth.admin.username}:${berth.admin.password}`).toString('base64')}`;
  }
});

async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}


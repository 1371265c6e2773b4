import { parseChallenge } from './upstream-client.js';
import { checkUpstreamUrl, mirrorHost, upstreamRepository } from './upstream-settings.js';

describe('parseChallenge', () => {
  it('reads a Bearer challenge with quoted parameters, commas and colons in them', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull,push' },
    });
  });

  it('reads Basic, picks Bearer among several headers, and ignores other schemes', () => {
    expect(parseChallenge('Basic realm="upstream"')).toEqual({ scheme: 'basic', params: { realm: 'upstream' } });
    expect(parseChallenge(['Basic realm="x"', 'Bearer realm="https://r/token"'])?.scheme).toBe('bearer');
    expect(parseChallenge('Negotiate abc')).toBeUndefined();
    expect(parseChallenge(undefined)).toBeUndefined();
  });
});

describe('upstream names and URLs', () => {
  const ns = (host: string, pathPrefix: string | null = null) =>
    ({ id: '1', name: 'hub', host, settings: { url: '', pathPrefix, username: null, password: null, token: null, insecure: false, caBundle: null, tagTtlSeconds: 300 } });

  it('maps a name under the namespace to the upstream repository', () => {
    expect(upstreamRepository(ns('docker.io'), 'hub/alpine')).toBe('library/alpine');
    expect(upstreamRepository(ns('docker.io'), 'hub/library/alpine')).toBe('library/alpine');
    expect(upstreamRepository(ns('ghcr.io', 'myorg'), 'hub/app')).toBe('myorg/app');
    expect(upstreamRepository(ns('quay.io'), 'hub/app')).toBe('app');
  });

  it('names Docker Hub docker.io, as the ns parameter of containerd does', () => {
    for (const host of ['docker.io', 'registry-1.docker.io', 'index.docker.io', 'Registry-1.Docker.IO']) expect(mirrorHost(host)).toBe('docker.io');
    expect(mirrorHost('ghcr.io')).toBe('ghcr.io');
    expect(mirrorHost('127.0.0.1:5000')).toBe('127.0.0.1:5000');
  });

  it('takes a registry base URL only', () => {
    expect(checkUpstreamUrl('https://registry-1.docker.io/')).toEqual({ url: 'https://registry-1.docker.io', host: 'docker.io' });
    expect(checkUpstreamUrl('http://127.0.0.1:5000/v2/')).toEqual({ url: 'http://127.0.0.1:5000', host: '127.0.0.1:5000' });
    expect(checkUpstreamUrl('HTTPS://GHCR.IO')).toEqual({ url: 'https://ghcr.io', host: 'ghcr.io' });
    for (const bad of ['ftp://x', 'https://u:p@ghcr.io', 'https://ghcr.io/org', 'https://ghcr.io/?a=1', 'not a url']) {
      expect(checkUpstreamUrl(bad)).toHaveProperty('error');
    }
  });
});

describe('UpstreamClient', () => {
  const servers: import('node:http').Server[] = [];
  afterAll(() => servers.forEach((s) => s.close()));

  /** A local server that records what it receives and answers with `handler`. */
  async function server(handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void) {
    const { createServer } = await import('node:http');
    const seen: { url: string; authorization?: string }[] = [];
    const s = createServer((req, res) => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
      handler(req, res);
    });
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    servers.push(s);
    return { url: `http://127.0.0.1:${(s.address() as import('node:net').AddressInfo).port}`, seen };
  }

  const settings = (url: string, extra: Partial<import('./upstream-settings.js').UpstreamSettings> = {}) => ({
    url,
    pathPrefix: null,
    username: null,
    password: null,
    token: null,
    insecure: false,
    caBundle: null,
    tagTtlSeconds: 300,
    ...extra,
  });

  /** Allows every URL but those on `refusedOrigin` (IP literals included: they never reach a lookup). */
  const policy = (refusedOrigin?: string) => ({
    assertAllowedUrl(url: string) {
      if (refusedOrigin && new URL(url).origin === refusedOrigin) throw Object.assign(new Error('refused'), { name: 'TargetNotAllowedError' });
    },
    lookup: ((hostname: string, options: object, callback: (...args: unknown[]) => void) =>
      import('node:dns').then((dns) => dns.lookup(hostname, options, callback))) as unknown as import('node:net').LookupFunction,
  });

  it('refuses a redirect to an address the policy refuses, before connecting to it', async () => {
    const internal = await server((_req, res) => res.end('secret'));
    const upstream = await server((_req, res) => res.writeHead(307, { location: `${internal.url}/latest/meta-data` }).end());
    const { UpstreamClient, UpstreamUnreachableError } = await import('./upstream-client.js');
    const client = new UpstreamClient(settings(upstream.url), policy(internal.url), 5000);
    await expect(client.send({ method: 'GET', path: 'app/blobs/sha256:x', repository: 'app' })).rejects.toBeInstanceOf(UpstreamUnreachableError);
    expect(internal.seen).toEqual([]);
    await client.close();
  });

  it('sends credentials only to the upstream and its token realm, and reuses the token', async () => {
    const cdn = await server((_req, res) => res.end('bytes'));
    const realm = await server((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'T1', expires_in: 300 })));
    const upstream = await server((req, res) => {
      if (req.headers.authorization !== 'Bearer T1') return res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm.url}/token",service="up"` }).end();
      res.writeHead(307, { location: `${cdn.url}/blob` }).end();
    });
    const { UpstreamClient } = await import('./upstream-client.js');
    const client = new UpstreamClient(settings(upstream.url, { username: 'robot', password: 'pw' }), policy(), 5000);
    for (let i = 0; i < 2; i++) {
      const res = await client.send({ method: 'GET', path: 'app/blobs/sha256:x', repository: 'app' });
      expect(await res.body.text()).toBe('bytes');
    }
    expect(realm.seen).toHaveLength(1);
    expect(realm.seen[0].authorization).toBe(`Basic ${Buffer.from('robot:pw').toString('base64')}`);
    expect(new URL(realm.seen[0].url, realm.url).searchParams.get('scope')).toBe('repository:app:pull');
    expect(cdn.seen.map((r) => r.authorization)).toEqual([undefined, undefined]);
    await client.close();
  });

  it('sends Basic credentials up front once the upstream asked for them', async () => {
    const upstream = await server((req, res) => {
      if (!req.headers.authorization) return res.writeHead(401, { 'www-authenticate': 'Basic realm="up"' }).end();
      res.end('ok');
    });
    const { UpstreamClient } = await import('./upstream-client.js');
    const client = new UpstreamClient(settings(upstream.url, { username: 'u', password: 'p' }), policy(), 5000);
    for (let i = 0; i < 3; i++) await (await client.send({ method: 'GET', path: 'app/manifests/v1', repository: 'app' })).body.text();
    expect(upstream.seen.map((r) => Boolean(r.authorization))).toEqual([false, true, true, true]);
    await client.close();
  });
});

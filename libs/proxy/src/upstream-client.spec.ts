import { parseChallenge } from './upstream-client.js';
import { checkUpstreamUrl, upstreamRepository } from './upstream-settings.js';

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

  it('takes a registry base URL only', () => {
    expect(checkUpstreamUrl('https://registry-1.docker.io/')).toEqual({ url: 'https://registry-1.docker.io', host: 'docker.io' });
    expect(checkUpstreamUrl('http://127.0.0.1:5000/v2/')).toEqual({ url: 'http://127.0.0.1:5000', host: '127.0.0.1:5000' });
    expect(checkUpstreamUrl('HTTPS://GHCR.IO')).toEqual({ url: 'https://ghcr.io', host: 'ghcr.io' });
    for (const bad of ['ftp://x', 'https://u:p@ghcr.io', 'https://ghcr.io/org', 'https://ghcr.io/?a=1', 'not a url']) {
      expect(checkUpstreamUrl(bad)).toHaveProperty('error');
    }
  });
});

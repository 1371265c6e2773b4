import { rewriteV2Path } from './v2-path.js';

describe('rewriteV2Path', () => {
  it.each([
    ['/v2/alpine/manifests/latest', '/v2/alpine/manifests/latest'],
    ['/v2/team/app/manifests/v1', '/v2/team%2Fapp/manifests/v1'],
    ['/v2/a/b/c/blobs/uploads/', '/v2/a%2Fb%2Fc/blobs/uploads/'],
    ['/v2/a/b/blobs/uploads/0f2c?x=1', '/v2/a%2Fb/blobs/uploads/0f2c?x=1'],
    ['/v2/a/b/blobs/sha256:abc', '/v2/a%2Fb/blobs/sha256:abc'],
    ['/v2/a/manifests/b/tags/list', '/v2/a%2Fmanifests%2Fb/tags/list'],
    ['/v2/a/b/referrers/sha256:abc?artifactType=x', '/v2/a%2Fb/referrers/sha256:abc?artifactType=x'],
    ['/v2/_catalog?n=1', '/v2/_catalog?n=1'],
    ['/v2/', '/v2/'],
    ['/v2/a/unknown', '/v2/a/unknown'],
  ])('%s → %s', (input, expected) => {
    expect(rewriteV2Path(input)).toBe(expected);
  });
});

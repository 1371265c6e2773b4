import { RegistryError } from './error-codes.js';
import { isRepositoryName, isTag, parseLookupReference, parseReference } from './reference.js';
import { parseDigest } from './digest.js';

describe('repository names', () => {
  it.each(['alpine', 'team/app', 'a/b/c/d', 'my-org/my_app', 'a__b', 'a.b', 'x0/y1--z', 'a'.repeat(255)])('accepts %s', (name) => {
    expect(isRepositoryName(name)).toBe(true);
  });
  it.each(['', 'Team/app', '/app', 'app/', 'a//b', 'a/../b', '..', 'a/./b', '-a', 'a-', 'a___b', 'a b', 'a'.repeat(256), 'a:b'])(
    'refuses %s',
    (name) => {
      expect(isRepositoryName(name)).toBe(false);
    },
  );
});

describe('tags', () => {
  it.each(['latest', 'v1.2.3', '_x', 'A-b_c.d', 'a'.repeat(128)])('accepts %s', (tag) => expect(isTag(tag)).toBe(true));
  it.each(['', '.x', '-x', 'a/b', 'a'.repeat(129), 'a b'])('refuses %s', (tag) => expect(isTag(tag)).toBe(false));
});

describe('references', () => {
  it('tells tags from digests', () => {
    expect(parseReference('v1')).toEqual({ tag: 'v1' });
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseReference(digest)).toEqual({ digest });
  });
  it('reports a malformed digest as DIGEST_INVALID and a malformed tag as TAG_INVALID', () => {
    expect(() => parseReference('sha256:xyz')).toThrow(expect.objectContaining({ code: 'DIGEST_INVALID' }));
    expect(() => parseReference('-bad')).toThrow(expect.objectContaining({ code: 'TAG_INVALID' }));
  });
  it('a lookup of a malformed tag finds nothing instead of failing; a malformed digest stays DIGEST_INVALID', () => {
    expect(parseLookupReference('.INVALID_MANIFEST_NAME')).toBeUndefined();
    expect(parseLookupReference('v1')).toEqual({ tag: 'v1' });
    expect(() => parseLookupReference('sha256:xyz')).toThrow(expect.objectContaining({ code: 'DIGEST_INVALID' }));
  });
});

describe('digests', () => {
  it('accepts sha256 and sha512 only, lowercase hex of the right length', () => {
    expect(parseDigest(`sha256:${'0'.repeat(64)}`).algorithm).toBe('sha256');
    expect(parseDigest(`sha512:${'f'.repeat(128)}`).algorithm).toBe('sha512');
    for (const bad of [`sha256:${'A'.repeat(64)}`, `sha256:${'0'.repeat(63)}`, `md5:${'0'.repeat(32)}`, 'sha256:', undefined, '../etc']) {
      expect(() => parseDigest(bad)).toThrow(RegistryError);
    }
  });
});

import { blobDataPath, uploadDataPath, uploadDir } from './paths.js';
import { InvalidPathError } from './storage-driver.js';

const sha256 = 'ab'.padEnd(64, '0123456789abcdef');
const sha512 = 'cd'.padEnd(128, 'fedcba9876543210');
const uuid = '3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e';

describe('blobDataPath', () => {
  it('fans sha256 and sha512 blobs out by their first two hex digits', () => {
    expect(blobDataPath(`sha256:${sha256}`)).toBe(`blobs/sha256/ab/${sha256}/data`);
    expect(blobDataPath(`sha512:${sha512}`)).toBe(`blobs/sha512/cd/${sha512}/data`);
  });

  it.each([
    ['no algorithm', sha256],
    ['unknown algorithm', `md5:${sha256}`],
    ['sha256 too short', `sha256:${sha256.slice(1)}`],
    ['sha256 too long', `sha256:${sha256}0`],
    ['sha256 with a sha512-length hex', `sha256:${sha512}`],
    ['sha512 with a sha256-length hex', `sha512:${sha256}`],
    ['uppercase hex', `sha256:${sha256.toUpperCase()}`],
    ['uppercase algorithm', `SHA256:${sha256}`],
    ['non-hex', `sha256:${'g'.repeat(64)}`],
    ['traversal', `sha256:../${sha256.slice(3)}`],
    ['trailing newline', `sha256:${sha256}\n`],
    ['empty', ''],
  ])('refuses %s', (_, digest) => {
    expect(() => blobDataPath(digest)).toThrow(InvalidPathError);
  });
});

describe('upload paths', () => {
  it('places an upload and its data under uploads/<uuid>', () => {
    expect(uploadDir(uuid)).toBe(`uploads/${uuid}`);
    expect(uploadDataPath(uuid)).toBe(`uploads/${uuid}/data`);
  });

  it('accepts what crypto.randomUUID produces', () => {
    const generated = crypto.randomUUID();
    expect(uploadDataPath(generated)).toBe(`uploads/${generated}/data`);
  });

  it.each([
    ['uppercase', uuid.toUpperCase()],
    ['no dashes', uuid.replaceAll('-', '')],
    ['braces', `{${uuid}}`],
    ['version 0', '3f2b8c1e-4d5a-0b6c-8d7e-9f0a1b2c3d4e'],
    ['wrong variant', '3f2b8c1e-4d5a-4b6c-cd7e-9f0a1b2c3d4e'],
    ['traversal', '../../../etc/passwd'],
    ['trailing slash', `${uuid}/`],
    ['empty', ''],
  ])('refuses %s', (_, value) => {
    expect(() => uploadDir(value)).toThrow(InvalidPathError);
    expect(() => uploadDataPath(value)).toThrow(InvalidPathError);
  });
});

import { InvalidPathError } from './storage-driver.js';

// A deliberately small alphabet: no separators, no NUL, no whitespace, nothing a
// shell, URL or object-store key would need escaping for.
const SEGMENT = /^[A-Za-z0-9._-]+$/;

/**
 * Refuses anything but a relative, '/'-separated path of safe segments, so no
 * driver can be steered outside its root whatever a caller passes.
 */
export function assertStoragePath(path: string): void {
  const valid =
    typeof path === 'string' &&
    path.split('/').every((segment) => SEGMENT.test(segment) && segment !== '.' && segment !== '..');
  if (!valid) throw new InvalidPathError(path);
}

/** Offsets and lengths are byte counts: whole and non-negative. */
export function assertByteRange(offset: number, length: number | undefined): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new RangeError(`invalid offset: ${offset}`);
  }
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw new RangeError(`invalid length: ${length}`);
  }
}

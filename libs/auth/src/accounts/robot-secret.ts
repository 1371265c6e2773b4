import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 32 random bytes, base64url: shown to the caller once, never stored. */
export function generateRobotSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** sha256 hex: the secret has 256 bits of entropy, so a slow hash would add nothing. */
export function hashRobotSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function robotSecretMatches(secret: string, secretHash: string): boolean {
  const actual = Buffer.from(hashRobotSecret(secret), 'hex');
  const expected = Buffer.from(secretHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

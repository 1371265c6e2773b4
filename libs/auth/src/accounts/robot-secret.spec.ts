import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateRobotSecret, hashRobotSecret, robotSecretMatches } from './robot-secret.js';

describe('robot secrets', () => {
  it('are 32 random bytes in base64url, different every time', () => {
    const a = generateRobotSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(generateRobotSecret()).not.toBe(a);
  });

  it('are stored as their sha256 in hex and checked against it', () => {
    const secret = generateRobotSecret();
    const hash = hashRobotSecret(secret);
    expect(hash).toBe(createHash('sha256').update(secret).digest('hex'));
    expect(robotSecretMatches(secret, hash)).toBe(true);
    expect(robotSecretMatches(generateRobotSecret(), hash)).toBe(false);
    expect(robotSecretMatches(secret, 'not-hex')).toBe(false);
  });
});

import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './error-codes.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

const DIGEST_PATTERNS: Record<DigestAlgorithm, RegExp> = {
  sha256: /^sha256:[a-f0-9]{64}$/,
  sha512: /^sha512:[a-f0-9]{128}$/,
};

export function isDigest(value: string): boolean {
  return DIGEST_PATTERNS.sha256.test(value) || DIGEST_PATTERNS.sha512.test(value);
}

/** Validates a digest string and returns its algorithm; anything else is DIGEST_INVALID. */
export function parseDigest(value: string | undefined | null): { digest: string; algorithm: DigestAlgorithm } {
  if (typeof value === 'string') {
    for (const algorithm of Object.keys(DIGEST_PATTERNS) as DigestAlgorithm[]) {
      if (DIGEST_PATTERNS[algorithm].test(value)) return { digest: value, algorithm };
    }
  }
  throw new RegistryError('DIGEST_INVALID', `invalid digest: ${String(value ?? '(missing)')}`, { digest: value ?? null });
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Incremental digester fed chunk by chunk while bytes stream past. */
export class Digester {
  private readonly hash: Hash;
  size = 0;

  constructor(readonly algorithm: DigestAlgorithm) {
    this.hash = createHash(algorithm);
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.size += chunk.length;
  }

  /** The digest of everything so far; the digester stays usable (the hash is copied). */
  peek(): string {
    return `${this.algorithm}:${this.hash.copy().digest('hex')}`;
  }
}

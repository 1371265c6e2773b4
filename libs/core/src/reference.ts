import { isDigest } from './digest.js';
import { RegistryError } from './error-codes.js';

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_PATTERN = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
export const MAX_NAME_LENGTH = 255;

export function isRepositoryName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME_PATTERN.test(name);
}

export function assertRepositoryName(name: string): string {
  if (!isRepositoryName(name)) {
    throw new RegistryError('NAME_INVALID', `invalid repository name: ${name.slice(0, 300)}`, { name: name.slice(0, 300) });
  }
  return name;
}

export function isTag(value: string): boolean {
  return TAG_PATTERN.test(value);
}

/** A manifest reference is a tag or a digest; anything else is TAG_INVALID (or DIGEST_INVALID for a bad digest). */
export function parseReference(reference: string): { tag: string } | { digest: string } {
  if (reference.includes(':')) {
    if (!isDigest(reference)) throw new RegistryError('DIGEST_INVALID', `invalid digest: ${reference}`, { digest: reference });
    return { digest: reference };
  }
  if (!isTag(reference)) throw new RegistryError('TAG_INVALID', `invalid tag: ${reference}`, { tag: reference });
  return { tag: reference };
}

/**
 * A reference to look up (GET, HEAD, DELETE). A malformed tag names nothing that could
 * exist, so it finds nothing (undefined: the caller answers 404) instead of TAG_INVALID.
 */
export function parseLookupReference(reference: string): { tag: string } | { digest: string } | undefined {
  if (!reference.includes(':') && !isTag(reference)) return undefined;
  return parseReference(reference);
}

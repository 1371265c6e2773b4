import { isRepositoryName, isTag } from '@berth/core';
import { fieldError } from '../auth.js';

/**
 * The repository name of a `*name` route parameter. Express 5 hands a wildcard over
 * as its path segments; a name sent with encoded slashes (`team%2Fapp`) arrives as one
 * segment, which is how a name ending in `/tags/...` stays addressable.
 */
export function repositoryParam(value: string | string[] | undefined): string {
  const name = Array.isArray(value) ? value.join('/') : (value ?? '');
  if (!isRepositoryName(name)) throw fieldError('name', 'must be a repository name (lowercase path components separated by "/")');
  return name;
}

export function tagParam(value: string): string {
  if (!isTag(value)) throw fieldError('tag', 'must be a tag: up to 128 letters, digits, "_", "." and "-", not starting with "." or "-"');
  return value;
}

import { isRepositoryName } from '@berth/core';

// A subscription's repository filter: a repository name where `*` matches within one
// path component and `**` across components (`team/**` is everything under team/, and
// `a/**/b` also matches `a/b`).

export const REPOSITORY_PATTERN_MAX = 255;

/** Why the pattern is not one, or undefined when it is. */
export function repositoryPatternProblem(pattern: string): string | undefined {
  if (!pattern.length || pattern.length > REPOSITORY_PATTERN_MAX) return `must be 1-${REPOSITORY_PATTERN_MAX} characters`;
  if (!/^[a-z0-9._\-/*]+$/.test(pattern)) return 'may hold only lowercase letters, digits, ".", "_", "-", "/" and "*"';
  if (pattern.includes('***')) return 'has "***": use "*" within a path component or "**" across components';
  // A wildcard stands for at least part of a component, so checking it as a name checks the rest.
  if (!isRepositoryName(pattern.replaceAll('**', 'a').replaceAll('*', 'a'))) {
    return 'must be a repository name (lowercase path components separated by "/") where * and ** are wildcards';
  }
  return undefined;
}

/**
 * The anchored regular expression of a valid pattern, in the syntax JavaScript and
 * Postgres (`~`) share, so a relay may filter subscriptions in SQL or in code.
 */
export function repositoryPatternRegex(pattern: string): string {
  let out = '^';
  for (let i = 0; i < pattern.length; ) {
    if (pattern.startsWith('/**/', i)) {
      out += '(/.*)?/';
      i += 4;
    } else if (pattern.startsWith('**', i)) {
      out += '.*';
      i += 2;
    } else if (pattern[i] === '*') {
      out += '[^/]*';
      i += 1;
    } else {
      out += /[a-z0-9/_-]/.test(pattern[i]) ? pattern[i] : `\\${pattern[i]}`;
      i += 1;
    }
  }
  return `${out}$`;
}

export function repositoryPatternMatches(pattern: string, repository: string): boolean {
  return new RegExp(repositoryPatternRegex(pattern)).test(repository);
}

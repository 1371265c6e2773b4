import { describe, expect, it } from 'vitest';
import { repositoryPatternMatches, repositoryPatternProblem, repositoryPatternRegex } from './repository-pattern.js';

describe('webhook repository patterns', () => {
  it.each([
    ['team/app', 'team/app', true],
    ['team/app', 'team/app2', false],
    ['team/*', 'team/app', true],
    ['team/*', 'team/sub/app', false],
    ['team/app-*', 'team/app-web', true],
    ['team/app-*', 'team/app-', true],
    ['team/**', 'team/app', true],
    ['team/**', 'team/sub/app', true],
    ['team/**', 'team', false],
    ['team/**', 'teamx/app', false],
    ['**', 'anything/at/all', true],
    ['team/**/web', 'team/web', true],
    ['team/**/web', 'team/a/b/web', true],
    ['team/**/web', 'team/a/b/webx', false],
    ['*/app', 'team/app', true],
    ['*/app', 'a/team/app', false],
    ['team/v1.0', 'team/v1x0', false],
    ['team/v1.0', 'team/v1.0', true],
  ])('%s against %s: %s', (pattern, repository, expected) => {
    expect(repositoryPatternProblem(pattern)).toBeUndefined();
    expect(repositoryPatternMatches(pattern, repository)).toBe(expected);
  });

  it.each(['', 'Team/app', 'team//app', '/team', 'team/', 'team/***', 'team/app?', 'team/[ab]', 'team/.app', 'team/app name', 'x'.repeat(256)])(
    'refuses %j',
    (pattern) => {
      expect(repositoryPatternProblem(pattern)).toEqual(expect.any(String));
    },
  );

  it('gives an anchored expression Postgres understands too', () => {
    expect(repositoryPatternRegex('team/*-dev/**')).toBe('^team/[^/]*-dev/.*$');
    expect(repositoryPatternRegex('a.b/**/c')).toBe('^a\\.b(/.*)?/c$');
  });
});

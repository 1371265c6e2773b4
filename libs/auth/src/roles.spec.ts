import { parseScope } from './access.service.js';
import { namespaceOf, repositoryMatches, roleAtLeast } from './roles.js';

describe('namespaces and roles', () => {
  it('takes the first path component as the namespace', () => {
    expect(namespaceOf('team/app')).toBe('team');
    expect(namespaceOf('team/sub/app')).toBe('team');
    expect(namespaceOf('alpine')).toBe('alpine');
  });

  it('orders roles', () => {
    expect(roleAtLeast('owner', 'maintainer')).toBe(true);
    expect(roleAtLeast('developer', 'maintainer')).toBe(false);
    expect(roleAtLeast(undefined, 'reader')).toBe(false);
  });
});

describe('robot repository grants', () => {
  it.each([
    ['team/app', 'team/app', true],
    ['team/app', 'team/app2', false],
    ['team/app-*', 'team/app-web', true],
    ['team/app-*', 'team/app-web/sub', false],
    ['team/*', 'team/x', true],
    ['team/*/db', 'team/x/db', true],
    ['team/a.b', 'team/aXb', false],
  ])('%s matches %s: %s', (pattern, repository, expected) => {
    expect(repositoryMatches(pattern, repository)).toBe(expected);
  });
});

describe('scopes', () => {
  it('parses type:name:actions, where the name may contain colons', () => {
    expect(parseScope('repository:team/app:pull,push')).toEqual({ type: 'repository', name: 'team/app', actions: ['pull', 'push'] });
    expect(parseScope('repository:localhost:5000/app:pull')).toEqual({ type: 'repository', name: 'localhost:5000/app', actions: ['pull'] });
    expect(parseScope('registry:catalog:*')).toEqual({ type: 'registry', name: 'catalog', actions: ['*'] });
  });

  it('ignores malformed scopes', () => {
    expect(parseScope('repository')).toBeUndefined();
    expect(parseScope('repository:app')).toBeUndefined();
    expect(parseScope(':app:pull')).toBeUndefined();
  });
});

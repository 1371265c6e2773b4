import type { RegistryEvent } from '../registry-event.js';
import { type Subscription, SubscriptionMatcher } from './subscription-matcher.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

function event(action: RegistryEvent['action'], repository: string, mediaType?: string): RegistryEvent {
  return {
    id: 'e',
    timestamp: '2026-01-01T00:00:00.000Z',
    action,
    target: { repository, ...(mediaType ? { mediaType } : {}) },
    request: { id: 'r', addr: '', host: '', method: 'GET', useragent: '' },
    actor: {},
    source: { addr: 'h:5000', instanceID: 'i' },
  };
}

function matcher(overrides: Partial<Subscription>): SubscriptionMatcher {
  return new SubscriptionMatcher({ id: 'w', namespace: null, actions: null, ignoredMediaTypes: [], repositoryPattern: null, maxAttempts: 3, ...overrides });
}

describe('SubscriptionMatcher', () => {
  it('takes every event without filters', () => {
    const all = matcher({});
    expect(all.matches(event('push', 'team/app', MANIFEST))).toBe(true);
    expect(all.matches(event('pull', 'x'))).toBe(true);
  });

  it('filters by action', () => {
    const pushes = matcher({ actions: ['push', 'delete'] });
    expect(pushes.matches(event('push', 'team/app'))).toBe(true);
    expect(pushes.matches(event('delete', 'team/app'))).toBe(true);
    expect(pushes.matches(event('pull', 'team/app'))).toBe(false);
    expect(pushes.matches(event('mount', 'team/app'))).toBe(false);
  });

  it('ignores the listed media types, and keeps events without one', () => {
    const noBlobs = matcher({ ignoredMediaTypes: ['application/octet-stream'] });
    expect(noBlobs.matches(event('push', 'team/app', 'application/octet-stream'))).toBe(false);
    expect(noBlobs.matches(event('push', 'team/app', MANIFEST))).toBe(true);
    expect(noBlobs.matches(event('delete', 'team/app'))).toBe(true);
  });

  it('matches the repository pattern against the full name', () => {
    const web = matcher({ repositoryPattern: 'team/**/web-*' });
    expect(web.matches(event('push', 'team/web-api'))).toBe(true);
    expect(web.matches(event('push', 'team/a/b/web-ui'))).toBe(true);
    expect(web.matches(event('push', 'team/api'))).toBe(false);
    expect(web.matches(event('push', 'other/web-api'))).toBe(false);
  });

  it('limits a namespace subscription to repositories under its namespace', () => {
    const team = matcher({ namespace: 'team' });
    expect(team.matches(event('push', 'team/app'))).toBe(true);
    expect(team.matches(event('push', 'team/sub/app'))).toBe(true);
    expect(team.matches(event('push', 'teamx/app'))).toBe(false);
    expect(team.matches(event('push', 'other/team'))).toBe(false);
  });
});

import type { RegistryEvent } from '../registry-event.js';
import { planDeliveries } from './delivery-plan.js';
import { type Subscription, SubscriptionMatcher } from './subscription-matcher.js';

function event(id: string, action: RegistryEvent['action'], repository = 'team/app'): RegistryEvent {
  return {
    id,
    timestamp: '2026-01-01T00:00:00.000Z',
    action,
    target: { repository },
    request: { id: 'r', addr: '', host: '', method: 'GET', useragent: '' },
    actor: {},
    source: { addr: 'h:5000', instanceID: 'i' },
  };
}

function matcher(id: string, overrides: Partial<Subscription> = {}): SubscriptionMatcher {
  return new SubscriptionMatcher({ id, namespace: null, actions: null, ignoredMediaTypes: [], repositoryPattern: null, maxAttempts: 3, ...overrides });
}

const summary = (planned: ReturnType<typeof planDeliveries>) => planned.map((d) => `${d.webhookId} ${d.batch ? 'batch' : 'single'} ${d.events.map((e) => e.id).join(',')}`);

describe('planDeliveries', () => {
  it('keeps push, mount and delete events one per delivery and gathers the pulls of each subscription into one', () => {
    const events = [event('p1', 'pull'), event('push1', 'push'), event('p2', 'pull', 'other/x'), event('m1', 'mount'), event('p3', 'pull'), event('d1', 'delete')];
    const planned = planDeliveries(events, [matcher('all'), matcher('team', { repositoryPattern: 'team/**' }), matcher('pushes', { actions: ['push'] })]);
    expect(summary(planned)).toEqual([
      'all batch p1,p2,p3',
      'team batch p1,p3',
      'all single push1',
      'team single push1',
      'pushes single push1',
      'all single m1',
      'team single m1',
      'all single d1',
      'team single d1',
    ]);
    expect(planned[0].events[1]).toBe(events[2]);
    expect(planned.every((d) => d.maxAttempts === 3)).toBe(true);
  });

  it('caps a batch: the pulls beyond it start the next delivery', () => {
    const pulls = Array.from({ length: 7 }, (_, i) => event(`p${i}`, 'pull'));
    expect(summary(planDeliveries(pulls, [matcher('w')], 3))).toEqual(['w batch p0,p1,p2', 'w batch p3,p4,p5', 'w batch p6']);
    expect(planDeliveries(pulls, [matcher('w')]).map((d) => d.events.length)).toEqual([7]);
  });

  it('makes a batch of a single pull, and nothing of events no subscription takes', () => {
    expect(summary(planDeliveries([event('p1', 'pull')], [matcher('w')]))).toEqual(['w batch p1']);
    expect(planDeliveries([event('p1', 'pull'), event('x', 'push')], [matcher('w', { actions: ['delete'] })])).toEqual([]);
  });
});

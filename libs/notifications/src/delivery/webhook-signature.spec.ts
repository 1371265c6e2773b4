import { createHmac } from 'node:crypto';
import { deliveryBody, payloadEvents } from './event-body.js';
import { signWebhookBody, verifyWebhookSignature } from './webhook-signature.js';

describe('webhook signatures and bodies', () => {
  it('signs the exact body bytes with HMAC-SHA256, as sha256=<hex>', () => {
    const body = '{"events":[{"id":"e1"}]}';
    const expected = `sha256=${createHmac('sha256', 'key').update(body).digest('hex')}`;
    expect(signWebhookBody('key', body)).toBe(expected);
    expect(verifyWebhookSignature('key', Buffer.from(body), expected)).toBe(true);
    expect(verifyWebhookSignature('key', `${body} `, expected)).toBe(false);
    expect(verifyWebhookSignature('other', body, expected)).toBe(false);
    expect(verifyWebhookSignature('key', body, undefined)).toBe(false);
    expect(verifyWebhookSignature('key', body, 'sha256=00')).toBe(false);
  });

  it("puts a stored event back in the envelope's key order", () => {
    // jsonb's order: shorter keys first.
    const stored = {
      id: 'e1',
      actor: { name: 'a' },
      action: 'push',
      source: { addr: 'h:1', instanceID: 'i' },
      target: { tag: 'v1', url: 'http://r/v2/x/manifests/sha256:1', size: 3, digest: 'sha256:1', length: 3, mediaType: 'm', repository: 'x' },
      request: { id: 'r', addr: 'a', host: 'h', method: 'PUT', useragent: 'u' },
      timestamp: 't',
    };
    const body = JSON.parse(deliveryBody(payloadEvents(stored)));
    expect(Object.keys(body)).toEqual(['events']);
    expect(Object.keys(body.events[0])).toEqual(['id', 'timestamp', 'action', 'target', 'request', 'actor', 'source']);
    expect(Object.keys(body.events[0].target)).toEqual(['mediaType', 'size', 'digest', 'length', 'repository', 'url', 'tag']);
    expect(body.events[0]).toEqual(stored);
  });

  it('sends a stored batch (an array) as every event of it, in order, and a single stored event as one', () => {
    const pull = (id: string) => ({ target: { repository: 'x', mediaType: 'm' }, action: 'pull', id });
    const batch = JSON.parse(deliveryBody(payloadEvents([pull('e1'), pull('e2'), pull('e3')])));
    expect(batch.events.map((e: { id: string }) => e.id)).toEqual(['e1', 'e2', 'e3']);
    expect(Object.keys(batch.events[1])).toEqual(['id', 'action', 'target']);
    expect(Object.keys(batch.events[1].target)).toEqual(['mediaType', 'repository']);
    expect(JSON.parse(deliveryBody(payloadEvents(pull('e4'))))).toEqual({ events: [pull('e4')] });
  });
});

import { createHmac } from 'node:crypto';
import { deliveryBody } from './event-body.js';
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
    const body = JSON.parse(deliveryBody(stored));
    expect(Object.keys(body)).toEqual(['events']);
    expect(Object.keys(body.events[0])).toEqual(['id', 'timestamp', 'action', 'target', 'request', 'actor', 'source']);
    expect(Object.keys(body.events[0].target)).toEqual(['mediaType', 'size', 'digest', 'length', 'repository', 'url', 'tag']);
    expect(body.events[0]).toEqual(stored);
  });
});

import { createHmac, timingSafeEqual } from 'node:crypto';

/** The request headers every delivery carries besides Content-Type and User-Agent. */
export const WEBHOOK_HEADERS = {
  /** The delivery's id: the same on every attempt and redelivery of one delivery (one event, or one batch of pulls). */
  delivery: 'X-Berth-Delivery',
  /**
   * The event's id (also in the body): subscribers drop duplicates by it. A batch of
   * pull events carries the id of its first event here; every event of the body has
   * its own `id`, which is what to deduplicate by.
   */
  event: 'X-Berth-Event',
  /** `sha256=` and the hex HMAC-SHA256 of the exact body bytes, keyed with the subscription's secret. */
  signature: 'X-Berth-Signature',
} as const;

/** The X-Berth-Signature value for a body. */
export function signWebhookBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** What a subscriber does with a request: recompute and compare in constant time. */
export function verifyWebhookSignature(secret: string, body: string | Buffer, signature: string | undefined): boolean {
  if (!signature) return false;
  const expected = Buffer.from(signWebhookBody(secret, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

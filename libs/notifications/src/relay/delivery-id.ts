import { createHash } from 'node:crypto';

/** The UUID namespace of delivery ids (random, fixed forever: changing it changes every id). */
const DELIVERY_NAMESPACE = Buffer.from('6c0b4b5e2f3a4c8e9d1e7a5b3c2d1f00', 'hex');

/**
 * The id of an event's delivery to a subscription: a UUID v5 of both ids, so that a
 * relay that runs twice over the same event (after a crash) names the same delivery,
 * and its BullMQ job, twice.
 */
export function deliveryId(webhookId: string, eventId: string): string {
  const hash = createHash('sha1').update(DELIVERY_NAMESPACE).update(`${webhookId}/${eventId}`).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

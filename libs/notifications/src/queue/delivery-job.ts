/** The BullMQ queue that carries "attempt this delivery now" jobs. */
export const DELIVERY_QUEUE_NAME = 'berth-webhooks';

export const DELIVERY_JOB_NAME = 'deliver';

/**
 * Exponential backoff with jitter, computed by the processor itself (see
 * `retryDelayMs`) rather than by BullMQ's built-in strategy, so that the retry time
 * recorded in webhook_attempts is the one BullMQ then uses.
 */
export const DELIVERY_BACKOFF_TYPE = 'berth-webhook';

export interface DeliveryJobData {
  deliveryId: string;
}

/**
 * The wait after failed attempt n (1-based): base·2^(n-1), capped, then jittered down
 * by up to half so that deliveries failing together do not retry in lockstep.
 */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return Math.round(ceiling * (0.5 + random() * 0.5));
}

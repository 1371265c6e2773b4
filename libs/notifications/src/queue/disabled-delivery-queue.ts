import { DeliveryQueue } from '../delivery-queue.js';

/** Without REDIS_URL nothing could ever send a delivery: refuse rather than leave it pending forever. */
export class DisabledDeliveryQueue extends DeliveryQueue {
  readonly enabled = false;

  async enqueue(): Promise<void> {
    throw new Error('webhook notifications are off: set REDIS_URL to enable them');
  }
}

/**
 * The contract for putting webhook deliveries on the BullMQ queue (implemented in
 * this library). Rows in webhook_deliveries are the truth; a job only says
 * "attempt this delivery now".
 */
export abstract class DeliveryQueue {
  abstract readonly enabled: boolean;
  /**
   * Queues deliveries for an attempt now. A redelivery gets a fresh job (and a fresh
   * attempt budget) even when the original job still exists.
   */
  abstract enqueue(deliveryIds: string[], options?: { redelivery?: boolean }): Promise<void>;
}

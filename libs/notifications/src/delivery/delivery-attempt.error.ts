/** A failed attempt that will be retried: carries the wait already recorded in webhook_attempts. */
export class DeliveryAttemptError extends Error {
  constructor(
    message: string,
    readonly retryDelayMs: number,
  ) {
    super(message);
    this.name = 'DeliveryAttemptError';
  }
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { NOTIFICATIONS_OPTIONS, type ResolvedNotificationsOptions } from '../notifications-options.js';
import { DELIVERY_QUEUE_NAME, type DeliveryJobData, retryDelayMs } from '../queue/delivery-job.js';
import { closeRedisClient, createRedisClient } from '../queue/redis-client.js';
import { SecretBox } from '../secret-box.js';
import { openWebhookHeaders } from '../webhooks/webhook-headers.js';
import { PING_ACTION } from '../webhooks/ping-event.js';
import { DeliveryAttemptError } from './delivery-attempt.error.js';
import { deliveryBody } from './event-body.js';
import { type SendResult, type WebhookTarget, WebhookSender } from './webhook-sender.js';

interface DeliveryRow {
  id: string;
  event_id: string;
  action: string;
  payload: Record<string, unknown>;
  status: string;
  url: string;
  secret_encrypted: string;
  headers_encrypted: string | null;
  enabled: boolean;
  timeout_ms: number;
}

type Outcome = 'succeeded' | 'failed' | 'dead';

/**
 * The BullMQ worker that sends deliveries. The delivery row is the truth: each
 * attempt is recorded there (counters, last result, next retry) and in
 * webhook_attempts in one statement, then a failure is thrown for BullMQ to retry
 * after the delay just recorded. After the job's last attempt, or when the target is
 * refused, the delivery is `dead`: kept, visible, and redeliverable.
 *
 * Plain bullmq classes rather than @nestjs/bullmq: the worker exists only when
 * notifications are on and this process runs workers, and it needs a custom backoff
 * and its own connection lifetime.
 */
@Injectable()
export class WebhookDeliveryProcessor {
  private readonly logger = new Logger('Notifications');
  private client?: Redis;
  private worker?: Worker<DeliveryJobData>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly config: BerthConfig,
    @Inject(NOTIFICATIONS_OPTIONS) private readonly options: ResolvedNotificationsOptions,
    private readonly box: SecretBox,
    private readonly sender: WebhookSender,
  ) {}

  start(): void {
    // A worker blocks on Redis: its commands must wait through an outage, not fail.
    this.client = createRedisClient(this.config.redisUrl as string, 'worker', this.logger, { maxRetriesPerRequest: null });
    this.worker = new Worker<DeliveryJobData>(DELIVERY_QUEUE_NAME, (job) => this.process(job), {
      connection: this.client,
      concurrency: this.options.concurrency,
      settings: {
        backoffStrategy: (attemptsMade, _type, err) =>
          err instanceof DeliveryAttemptError ? err.retryDelayMs : retryDelayMs(attemptsMade, this.options.retryBaseDelayMs, this.options.retryMaxDelayMs),
      },
    });
    // The client already reports outages, once each.
    this.worker.on('error', () => undefined);
  }

  /**
   * Lets running attempts finish, then disconnects. Without Redis a graceful close
   * would wait for it forever, and no attempt can be running anyway: force it.
   */
  async stop(): Promise<void> {
    await this.worker?.close(this.client?.status !== 'ready').catch(() => undefined);
    if (this.client) await closeRedisClient(this.client);
    this.worker = undefined;
    this.client = undefined;
  }

  async process(job: Job<DeliveryJobData>): Promise<void> {
    const delivery = await this.load(job.data.deliveryId);
    // Gone with its webhook, or pruned; or a duplicate job of a delivery already made.
    if (!delivery || delivery.status === 'succeeded') return;
    // A test ping is sent to a disabled subscription too: that is what it is for.
    if (!delivery.enabled && delivery.action !== PING_ACTION) {
      await this.dataSource.query(
        `UPDATE webhook_deliveries SET status = 'dead', last_error = 'the webhook is disabled', next_attempt_at = NULL, updated_at = now() WHERE id = $1`,
        [delivery.id],
      );
      return;
    }
    const result = await this.attempt(delivery);
    if (result.ok) {
      await this.record(delivery.id, 'succeeded', result, null);
      return;
    }
    const attempt = job.attemptsMade + 1;
    const last = result.refused || attempt >= (job.opts.attempts ?? 1);
    const delay = last ? null : retryDelayMs(attempt, this.options.retryBaseDelayMs, this.options.retryMaxDelayMs);
    await this.record(delivery.id, last ? 'dead' : 'failed', result, delay);
    const message = result.error ?? 'delivery failed';
    throw delay === null ? new UnrecoverableError(message) : new DeliveryAttemptError(message, delay);
  }

  private async load(id: string): Promise<DeliveryRow | undefined> {
    const rows: DeliveryRow[] = await this.dataSource.query(
      `SELECT d.id, d.event_id, d.action, d.payload, d.status, w.url, w.secret_encrypted, w.headers_encrypted, w.enabled, w.timeout_ms
         FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = $1`,
      [id],
    );
    return rows[0];
  }

  private async attempt(delivery: DeliveryRow): Promise<SendResult> {
    let target: WebhookTarget;
    try {
      target = {
        url: delivery.url,
        secret: this.box.decrypt(delivery.secret_encrypted),
        headers: openWebhookHeaders(this.box, delivery.headers_encrypted),
        timeoutMs: delivery.timeout_ms,
      };
    } catch (err) {
      return { ok: false, statusCode: null, durationMs: 0, error: err.message, refused: false };
    }
    return this.sender.send(target, { delivery: delivery.id, event: delivery.event_id }, deliveryBody(delivery.payload));
  }

  /** The attempt and the delivery's new state, together. */
  private async record(id: string, outcome: Outcome, result: SendResult, retryDelay: number | null): Promise<void> {
    await this.dataSource.query(
      `WITH d AS (
         UPDATE webhook_deliveries
            SET attempts = attempts + 1, status = $2, last_status_code = $3, last_error = $4,
                next_attempt_at = now() + $5::integer * interval '1 millisecond', updated_at = now()
          WHERE id = $1
          RETURNING id, attempts, next_attempt_at)
       INSERT INTO webhook_attempts (delivery_id, attempt, status_code, duration_ms, error, next_retry_at)
       SELECT id, attempts, $3, $6, $4, next_attempt_at FROM d`,
      [id, outcome, result.statusCode, result.error, retryDelay, result.durationMs],
    );
  }
}

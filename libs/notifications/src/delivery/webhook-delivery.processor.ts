import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, type Type } from '@nestjs/common';
import { type Job, UnrecoverableError, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { NOTIFICATIONS_OPTIONS, type ResolvedNotificationsOptions } from '../notifications-options.js';
import { DELIVERY_QUEUE_NAME, type DeliveryJobData, retryDelayMs } from '../queue/delivery-job.js';
import { closeRedisClient, closeWorker, createRedisClient } from '../queue/redis-client.js';
import { SecretBox } from '../secret-box.js';
import { openWebhookHeaders } from '../webhooks/webhook-headers.js';
import { PING_ACTION } from '../webhooks/ping-event.js';
import { WEBHOOK_LIMITS } from '../webhooks/webhook-settings.js';
import { DeliveryAttemptError } from './delivery-attempt.error.js';
import { deliveryBody, payloadEvents } from './event-body.js';
import { type SendResult, type WebhookTarget, WebhookSender } from './webhook-sender.js';

interface DeliveryRow {
  id: string;
  event_id: string;
  action: string;
  /** One event, or the array of a batch of pulls (see payloadEvents). */
  payload: unknown;
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
 * A @nestjs/bullmq processor: BullModule creates its worker at module init, from the
 * worker options of its @Processor decorator. Those depend on the configuration (the
 * Redis URL, concurrency and retry delays) while decorator metadata is static, so
 * the class that is registered is the one `webhookDeliveryProcessor()` decorates for
 * one module; this class is its injection token. It is registered only where
 * workers run (and Redis is configured).
 */
@Injectable()
export abstract class WebhookDeliveryProcessor extends WorkerHost<Worker<DeliveryJobData>> {
  private readonly logger = new Logger('Notifications');
  /**
   * The `connection` of the worker's options: the worker sends its commands on it
   * and makes a copy of it for its blocking fetches (which it closes itself).
   */
  protected abstract connection(): Redis;

  constructor(
    private readonly dataSource: DataSource,
    @Inject(NOTIFICATIONS_OPTIONS) private readonly options: ResolvedNotificationsOptions,
    private readonly box: SecretBox,
    private readonly sender: WebhookSender,
  ) {
    super();
    // The client is made without connecting (it belongs to a module definition, which
    // may never become an application). Connecting it here, before BullModule creates
    // the worker at module init, has BullMQ wait for it to be ready, through an outage.
    const connection = this.connection();
    if (connection.status === 'wait' || connection.status === 'end') connection.connect().catch(() => undefined);
  }

  /** The worker is created idle (`autorun: false`): it takes jobs from application bootstrap on. */
  start(): void {
    this.worker.run().catch((err: Error) => this.logger.error(`the delivery worker stopped: ${err.message}`));
  }

  /**
   * Lets running attempts finish (for as long as the longest subscription time-out),
   * then disconnects. Without Redis a graceful close would wait for it forever, and no
   * attempt can be running anyway: force it. This
   * runs before @nestjs/bullmq closes its workers at application shutdown (a close
   * that then finds this worker closed), and it closes the worker's client, which
   * BullMQ leaves open.
   */
  async stop(): Promise<void> {
    const connection = this.connection();
    await closeWorker(this.worker, connection, WEBHOOK_LIMITS.timeoutMs.max + 1000);
    await closeRedisClient(connection);
  }

  /** The worker's client already reports outages, once each. */
  @OnWorkerEvent('error')
  onWorkerError(): void {}

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
    // X-Berth-Event is the delivery's event_id: its (first) event's id. Each event of a batch has its own id in the body.
    return this.sender.send(target, { delivery: delivery.id, event: delivery.event_id }, deliveryBody(payloadEvents(delivery.payload)));
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

/**
 * The delivery processor of one NotificationsModule: a subclass carrying, as its
 * @Processor metadata, the worker options made from the configuration.
 */
export function webhookDeliveryProcessor(redisUrl: string, options: ResolvedNotificationsOptions): Type<WebhookDeliveryProcessor> {
  // A worker blocks on Redis: its commands must wait through an outage, not fail.
  const connection = createRedisClient(redisUrl, 'worker', new Logger('Notifications'), { maxRetriesPerRequest: null, lazyConnect: true });

  @Processor(DELIVERY_QUEUE_NAME, {
    connection,
    autorun: false,
    concurrency: options.concurrency,
    // An attempt cut off by a crash is taken up again within about 20 s (BullMQ's
    // defaults: 30 s each, so up to a minute). The lock is renewed every 5 s while it runs.
    lockDuration: 10_000,
    stalledInterval: 10_000,
    settings: {
      // A failed attempt carries the delay it recorded; anything else thrown gets the same schedule.
      backoffStrategy: (attemptsMade, _type, err) =>
        err instanceof DeliveryAttemptError ? err.retryDelayMs : retryDelayMs(attemptsMade, options.retryBaseDelayMs, options.retryMaxDelayMs),
    },
  })
  class ConfiguredWebhookDeliveryProcessor extends WebhookDeliveryProcessor {
    protected connection(): Redis {
      return connection;
    }
  }
  return ConfiguredWebhookDeliveryProcessor;
}

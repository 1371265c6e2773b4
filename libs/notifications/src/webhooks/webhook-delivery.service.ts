import { randomUUID } from 'node:crypto';
import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, type ChangeContext, type Page, type PageRequest, actorName, pageOffset } from '@berth/auth';
import { DeliveryQueue } from '../delivery-queue.js';
import { PING_ACTION, pingEvent } from './ping-event.js';
import { isUuid, requireWebhook } from './webhook-lookup.js';
import type { WebhookScope } from './webhook-scope.js';
import { webhookTarget } from './webhook.service.js';

export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed', 'dead'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * One delivery to one subscription: of one event, or of a batch of pull events (one
 * POST carrying them all). The event fields are those of its (first) event.
 */
export interface DeliveryView {
  id: string;
  webhookId: string;
  /** The (first) event's id; also the X-Berth-Event header. */
  eventId: string;
  /** push, pull, mount, delete, or ping. */
  action: string;
  /** The (first) event's target repository (empty for a ping). */
  repository: string | null;
  tag: string | null;
  digest: string | null;
  /** How many events it carries: 1, or up to 500 for a batch of pull events. */
  eventCount: number;
  status: DeliveryStatus;
  /** Attempts made so far. */
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface AttemptView {
  attempt: number;
  at: Date;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  nextRetryAt: Date | null;
}

export interface DeliveryDetail extends Omit<DeliveryView, 'attempts'> {
  /** The (first) event as it is sent, inside `{"events":[…]}`. */
  event: unknown;
  /** Every event it sends, `{"events":[…]}` (one, or a batch of pulls), in order. */
  events: unknown[];
  /** Every attempt, first to last. */
  attempts: AttemptView[];
}

export interface DeliveryQuery extends PageRequest {
  status?: DeliveryStatus;
}

/** A delivery's events as an array: a batch of pulls is stored as one, any other delivery as its one event. */
const EVENTS = `(CASE jsonb_typeof(d.payload) WHEN 'array' THEN d.payload ELSE jsonb_build_array(d.payload) END)`;

const VIEW_COLUMNS = `d.id, d.webhook_id AS "webhookId", d.event_id AS "eventId", d.action,
  ${EVENTS}->0->'target'->>'repository' AS repository, ${EVENTS}->0->'target'->>'tag' AS tag, ${EVENTS}->0->'target'->>'digest' AS digest,
  jsonb_array_length(${EVENTS}) AS "eventCount",
  d.status, d.attempts, d.last_status_code AS "lastStatusCode", d.last_error AS "lastError",
  d.next_attempt_at AS "nextAttemptAt", d.created_at AS "createdAt", d.updated_at AS "updatedAt"`;

/**
 * The delivery history of a subscription, redelivery and test pings. Rows in
 * webhook_deliveries are the truth; the queue only says "attempt this one now".
 */
@Injectable()
export class WebhookDeliveryService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly queue: DeliveryQueue,
  ) {}

  /** Newest first. */
  async list(scope: WebhookScope, webhookId: string, query: DeliveryQuery): Promise<Page<DeliveryView>> {
    const { id } = await requireWebhook(this.dataSource.manager, scope, webhookId);
    const where = `WHERE d.webhook_id = $1 AND ($2::text IS NULL OR d.status = $2)`;
    const params = [id, query.status ?? null];
    const [{ total }]: { total: string }[] = await this.dataSource.query(`SELECT count(*) AS total FROM webhook_deliveries d ${where}`, params);
    const items: DeliveryView[] = await this.dataSource.query(
      `SELECT ${VIEW_COLUMNS} FROM webhook_deliveries d ${where} ORDER BY d.created_at DESC, d.id DESC LIMIT $3 OFFSET $4`,
      [...params, query.perPage, pageOffset(query)],
    );
    return { items, page: query.page, perPage: query.perPage, total: Number(total) };
  }

  async get(scope: WebhookScope, webhookId: string, deliveryId: string): Promise<DeliveryDetail> {
    const { id } = await requireWebhook(this.dataSource.manager, scope, webhookId);
    const rows: (DeliveryView & { event: unknown; events: unknown[] })[] = isUuid(deliveryId)
      ? await this.dataSource.query(`SELECT ${VIEW_COLUMNS}, ${EVENTS}->0 AS event, ${EVENTS} AS events FROM webhook_deliveries d WHERE d.id = $1 AND d.webhook_id = $2`, [
          deliveryId,
          id,
        ])
      : [];
    if (!rows.length) throw deliveryNotFound(deliveryId);
    // The list of attempts replaces their count.
    const { attempts: _count, ...delivery } = rows[0];
    const attempts: AttemptView[] = await this.dataSource.query(
      `SELECT attempt, at, status_code AS "statusCode", duration_ms AS "durationMs", error, next_retry_at AS "nextRetryAt"
         FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt, id`,
      [delivery.id],
    );
    return { ...delivery, attempts };
  }

  /**
   * Sends the delivery's event (or batch of events) again, with a fresh attempt budget: for a delivery that failed or
   * died, and also for one that succeeded (asking for it is explicit enough: a
   * subscriber may have lost what it received). A pending delivery is already on its way: 409.
   */
  async redeliver(scope: WebhookScope, webhookId: string, deliveryId: string, ctx: ChangeContext): Promise<DeliveryView> {
    const delivery = await this.dataSource.transaction(async (manager) => {
      const { id } = await requireWebhook(manager, scope, webhookId);
      const current = await this.find(manager, id, deliveryId, true);
      // A missing delivery is 404 even while notifications are off.
      this.requireQueue();
      if (current.status === 'pending') throw new ConflictException(`delivery ${current.id} is pending: it is already queued for an attempt`);
      await manager.query(`UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now() WHERE id = $1`, [current.id]);
      await this.audit.record(
        {
          ...ctx,
          action: 'webhook.redeliver',
          target: webhookTarget(id),
          detail: { deliveryId: current.id, eventId: current.eventId, previousStatus: current.status },
        },
        manager,
      );
      return this.find(manager, id, current.id);
    });
    await this.queue.enqueue([delivery.id], { redelivery: true });
    return delivery;
  }

  /** Queues a test event (action `ping`, see ping-event.ts) for the subscription, enabled or not. */
  async ping(scope: WebhookScope, webhookId: string, ctx: ChangeContext): Promise<DeliveryView> {
    await requireWebhook(this.dataSource.manager, scope, webhookId);
    this.requireQueue();
    const event = pingEvent(typeof ctx.actor === 'string' ? ctx.actor : actorName(ctx.actor), ctx.clientAddr);
    const delivery = await this.dataSource.transaction(async (manager) => {
      const { id } = await requireWebhook(manager, scope, webhookId);
      const deliveryId = randomUUID();
      await manager.query(
        `INSERT INTO webhook_deliveries (id, webhook_id, event_id, action, payload, status, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', now())`,
        [deliveryId, id, event.id, PING_ACTION, JSON.stringify(event)],
      );
      await this.audit.record({ ...ctx, action: 'webhook.ping', target: webhookTarget(id), detail: { deliveryId, eventId: event.id } }, manager);
      return this.find(manager, id, deliveryId);
    });
    await this.queue.enqueue([delivery.id]);
    return delivery;
  }

  /** Without Redis nothing would ever send it: refuse rather than leave a delivery pending forever. */
  private requireQueue(): void {
    if (!this.queue.enabled) {
      throw new ConflictException('webhook notifications are off: REDIS_URL is not set, so nothing can be delivered');
    }
  }

  private async find(manager: EntityManager, webhookId: string, deliveryId: string, lock = false): Promise<DeliveryView> {
    const rows: DeliveryView[] = isUuid(deliveryId)
      ? await manager.query(`SELECT ${VIEW_COLUMNS} FROM webhook_deliveries d WHERE d.id = $1 AND d.webhook_id = $2 ${lock ? 'FOR UPDATE' : ''}`, [
          deliveryId,
          webhookId,
        ])
      : [];
    if (!rows.length) throw deliveryNotFound(deliveryId);
    return rows[0];
  }
}

function deliveryNotFound(id: string): NotFoundException {
  return new NotFoundException(`delivery ${id.slice(0, 100)} not found`);
}

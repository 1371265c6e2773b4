import { z } from 'zod';
import { DELIVERY_STATUSES, WEBHOOK_ACTIONS, WEBHOOK_HEADER_VALUE_MAX, WEBHOOK_LIMITS } from '../notifications.js';
import { pageOf, pageQuery, timestamp } from './common.schemas.js';

const webhookAction = z.enum(WEBHOOK_ACTIONS).meta({ id: 'WebhookAction' });

/** Header names are checked by the service (HTTP token, not one the registry sets), field by field. */
const headers = z.record(z.string(), z.string().max(WEBHOOK_HEADER_VALUE_MAX));

const webhookFields = {
  name: z.string().min(1).max(WEBHOOK_LIMITS.nameMax),
  url: z.string().min(1).max(WEBHOOK_LIMITS.urlMax),
  /** Extra headers sent with every delivery; responses show their names, values masked. */
  headers: headers.nullable().optional(),
  /** null or absent: every action. */
  actions: z.array(webhookAction).min(1).nullable().optional(),
  ignoredMediaTypes: z.array(z.string().min(1).max(WEBHOOK_LIMITS.mediaTypeMax)).max(WEBHOOK_LIMITS.ignoredMediaTypesMax).optional(),
  /** `*` matches within one path component, `**` across them; a namespace's must start with `<ns>/`. */
  repositoryPattern: z.string().min(1).max(255).nullable().optional(),
  enabled: z.boolean().optional(),
  timeoutMs: z.number().int().min(WEBHOOK_LIMITS.timeoutMs.min).max(WEBHOOK_LIMITS.timeoutMs.max).optional(),
  maxAttempts: z.number().int().min(WEBHOOK_LIMITS.maxAttempts.min).max(WEBHOOK_LIMITS.maxAttempts.max).optional(),
};

export const createWebhookBody = z
  .strictObject({
    ...webhookFields,
    secret: z
      .string()
      .min(WEBHOOK_LIMITS.secretMin)
      .max(WEBHOOK_LIMITS.secretMax)
      .optional()
      .describe('The signing secret; absent: a random one is generated. The answer shows it this once'),
  })
  .meta({ id: 'CreateWebhookRequest' });

/** The secret changes only through rotate-secret. */
export const updateWebhookBody = z
  .strictObject({ ...webhookFields, name: webhookFields.name.optional(), url: webhookFields.url.optional() })
  .refine((body) => Object.values(body).some((value) => value !== undefined), 'give at least one field to change')
  .meta({ id: 'UpdateWebhookRequest', description: 'At least one field; headers replace the whole set, a masked value keeps that header' });

export const deliveryQuery = pageQuery.extend({ status: z.enum(DELIVERY_STATUSES).optional() });

export const webhookView = z
  .object({
    id: z.string(),
    namespace: z.string().nullable().describe('null for a global subscription'),
    name: z.string(),
    url: z.string(),
    headers: z.record(z.string(), z.string()).describe('Header names with masked values'),
    actions: z.array(webhookAction).nullable().describe('null: every action'),
    ignoredMediaTypes: z.array(z.string()),
    repositoryPattern: z.string().nullable().describe('null: every repository the subscription may see'),
    enabled: z.boolean(),
    timeoutMs: z.number().int(),
    maxAttempts: z.number().int(),
    createdBy: z.string(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Webhook', description: 'A subscription, without its secret' });

export const webhookPage = pageOf(webhookView, 'WebhookPage');

/** The answer to create and rotate-secret: the only times the secret is shown. */
export const webhookWithSecret = z
  .object({ webhook: webhookView, secret: z.string().describe('Shown this once') })
  .meta({ id: 'WebhookWithSecret' });

const deliveryFields = {
  id: z.string(),
  webhookId: z.string(),
  eventId: z.string().describe("The (first) event's id; also the X-Berth-Event header"),
  action: z.string().describe('push, pull, mount, delete, or ping'),
  repository: z.string().nullable(),
  tag: z.string().nullable(),
  digest: z.string().nullable(),
  eventCount: z.number().int().describe('1, or up to 500 for a batch of pull events'),
  status: z.enum(DELIVERY_STATUSES),
  lastStatusCode: z.number().int().nullable(),
  lastError: z.string().nullable(),
  nextAttemptAt: timestamp.nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
};

export const deliveryView = z
  .object({ ...deliveryFields, attempts: z.number().int().describe('Attempts made so far') })
  .meta({ id: 'Delivery', description: 'One delivery of one event, or of a batch of pull events, to one subscription' });

export const deliveryPage = pageOf(deliveryView, 'DeliveryPage');

export const deliveryAttempt = z
  .object({
    attempt: z.number().int(),
    at: timestamp,
    statusCode: z.number().int().nullable(),
    durationMs: z.number().int(),
    error: z.string().nullable(),
    nextRetryAt: timestamp.nullable(),
  })
  .meta({ id: 'DeliveryAttempt' });

export const deliveryDetail = z
  .object({
    ...deliveryFields,
    event: z.unknown().describe('The (first) event as it is sent'),
    events: z.array(z.unknown()).describe('Every event it sends, in order'),
    attempts: z.array(deliveryAttempt),
  })
  .meta({ id: 'DeliveryDetail' });

const count = z.number().int();

export const notificationsStatus = z
  .object({
    enabled: z.boolean(),
    reason: z.string().optional().describe('Why notifications are off; absent when they are on'),
    workers: z.boolean().describe('Whether this process sends deliveries'),
    redis: z.enum(['reachable', 'unreachable']).optional(),
    queue: z.object({ waiting: count, active: count, delayed: count, completed: count, failed: count }).optional().describe('Absent while Redis is unreachable'),
    outboxBacklog: count.optional().describe('Events not yet relayed to deliveries'),
    deliveries: z.object({ pending: count, failed: count, dead: count }).optional(),
  })
  .meta({ id: 'NotificationsStatus', description: 'Whether webhook notifications are on; the counts only when they are' });

import { z } from 'zod';
import { DELIVERY_STATUSES, WEBHOOK_ACTIONS, WEBHOOK_HEADER_VALUE_MAX, WEBHOOK_LIMITS } from '../notifications.js';
import { pageQuery } from './common.schemas.js';

/** Header names are checked by the service (HTTP token, not one the registry sets), field by field. */
const headers = z.record(z.string(), z.string().max(WEBHOOK_HEADER_VALUE_MAX));

const webhookFields = {
  name: z.string().min(1).max(WEBHOOK_LIMITS.nameMax),
  url: z.string().min(1).max(WEBHOOK_LIMITS.urlMax),
  /** Extra headers sent with every delivery; responses show their names, values masked. */
  headers: headers.nullable().optional(),
  /** null or absent: every action. */
  actions: z.array(z.enum(WEBHOOK_ACTIONS)).min(1).nullable().optional(),
  ignoredMediaTypes: z.array(z.string().min(1).max(WEBHOOK_LIMITS.mediaTypeMax)).max(WEBHOOK_LIMITS.ignoredMediaTypesMax).optional(),
  /** `*` matches within one path component, `**` across them; a namespace's must start with `<ns>/`. */
  repositoryPattern: z.string().min(1).max(255).nullable().optional(),
  enabled: z.boolean().optional(),
  timeoutMs: z.number().int().min(WEBHOOK_LIMITS.timeoutMs.min).max(WEBHOOK_LIMITS.timeoutMs.max).optional(),
  maxAttempts: z.number().int().min(WEBHOOK_LIMITS.maxAttempts.min).max(WEBHOOK_LIMITS.maxAttempts.max).optional(),
};

export const createWebhookBody = z.strictObject({
  ...webhookFields,
  /** Absent: a random one is generated. The answer shows it this once. */
  secret: z.string().min(WEBHOOK_LIMITS.secretMin).max(WEBHOOK_LIMITS.secretMax).optional(),
});

/** The secret changes only through rotate-secret. */
export const updateWebhookBody = z
  .strictObject({ ...webhookFields, name: webhookFields.name.optional(), url: webhookFields.url.optional() })
  .refine((body) => Object.values(body).some((value) => value !== undefined), 'give at least one field to change');

export const deliveryQuery = pageQuery.extend({ status: z.enum(DELIVERY_STATUSES).optional() });

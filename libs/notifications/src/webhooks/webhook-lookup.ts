import { NotFoundException } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { namespaceNotFound } from '@berth/auth';
import type { WebhookScope } from './webhook-scope.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Joined as `w` (webhooks) and `n` (its namespace); `$1` is the scope's namespace name, null for global. */
export const WEBHOOK_IN_SCOPE = `(($1::text IS NULL AND w.namespace_id IS NULL) OR n.name = $1)`;

export function scopeParam(scope: WebhookScope): string | null {
  return scope.kind === 'global' ? null : scope.namespace;
}

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export interface WebhookRef {
  id: string;
  name: string;
}

/**
 * The subscription when it lives in this scope. Another scope's subscription is
 * as unknown as a missing one: 404, never 403, so its existence does not leak.
 */
export async function requireWebhook(manager: EntityManager, scope: WebhookScope, id: string, lock = false): Promise<WebhookRef> {
  if (!isUuid(id)) throw webhookNotFound(id);
  const rows: WebhookRef[] = await manager.query(
    `SELECT w.id, w.name FROM webhooks w LEFT JOIN namespaces n ON n.id = w.namespace_id
      WHERE ${WEBHOOK_IN_SCOPE} AND w.id = $2 ${lock ? 'FOR UPDATE OF w' : ''}`,
    [scopeParam(scope), id],
  );
  if (!rows.length) throw webhookNotFound(id);
  return rows[0];
}

/** The namespace's id, or null for global subscriptions. */
export async function scopeNamespaceId(manager: EntityManager, scope: WebhookScope): Promise<string | null> {
  if (scope.kind === 'global') return null;
  const rows: { id: string }[] = await manager.query(`SELECT id FROM namespaces WHERE name = $1`, [scope.namespace]);
  if (!rows.length) throw namespaceNotFound(scope.namespace);
  return rows[0].id;
}

export function webhookNotFound(id: string): NotFoundException {
  return new NotFoundException(`webhook ${id.slice(0, 100)} not found`);
}

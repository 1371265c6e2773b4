import { randomBytes, randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, type ChangeContext, type Page, type PageRequest, actorName, fieldError, pageOffset } from '@berth/auth';
import { SecretBox } from '../secret-box.js';
import { TargetNotAllowedError, TargetPolicy } from '../target-policy.js';
import { MASKED_HEADER_VALUE, type WebhookHeaders, maskHeaders, openWebhookHeaders, sealWebhookHeaders } from './webhook-headers.js';
import { WEBHOOK_IN_SCOPE, isUuid, requireWebhook, scopeNamespaceId, scopeParam, webhookNotFound } from './webhook-lookup.js';
import type { WebhookScope } from './webhook-scope.js';
import {
  type NewWebhook,
  type WebhookChanges,
  type WebhookSettings,
  checkSecret,
  checkWebhookSettings,
  checkWebhookUrl,
  withDefaults,
} from './webhook-settings.js';

/** A subscription as the API shows it: never its secret, and `headers` with masked values. */
export interface WebhookView extends WebhookSettings {
  id: string;
  /** null for a global subscription. */
  namespace: string | null;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}

/** The answer to create and rotate-secret: the only times the secret is shown. */
export interface WebhookWithSecret {
  webhook: WebhookView;
  secret: string;
}

interface WebhookRow extends Omit<WebhookView, 'headers'> {
  headersEncrypted: string | null;
}

const VIEW_SELECT = `SELECT w.id, n.name AS namespace, w.name, w.url, w.headers_encrypted AS "headersEncrypted", w.actions,
         w.ignored_media_types AS "ignoredMediaTypes", w.repository_pattern AS "repositoryPattern", w.enabled,
         w.timeout_ms AS "timeoutMs", w.max_attempts AS "maxAttempts", w.created_by AS "createdBy",
         w.created_at AS "createdAt", w.updated_at AS "updatedAt"
    FROM webhooks w LEFT JOIN namespaces n ON n.id = w.namespace_id`;

/**
 * Webhook subscriptions, global or per namespace. The signing secret and the custom
 * headers are stored encrypted; the secret is shown at creation and rotation only.
 */
@Injectable()
export class WebhookService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly box: SecretBox,
    private readonly targets: TargetPolicy,
  ) {}

  async create(scope: WebhookScope, input: NewWebhook, ctx: ChangeContext): Promise<WebhookWithSecret> {
    const settings = checkWebhookSettings(scope, withDefaults(input));
    if (input.secret !== undefined) checkSecret(input.secret);
    this.checkTarget(settings.url);
    const secret = input.secret ?? randomBytes(32).toString('base64url');
    const id = randomUUID();
    await this.dataSource.transaction(async (manager) => {
      const namespaceId = await scopeNamespaceId(manager, scope);
      await manager.query(
        `INSERT INTO webhooks (id, namespace_id, name, url, secret_encrypted, headers_encrypted, actions, ignored_media_types,
                               repository_pattern, enabled, timeout_ms, max_attempts, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
        [
          id,
          namespaceId,
          settings.name,
          settings.url,
          this.box.encrypt(secret),
          sealWebhookHeaders(this.box, settings.headers),
          settings.actions,
          settings.ignoredMediaTypes,
          settings.repositoryPattern,
          settings.enabled,
          settings.timeoutMs,
          settings.maxAttempts,
          typeof ctx.actor === 'string' ? ctx.actor : actorName(ctx.actor),
        ],
      );
      await this.audit.record(
        { ...ctx, action: 'webhook.create', target: webhookTarget(id), detail: { namespace: scopeParam(scope), ...auditable(settings) } },
        manager,
      );
    });
    return { webhook: await this.get(scope, id), secret };
  }

  async list(scope: WebhookScope, page: PageRequest): Promise<Page<WebhookView>> {
    await scopeNamespaceId(this.dataSource.manager, scope);
    const params = [scopeParam(scope)];
    const [{ total }]: { total: string }[] = await this.dataSource.query(
      `SELECT count(*) AS total FROM webhooks w LEFT JOIN namespaces n ON n.id = w.namespace_id WHERE ${WEBHOOK_IN_SCOPE}`,
      params,
    );
    const rows: WebhookRow[] = await this.dataSource.query(
      `${VIEW_SELECT} WHERE ${WEBHOOK_IN_SCOPE} ORDER BY w.name, w.created_at, w.id LIMIT $2 OFFSET $3`,
      [...params, page.perPage, pageOffset(page)],
    );
    return { items: rows.map((row) => this.view(row)), page: page.page, perPage: page.perPage, total: Number(total) };
  }

  async get(scope: WebhookScope, id: string): Promise<WebhookView> {
    if (!isUuid(id)) throw webhookNotFound(id);
    const rows: WebhookRow[] = await this.dataSource.query(`${VIEW_SELECT} WHERE ${WEBHOOK_IN_SCOPE} AND w.id = $2`, [scopeParam(scope), id]);
    if (!rows.length) throw webhookNotFound(id);
    return this.view(rows[0]);
  }

  /** Changes what is given. A new URL is checked against the target policy; the secret changes only by rotation. */
  async update(scope: WebhookScope, id: string, changes: WebhookChanges, ctx: ChangeContext): Promise<WebhookView> {
    if (changes.url !== undefined) {
      checkWebhookUrl(changes.url);
      this.checkTarget(changes.url);
    }
    await this.dataSource.transaction(async (manager) => {
      const { id: webhookId } = await requireWebhook(manager, scope, id, true);
      const { sealedHeaders, ...current } = await this.settings(manager, webhookId);
      const next = checkWebhookSettings(scope, {
        ...current,
        ...definedOnly(changes),
        headers: changes.headers === undefined ? current.headers : unmaskHeaders(changes.headers ?? {}, current.headers),
      });
      const changed = (Object.keys(next) as (keyof WebhookSettings)[]).filter((key) => !sameValue(next[key], current[key]));
      if (!changed.length) return;
      await manager.query(
        `UPDATE webhooks SET name = $2, url = $3, headers_encrypted = $4, actions = $5, ignored_media_types = $6,
                repository_pattern = $7, enabled = $8, timeout_ms = $9, max_attempts = $10, updated_at = now()
          WHERE id = $1`,
        [
          webhookId,
          next.name,
          next.url,
          changed.includes('headers') ? sealWebhookHeaders(this.box, next.headers) : sealedHeaders,
          next.actions,
          next.ignoredMediaTypes,
          next.repositoryPattern,
          next.enabled,
          next.timeoutMs,
          next.maxAttempts,
        ],
      );
      const detail = auditable(Object.fromEntries(changed.map((key) => [key, next[key]])));
      await this.audit.record({ ...ctx, action: 'webhook.update', target: webhookTarget(webhookId), detail: { name: next.name, changes: detail } }, manager);
    });
    return this.get(scope, id);
  }

  /** Deletes the subscription with its delivery history. */
  async delete(scope: WebhookScope, id: string, ctx: ChangeContext): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const webhook = await requireWebhook(manager, scope, id, true);
      await manager.query(`DELETE FROM webhooks WHERE id = $1`, [webhook.id]);
      await this.audit.record({ ...ctx, action: 'webhook.delete', target: webhookTarget(webhook.id), detail: { name: webhook.name } }, manager);
    });
  }

  /** Replaces the signing secret with a new random one: deliveries sent from now on are signed with it. */
  async rotateSecret(scope: WebhookScope, id: string, ctx: ChangeContext): Promise<WebhookWithSecret> {
    const secret = randomBytes(32).toString('base64url');
    await this.dataSource.transaction(async (manager) => {
      const webhook = await requireWebhook(manager, scope, id, true);
      await manager.query(`UPDATE webhooks SET secret_encrypted = $2, updated_at = now() WHERE id = $1`, [webhook.id, this.box.encrypt(secret)]);
      await this.audit.record({ ...ctx, action: 'webhook.rotate-secret', target: webhookTarget(webhook.id), detail: { name: webhook.name } }, manager);
    });
    return { webhook: await this.get(scope, id), secret };
  }

  private checkTarget(url: string): void {
    try {
      this.targets.assertAllowedUrl(url);
    } catch (err) {
      if (err instanceof TargetNotAllowedError) throw fieldError('url', err.message);
      throw err;
    }
  }

  private async settings(manager: EntityManager, id: string): Promise<WebhookSettings & { sealedHeaders: string | null }> {
    const [row]: (Omit<WebhookSettings, 'headers'> & { sealedHeaders: string | null })[] = await manager.query(
      `SELECT name, url, headers_encrypted AS "sealedHeaders", actions, ignored_media_types AS "ignoredMediaTypes",
              repository_pattern AS "repositoryPattern", enabled, timeout_ms AS "timeoutMs", max_attempts AS "maxAttempts"
         FROM webhooks WHERE id = $1`,
      [id],
    );
    return { ...row, headers: openWebhookHeaders(this.box, row.sealedHeaders) };
  }

  private view({ headersEncrypted, ...row }: WebhookRow): WebhookView {
    return { ...row, headers: maskHeaders(openWebhookHeaders(this.box, headersEncrypted)) };
  }
}

export function webhookTarget(id: string): string {
  return `webhook:${id}`;
}

/**
 * Settings as audit entries record them: header names without values, and the URL's
 * origin only (some services put a token in the path of their webhook URLs).
 */
function auditable(settings: Partial<WebhookSettings>): Record<string, unknown> {
  const detail: Record<string, unknown> = { ...settings };
  if (settings.url !== undefined) detail.url = new URL(settings.url).origin;
  if (settings.headers !== undefined) detail.headers = Object.keys(settings.headers);
  return detail;
}

/**
 * The new header set; a value sent back masked (as a GET shows it) keeps the stored
 * value of that header, so reading, editing and sending back a subscription works.
 */
function unmaskHeaders(headers: WebhookHeaders, current: WebhookHeaders): WebhookHeaders {
  const stored = new Map(Object.entries(current).map(([name, value]) => [name.toLowerCase(), value]));
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => {
      if (value !== MASKED_HEADER_VALUE) return [name, value];
      const kept = stored.get(name.toLowerCase());
      if (kept === undefined) throw fieldError(`headers.${name}`, `is masked (${MASKED_HEADER_VALUE}) but no such header is stored: give its value`);
      return [name, kept];
    }),
  );
}

function definedOnly<T extends object>(changes: T): Partial<T> {
  return Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

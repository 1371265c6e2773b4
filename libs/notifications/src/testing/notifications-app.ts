import { randomUUID } from 'node:crypto';
import { type INestApplicationContext, Module, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BerthConfig, ConfigModule } from '@berth/config';
import { DatabaseModule } from '@berth/database';
import { NotificationsModule } from '../notifications.module.js';
import type { NotificationsOptions } from '../notifications-options.js';
import type { EventContext } from '../registry-event.js';
import { SecretBox } from '../secret-box.js';
import type { TestDatabase } from '../../../../test/support/database.js';

/** The key every test app shares, so that secrets sealed by one app open in the next. */
export const TEST_SECRETS_KEY = Buffer.alloc(32, 7).toString('base64');

export interface NotificationsAppSettings {
  database: TestDatabase;
  dataDir: string;
  /** Absent: notifications are off. */
  redisUrl?: string;
  allowPrivateTargets?: boolean;
  options?: NotificationsOptions;
}

/** Records log lines (warnings and errors are printed too). */
export class RecordingLogger implements LoggerService {
  readonly lines: string[] = [];

  log(message: string): void {
    this.lines.push(message);
  }

  warn(message: string): void {
    this.lines.push(message);
  }

  error(message: string, ...rest: unknown[]): void {
    this.lines.push(message);
    console.error(message, ...rest);
  }
}

@Module({})
class NotificationsTestApp {}

/**
 * The notifications runtime as an application context, with the real configuration,
 * database and module; no HTTP, no registry around it.
 */
export async function startNotificationsApp(settings: NotificationsAppSettings, logger = new RecordingLogger()): Promise<INestApplicationContext> {
  const config = new BerthConfig({
    DATABASE_URL: settings.database.url,
    DATA_DIR: settings.dataDir,
    SECRETS_KEY: TEST_SECRETS_KEY,
    WEBHOOK_ALLOW_PRIVATE_TARGETS: String(settings.allowPrivateTargets ?? true),
    ...(settings.redisUrl ? { REDIS_URL: settings.redisUrl } : {}),
  });
  const app = await NestFactory.createApplicationContext(
    {
      module: NotificationsTestApp,
      imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(config), NotificationsModule.forRoot(config, settings.options)],
    },
    { logger, abortOnError: false },
  );
  await app.init();
  return app;
}

export interface WebhookSpec {
  url: string;
  secret?: string;
  namespaceId?: string | null;
  actions?: string[] | null;
  ignoredMediaTypes?: string[];
  repositoryPattern?: string | null;
  headers?: Record<string, string>;
  enabled?: boolean;
  timeoutMs?: number;
  maxAttempts?: number;
}

/** Inserts a subscription as the webhooks API stores it (secret and headers sealed). */
export async function insertWebhook(database: TestDatabase, spec: WebhookSpec): Promise<string> {
  const box = SecretBox.fromBase64(TEST_SECRETS_KEY);
  const id = randomUUID();
  await database.query(
    `INSERT INTO webhooks (id, namespace_id, name, url, secret_encrypted, headers_encrypted, actions, ignored_media_types,
                           repository_pattern, enabled, timeout_ms, max_attempts, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'test')`,
    [
      id,
      spec.namespaceId ?? null,
      `hook-${id.slice(0, 8)}`,
      spec.url,
      box.encrypt(spec.secret ?? 'test-secret'),
      spec.headers ? box.encrypt(JSON.stringify(spec.headers)) : null,
      spec.actions ?? null,
      spec.ignoredMediaTypes ?? [],
      spec.repositoryPattern ?? null,
      spec.enabled ?? true,
      spec.timeoutMs ?? 2000,
      spec.maxAttempts ?? 10,
    ],
  );
  return id;
}

export function eventContext(actor = 'alice'): EventContext {
  return { requestId: randomUUID(), addr: '10.1.2.3:5555', host: 'registry.test:5000', method: 'PUT', userAgent: 'docker/27.0', actor };
}

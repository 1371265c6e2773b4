import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhook subscriptions, the transactional outbox of registry events, and deliveries
 * with every attempt. Secrets and custom headers are stored encrypted.
 */
export class Notifications1764300000000 implements MigrationInterface {
  name = 'Notifications1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE webhooks (
        id uuid PRIMARY KEY,
        namespace_id bigint REFERENCES namespaces(id) ON DELETE CASCADE,
        name varchar(100) NOT NULL,
        url text NOT NULL,
        secret_encrypted text NOT NULL,
        headers_encrypted text,
        actions text[],
        ignored_media_types text[] NOT NULL DEFAULT '{}',
        repository_pattern text,
        enabled boolean NOT NULL DEFAULT true,
        timeout_ms integer NOT NULL DEFAULT 5000,
        max_attempts integer NOT NULL DEFAULT 10,
        created_by varchar(200) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX webhooks_namespace_idx ON webhooks (namespace_id)`);
    await q.query(`
      CREATE TABLE event_outbox (
        id bigserial PRIMARY KEY,
        event_id uuid NOT NULL UNIQUE,
        payload jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        relayed_at timestamptz
      )`);
    await q.query(`CREATE INDEX event_outbox_pending_idx ON event_outbox (id) WHERE relayed_at IS NULL`);
    await q.query(`
      CREATE TABLE webhook_deliveries (
        id uuid PRIMARY KEY,
        webhook_id uuid NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        event_id uuid NOT NULL,
        action varchar(32) NOT NULL,
        payload jsonb NOT NULL,
        status varchar(16) NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'dead')),
        attempts integer NOT NULL DEFAULT 0,
        last_status_code integer,
        last_error text,
        next_attempt_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (webhook_id, event_id)
      )`);
    await q.query(`CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at DESC)`);
    await q.query(`CREATE INDEX webhook_deliveries_open_idx ON webhook_deliveries (next_attempt_at) WHERE status IN ('pending', 'failed')`);
    await q.query(`
      CREATE TABLE webhook_attempts (
        id bigserial PRIMARY KEY,
        delivery_id uuid NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
        attempt integer NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        status_code integer,
        duration_ms integer NOT NULL,
        error text,
        next_retry_at timestamptz
      )`);
    await q.query(`CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['webhook_attempts', 'webhook_deliveries', 'event_outbox', 'webhooks']) {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Proxy namespaces (pull-through caches of an upstream registry). A namespace of kind
 * `proxy` has one row in `proxy_upstreams`: where its content comes from, the credentials
 * (sealed with SECRETS_KEY), and the upstream's health as the replicas last saw it.
 * `proxy_tag_checks` records when each cached tag was last confirmed upstream, so a tag
 * is trusted for tag_ttl_seconds without asking again; a check row outlives its tag only
 * until the tag is cached again (it is keyed by name, and read joined with `tags`).
 */
export class ProxyNamespaces1765000000090 implements MigrationInterface {
  name = 'ProxyNamespaces1765000000090';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE namespaces DROP CONSTRAINT namespaces_kind_check`);
    await q.query(`ALTER TABLE namespaces ADD CONSTRAINT namespaces_kind_check CHECK (kind IN ('organization', 'user', 'proxy'))`);
    await q.query(`
      CREATE TABLE proxy_upstreams (
        namespace_id bigint PRIMARY KEY REFERENCES namespaces(id) ON DELETE CASCADE,
        url varchar(2048) NOT NULL,
        host varchar(255) COLLATE "C" NOT NULL,
        path_prefix varchar(255) COLLATE "C",
        username varchar(255),
        sealed_password text,
        sealed_token text,
        insecure boolean NOT NULL DEFAULT false,
        ca_bundle text,
        tag_ttl_seconds integer NOT NULL DEFAULT 300 CHECK (tag_ttl_seconds >= 0),
        last_success_at timestamptz,
        last_error_at timestamptz,
        last_error varchar(500),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE proxy_tag_checks (
        repository_id bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        tag varchar(128) COLLATE "C" NOT NULL,
        checked_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (repository_id, tag)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS proxy_tag_checks`);
    await q.query(`DROP TABLE IF EXISTS proxy_upstreams`);
    await q.query(`DELETE FROM namespaces WHERE kind = 'proxy'`);
    await q.query(`ALTER TABLE namespaces DROP CONSTRAINT namespaces_kind_check`);
    await q.query(`ALTER TABLE namespaces ADD CONSTRAINT namespaces_kind_check CHECK (kind IN ('organization', 'user'))`);
  }
}

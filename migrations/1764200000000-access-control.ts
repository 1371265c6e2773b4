import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Accounts, namespaces with their members and roles, robot accounts, the audit log,
 * and failed-login counters (kept in the database so every replica sees them).
 */
export class AccessControl1764200000000 implements MigrationInterface {
  name = 'AccessControl1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE users (
        id bigserial PRIMARY KEY,
        username varchar(64) COLLATE "C" NOT NULL UNIQUE,
        password_hash text NOT NULL,
        is_admin boolean NOT NULL DEFAULT false,
        disabled boolean NOT NULL DEFAULT false,
        password_changed_at timestamptz NOT NULL DEFAULT now(),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE namespaces (
        id bigserial PRIMARY KEY,
        name varchar(64) COLLATE "C" NOT NULL UNIQUE,
        kind varchar(16) NOT NULL CHECK (kind IN ('organization', 'user')),
        visibility varchar(16) NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'public')),
        owner_user_id bigint REFERENCES users(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE memberships (
        namespace_id bigint NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
        user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role varchar(16) NOT NULL CHECK (role IN ('reader', 'developer', 'maintainer', 'owner')),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (namespace_id, user_id)
      )`);
    await q.query(`CREATE INDEX memberships_user_idx ON memberships (user_id)`);
    await q.query(`
      CREATE TABLE robots (
        id bigserial PRIMARY KEY,
        namespace_id bigint NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
        name varchar(64) COLLATE "C" NOT NULL,
        description text,
        secret_hash varchar(64) NOT NULL,
        actions text[] NOT NULL,
        repositories text[],
        expires_at timestamptz,
        revoked_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (namespace_id, name)
      )`);
    await q.query(`
      CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        actor varchar(200) NOT NULL,
        action varchar(64) NOT NULL,
        target varchar(300) NOT NULL,
        detail jsonb,
        client_addr varchar(64)
      )`);
    await q.query(`CREATE INDEX audit_log_at_idx ON audit_log (at DESC)`);
    await q.query(`
      CREATE TABLE login_failures (
        key varchar(200) PRIMARY KEY,
        failures integer NOT NULL,
        window_start timestamptz NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['login_failures', 'audit_log', 'robots', 'memberships', 'namespaces', 'users']) {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}

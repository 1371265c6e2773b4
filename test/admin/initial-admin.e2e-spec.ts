import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditService, CredentialGenerationStore, PasswordHasher } from '@berth/auth';
import { BerthConfig } from '@berth/config';
import { ManifestChanges, openDatabase } from '@berth/database';
import { UserService } from '../../libs/auth/src/accounts/index.js';
import { TestDatabase } from '../support/database.js';
import { adminSuiteAvailable } from './support.js';

const available = await adminSuiteAvailable('admin/initial-admin');

/** UserService.ensureInitialAdmin on its own database: what start-up does before anyone can log in. */
describe.skipIf(!available)('the first administrator', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let users: UserService;
  const hasher = new PasswordHasher();

  beforeAll(async () => {
    database = await TestDatabase.create('berth_first');
    dataSource = await openDatabase(new BerthConfig({ DATABASE_URL: database.url }));
    users = new UserService(dataSource, hasher, new AuditService(dataSource), new CredentialGenerationStore(), new ManifestChanges());
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await database?.drop();
  });

  it('is created once, with a random password printed once when none is configured', async () => {
    const logged: string[] = [];
    const results = await Promise.all([1, 2, 3].map(() => users.ensureInitialAdmin('root', undefined, (m) => logged.push(m))));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(logged).toHaveLength(1);
    const password = /password (\S+)/.exec(logged[0])?.[1] ?? '';
    expect(password).toHaveLength(24);
    const [row]: { password_hash: string; is_admin: boolean }[] = await dataSource.query(
      `SELECT password_hash, is_admin FROM users WHERE username = 'root'`,
    );
    expect(row.is_admin).toBe(true);
    expect(await hasher.verify(row.password_hash, password)).toBe(true);
    expect(await dataSource.query(`SELECT kind FROM namespaces WHERE name = 'root'`)).toEqual([{ kind: 'user' }]);
    const audit: { actor: string; action: string; detail: unknown }[] = await dataSource.query(`SELECT actor, action, detail FROM audit_log`);
    expect(audit).toEqual([{ actor: 'system', action: 'user.create', detail: { isAdmin: true } }]);
    expect(JSON.stringify(audit)).not.toContain(password);
  });

  it('does nothing once a user exists, and never logs a configured password', async () => {
    const logged: string[] = [];
    expect(await users.ensureInitialAdmin('other', 'configured-password', (m) => logged.push(m))).toBe(false);
    expect(logged).toEqual([]);
    expect(await dataSource.query(`SELECT username FROM users`)).toEqual([{ username: 'root' }]);
  });
});

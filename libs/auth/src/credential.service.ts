import { Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { DataSource } from 'typeorm';
import { RegistryError } from '@berth/core';
import type { RegistryAction } from '@berth/database';
import type { Identity, RobotIdentity, UserIdentity } from './identity.js';
import { LoginThrottleService } from './login-throttle.service.js';
import { PasswordHasher } from './password-hasher.js';

const VERIFIED_CACHE_LIMIT = 10_000;

/**
 * Checks usernames with passwords and robot logins with secrets. Failures are
 * counted per account and address (429 past the limit) and all look alike to the
 * caller. Scripts that send Basic credentials on every request would pay a full
 * argon2 verification each time, so a successful check is remembered, keyed by the
 * stored hash: a password change or a disabled account takes effect at once.
 */
@Injectable()
export class CredentialService {
  private readonly verified = new Map<string, true>();
  private dummyHash?: Promise<string>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly hasher: PasswordHasher,
    private readonly throttle: LoginThrottleService,
  ) {}

  /** Decodes an `Authorization: Basic …` header; undefined when it is not one. */
  static parseBasic(header: string | undefined): { username: string; password: string } | undefined {
    if (!header?.startsWith('Basic ')) return undefined;
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }

  /** A user (`alice`) or robot (`team+ci`) login; throws UNAUTHORIZED or TOOMANYREQUESTS. */
  async authenticate(username: string, secret: string, address: string | undefined): Promise<UserIdentity | RobotIdentity> {
    await this.throttle.check(username, address);
    const identity = username.includes('+') ? await this.checkRobot(username, secret) : await this.checkUser(username, secret);
    if (!identity) {
      await this.throttle.recordFailure(username, address);
      throw new RegistryError('UNAUTHORIZED', 'incorrect username or password');
    }
    await this.throttle.recordSuccess(username);
    return identity;
  }

  /** The identity behind a token's subject, as it is now (undefined when gone or disabled). */
  async currentIdentity(username: string): Promise<Identity | undefined> {
    if (username.includes('+')) return this.loadRobot(username);
    const rows = await this.userRows(username);
    const user = rows[0];
    return user && !user.disabled ? { kind: 'user', id: user.id, username, isAdmin: user.is_admin } : undefined;
  }

  /** When the user last changed password (refresh tokens issued before it are void). */
  async passwordChangedAt(username: string): Promise<Date | undefined> {
    return (await this.userRows(username))[0]?.password_changed_at;
  }

  private async checkUser(username: string, password: string): Promise<UserIdentity | undefined> {
    const user = (await this.userRows(username))[0];
    if (!user) {
      // Same work as for a real account, so timing does not tell which usernames exist.
      await this.hasher.verify(await this.dummy(), password);
      return undefined;
    }
    const cacheKey = createHash('sha256').update(`${user.password_hash}\0${password}`).digest('base64');
    if (!this.verified.has(cacheKey)) {
      if (!(await this.hasher.verify(user.password_hash, password))) return undefined;
      this.remember(cacheKey);
    }
    if (user.disabled) return undefined;
    return { kind: 'user', id: user.id, username, isAdmin: user.is_admin };
  }

  private async checkRobot(login: string, secret: string): Promise<RobotIdentity | undefined> {
    const robot = await this.loadRobot(login, true);
    if (!robot) return undefined;
    const given = createHash('sha256').update(secret).digest();
    const stored = Buffer.from(robot.secretHash, 'hex');
    if (stored.length !== given.length || !timingSafeEqual(stored, given)) return undefined;
    const { secretHash: _secret, ...identity } = robot;
    return identity;
  }

  private async loadRobot(login: string, withSecret?: false): Promise<RobotIdentity | undefined>;
  private async loadRobot(login: string, withSecret: true): Promise<(RobotIdentity & { secretHash: string }) | undefined>;
  private async loadRobot(login: string, withSecret = false): Promise<(RobotIdentity & { secretHash?: string }) | undefined> {
    const plus = login.indexOf('+');
    const [namespace, name] = [login.slice(0, plus), login.slice(plus + 1)];
    const rows: { id: string; secret_hash: string; actions: RegistryAction[]; repositories: string[] | null }[] =
      await this.dataSource.query(
        `SELECT r.id, r.secret_hash, r.actions, r.repositories FROM robots r JOIN namespaces n ON n.id = r.namespace_id
          WHERE n.name = $1 AND r.name = $2 AND r.revoked_at IS NULL AND (r.expires_at IS NULL OR r.expires_at > now())`,
        [namespace, name],
      );
    const robot = rows[0];
    if (!robot) return undefined;
    return {
      kind: 'robot',
      id: String(robot.id),
      username: login,
      namespace,
      actions: robot.actions,
      repositories: robot.repositories,
      ...(withSecret ? { secretHash: robot.secret_hash } : {}),
    };
  }

  private userRows(username: string): Promise<{ id: string; password_hash: string; is_admin: boolean; disabled: boolean; password_changed_at: Date }[]> {
    return this.dataSource.query(
      'SELECT id, password_hash, is_admin, disabled, password_changed_at FROM users WHERE username = $1',
      [username],
    );
  }

  private dummy(): Promise<string> {
    this.dummyHash ??= this.hasher.hash('berth-timing-equaliser');
    return this.dummyHash;
  }

  private remember(key: string): void {
    if (this.verified.size >= VERIFIED_CACHE_LIMIT) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(key, true);
  }
}

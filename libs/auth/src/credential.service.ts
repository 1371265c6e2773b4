import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';
import { RegistryError } from '@berth/core';
import type { Identity, RobotIdentity, UserIdentity } from './identity.js';
import { type RobotCredentials, RobotService } from './accounts/robot.service.js';
import { robotSecretMatches } from './accounts/robot-secret.js';
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
    private readonly robots: RobotService,
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
    const { accountFailures } = await this.throttle.check(username, address);
    const identity = username.includes('+') ? await this.checkRobot(username, secret) : await this.checkUser(username, secret);
    if (!identity) {
      await this.throttle.recordFailure(username, address);
      throw new RegistryError('UNAUTHORIZED', 'incorrect username or password');
    }
    // Only a count that exists needs clearing: a Basic-authenticated client logs in on every request.
    if (accountFailures) await this.throttle.recordSuccess(username);
    return identity;
  }

  /** The identity behind a token's subject, as it is now (undefined when gone or disabled). */
  async currentIdentity(username: string): Promise<Identity | undefined> {
    if (username.includes('+')) {
      const robot = await this.activeRobot(username);
      return robot && robotIdentity(username, robot);
    }
    const rows = await this.userRows(username);
    const user = rows[0];
    return user && !user.disabled ? userIdentity(username, user) : undefined;
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
    return userIdentity(username, user);
  }

  private async checkRobot(login: string, secret: string): Promise<RobotIdentity | undefined> {
    const robot = await this.activeRobot(login);
    if (!robot || !robotSecretMatches(secret, robot.secretHash)) return undefined;
    return robotIdentity(login, robot);
  }

  /** The robot behind a `<namespace>+<name>` login, unless revoked or expired. */
  private async activeRobot(login: string): Promise<RobotCredentials | undefined> {
    const plus = login.indexOf('+');
    const robot = await this.robots.findForLogin(login.slice(0, plus), login.slice(plus + 1));
    if (!robot || robot.revokedAt || (robot.expiresAt && robot.expiresAt.getTime() <= Date.now())) return undefined;
    return robot;
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

function userIdentity(username: string, user: { id: string; is_admin: boolean; password_changed_at: Date }): UserIdentity {
  return { kind: 'user', id: user.id, username, isAdmin: user.is_admin, credentialVersion: user.password_changed_at.getTime() };
}

function robotIdentity(login: string, robot: RobotCredentials): RobotIdentity {
  return {
    kind: 'robot',
    id: String(robot.id),
    username: login,
    namespace: robot.namespace,
    actions: robot.actions,
    repositories: robot.repositories,
  };
}

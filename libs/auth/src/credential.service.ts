import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { RegistryError } from '@berth/core';
import type { Identity, RobotIdentity, UserIdentity } from './identity.js';
import { type RobotCredentials, RobotService } from './accounts/robot.service.js';
import { robotSecretMatches } from './accounts/robot-secret.js';
import { type UserCredentials, UserStore } from './accounts/user.store.js';
import { FailedLoginService } from './failed-login.service.js';
import { LoginThrottleService } from './login-throttle.service.js';
import { PasswordHasher } from './password-hasher.js';
import { VerifiedLogins } from './verified-logins.js';

/** A login that checked out, and until when it may be remembered (a robot's expiry). */
interface Verified {
  identity: UserIdentity | RobotIdentity;
  expiresAt?: Date;
  /** Found in VerifiedLogins, not checked again. */
  remembered?: boolean;
}

/**
 * Checks usernames with passwords and robot logins with secrets. Failures are
 * counted per (account, address) and per address (see LoginThrottleService), audited and
 * counted in the metrics (FailedLoginService), and all look alike to the caller. Scripts
 * that send Basic credentials on every request would pay a full argon2 verification and
 * three queries each time, so successes are remembered for a while (VerifiedLogins).
 */
@Injectable()
export class CredentialService {
  private dummyHash?: Promise<string>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly hasher: PasswordHasher,
    private readonly throttle: LoginThrottleService,
    private readonly robots: RobotService,
    private readonly users: UserStore,
    private readonly failedLogins: FailedLoginService,
    private readonly logins: VerifiedLogins,
  ) {}

  /** Decodes an `Authorization: Basic …` header; undefined when it is not one. */
  static parseBasic(header: string | undefined): { username: string; password: string } | undefined {
    if (!header?.startsWith('Basic ')) return undefined;
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }

  /**
   * A user (`alice`) or robot (`team+ci`) login; throws UNAUTHORIZED or TOOMANYREQUESTS.
   * `fresh` checks against the database even when the login was verified a moment ago:
   * for logins that hand out longer-lived credentials (API sessions, refresh tokens),
   * which must never rest on a remembered success.
   */
  async authenticate(username: string, secret: string, address: string | undefined, fresh = false): Promise<UserIdentity | RobotIdentity> {
    const pair = this.throttle.pairKey(username, address);
    const key = this.logins.keyOf(pair, username, secret);
    const known = fresh ? undefined : this.logins.get(key);
    if (known) return known;
    const ticket = this.logins.ticket();
    // Checked again once the throttle lets this attempt run: concurrent first requests queue there behind one check.
    const verify = async (): Promise<Verified | undefined> => {
      const remembered = fresh ? undefined : this.logins.get(key);
      if (remembered) return { identity: remembered, remembered: true };
      return username.includes('+') ? this.checkRobot(username, secret) : this.checkUser(username, secret);
    };
    const verified = await this.throttle.attempt(username, address, verify).catch((err: unknown) => {
      if (err instanceof RegistryError && err.code === 'TOOMANYREQUESTS') this.failedLogins.record(username, address, 'throttled');
      this.logins.forget([pair]);
      throw err;
    });
    if (!verified) {
      this.logins.forget([pair]);
      this.failedLogins.record(username, address, 'invalid_credentials');
      throw new RegistryError('UNAUTHORIZED', 'incorrect username or password');
    }
    if (!verified.remembered) this.logins.remember(ticket, key, pair, verified.identity, verified.expiresAt);
    return verified.identity;
  }

  /** The identity behind a token's subject, as it is now (undefined when gone or disabled). */
  async currentIdentity(username: string): Promise<Identity | undefined> {
    if (username.includes('+')) {
      const robot = await this.activeRobot(username);
      return robot && robotIdentity(username, robot);
    }
    const user = await this.users.findCredentials(this.dataSource.manager, username);
    return user && !user.disabled ? userIdentity(username, user) : undefined;
  }

  private async checkUser(username: string, password: string): Promise<Verified | undefined> {
    const user = await this.users.findCredentials(this.dataSource.manager, username);
    if (!user) {
      // Same work as for a real account, so timing does not tell which usernames exist.
      await this.hasher.verify(await this.dummy(), password);
      return undefined;
    }
    if (!(await this.hasher.verify(user.passwordHash, password)) || user.disabled) return undefined;
    return { identity: userIdentity(username, user) };
  }

  private async checkRobot(login: string, secret: string): Promise<Verified | undefined> {
    const robot = await this.activeRobot(login);
    if (!robot || !robotSecretMatches(secret, robot.secretHash)) return undefined;
    return { identity: robotIdentity(login, robot), expiresAt: robot.expiresAt ?? undefined };
  }

  /** The robot behind a `<namespace>+<name>` login, unless revoked or expired. */
  private async activeRobot(login: string): Promise<RobotCredentials | undefined> {
    const plus = login.indexOf('+');
    const robot = await this.robots.findForLogin(login.slice(0, plus), login.slice(plus + 1));
    if (!robot || robot.revokedAt || (robot.expiresAt && robot.expiresAt.getTime() <= Date.now())) return undefined;
    return robot;
  }

  private dummy(): Promise<string> {
    this.dummyHash ??= this.hasher.hash('berth-timing-equaliser');
    return this.dummyHash;
  }
}

function userIdentity(username: string, user: UserCredentials): UserIdentity {
  return { kind: 'user', id: String(user.id), username, isAdmin: user.isAdmin, generation: user.generation, credentialGeneration: user.credentialGeneration };
}

function robotIdentity(login: string, robot: RobotCredentials): RobotIdentity {
  return {
    kind: 'robot',
    id: String(robot.id),
    username: login,
    namespace: robot.namespace,
    actions: robot.actions,
    repositories: robot.repositories,
    generation: robot.generation,
    credentialGeneration: robot.credentialGeneration,
  };
}

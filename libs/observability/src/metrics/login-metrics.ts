import { Injectable } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';
import { type CredentialCheck, FailedLoginService, type LoginFailureReason, VerifiedLogins } from '@berth/auth';

const REASONS: LoginFailureReason[] = ['invalid_credentials', 'throttled'];
const CHECKS: CredentialCheck[] = ['verified', 'cached'];

/**
 * `berth_login_failures_total{reason}`: failed logins on every path (Basic on /v2, /auth/token, /api/v1/auth/login);
 * `berth_logins_total{check}`: successful ones, checked against the stored hash or secret or found among the verified logins.
 */
@Injectable()
export class LoginMetrics {
  constructor(registry: Registry, failedLogins: FailedLoginService, verifiedLogins: VerifiedLogins) {
    const failures = new Counter({ name: 'berth_login_failures_total', help: 'Failed logins, by reason', labelNames: ['reason'], registers: [registry] });
    // Every reason has a series from the start, so a rate over it is defined before the first failure.
    for (const reason of REASONS) failures.inc({ reason }, 0);
    failedLogins.onFailure((reason) => failures.inc({ reason }));
    const logins = new Counter({ name: 'berth_logins_total', help: 'Successful logins with a password or robot secret, by check', labelNames: ['check'], registers: [registry] });
    for (const check of CHECKS) logins.inc({ check }, 0);
    verifiedLogins.onCheck((check) => logins.inc({ check }));
  }
}

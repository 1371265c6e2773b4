import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { RegistryError } from '@berth/core';

/**
 * Counts failed logins per account and per client address in a fixed window, in
 * Postgres so every replica sees the same counts. Past the limit a key is refused
 * with 429 and Retry-After until its window ends.
 */
@Injectable()
export class LoginThrottleService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly config: BerthConfig,
  ) {}

  /**
   * Throws TOOMANYREQUESTS when the account or the address is over its limit; else
   * says whether the account has failures counting, which a success then clears.
   */
  async check(account: string, address: string | undefined): Promise<{ accountFailures: boolean }> {
    const keys = this.keys(account, address);
    const rows: { key: string; failures: number; retry_after: number }[] = await this.dataSource.query(
      `SELECT key, failures, ceil(extract(epoch FROM window_start + make_interval(secs => $2) - now()))::int AS retry_after
         FROM login_failures WHERE key = ANY($1) AND window_start > now() - make_interval(secs => $2)`,
      [keys.map((k) => k.key), this.config.loginThrottle.windowSeconds],
    );
    for (const row of rows) {
      const limit = keys.find((k) => k.key === row.key)!.limit;
      if (row.failures >= limit) {
        throw new RegistryError(
          'TOOMANYREQUESTS',
          'too many failed logins: try again later',
          { retryAfter: row.retry_after },
          { 'Retry-After': String(Math.max(1, row.retry_after)) },
        );
      }
    }
    return { accountFailures: rows.some((row) => row.key === keys[0].key) };
  }

  async recordFailure(account: string, address: string | undefined): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO login_failures (key, failures, window_start)
         SELECT unnest($1::text[]), 1, now()
       ON CONFLICT (key) DO UPDATE SET
         failures = CASE WHEN login_failures.window_start <= now() - make_interval(secs => $2) THEN 1 ELSE login_failures.failures + 1 END,
         window_start = CASE WHEN login_failures.window_start <= now() - make_interval(secs => $2) THEN now() ELSE login_failures.window_start END`,
      [this.keys(account, address).map((k) => k.key), this.config.loginThrottle.windowSeconds],
    );
  }

  /** A successful login clears the account's count (not the address's). */
  async recordSuccess(account: string): Promise<void> {
    await this.dataSource.query('DELETE FROM login_failures WHERE key = $1', [this.keys(account, undefined)[0].key]);
  }

  private keys(account: string, address: string | undefined): { key: string; limit: number }[] {
    const keys = [{ key: `account:${account.slice(0, 150)}`, limit: this.config.loginThrottle.maxFailures }];
    if (address) keys.push({ key: `address:${address}`, limit: this.config.loginThrottle.maxFailuresPerAddress });
    return keys;
  }
}

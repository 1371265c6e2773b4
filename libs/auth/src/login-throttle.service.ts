import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { RegistryError } from '@berth/core';
import { type FailureCount, LoginFailureStore } from './login-failure.store.js';
import { throttleAddress } from './throttle-address.js';

/**
 * Counts failed logins in a fixed window, in Postgres so every replica sees the same
 * counts, per (account, address) pair and per address (IPv6 per /64, see
 * throttleAddress). Only the pair locks: past LOGIN_MAX_FAILURES it is refused with 429,
 * so an attacker cannot lock a victim out from elsewhere. An address past
 * LOGIN_MAX_FAILURES_PER_ADDRESS (a password sprayer, or a proxy many users share) gets
 * 429 for wrong passwords and for accounts that already failed from it, but a correct
 * password for an account that has not failed there still logs in.
 *
 * Attempts for one pair run one at a time in this process, from reading the counts to
 * counting the failure, so a burst of guesses cannot all pass the check before the first
 * is counted, while a success with no failures on record writes nothing (Basic clients
 * log in on every request). Replicas do not wait for each other: with N of them a pair
 * may get up to N - 1 guesses checked past its limit, never answered 401.
 */
@Injectable()
export class LoginThrottleService {
  /** The tail of each pair's queue of attempts in this process; gone when the queue is empty. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly config: BerthConfig,
    private readonly failures: LoginFailureStore,
  ) {}

  /**
   * Runs `verify` (undefined: wrong credentials) for one login attempt unless the
   * counts refuse it, and counts it when it fails. Throws TOOMANYREQUESTS when refused
   * or when the failure is past a limit; undefined for a failure to answer with 401.
   */
  async attempt<T>(account: string, address: string | undefined, verify: () => Promise<T | undefined>): Promise<T | undefined> {
    const keys = this.keys(account, address);
    const previous = this.queues.get(keys.pair) ?? Promise.resolve();
    const run = previous.then(() => this.checked(keys, verify));
    const tail = run.catch(() => undefined);
    this.queues.set(keys.pair, tail);
    try {
      return await run;
    } finally {
      if (this.queues.get(keys.pair) === tail) this.queues.delete(keys.pair);
    }
  }

  private async checked<T>(keys: { pair: string; perAddress?: string }, verify: () => Promise<T | undefined>): Promise<T | undefined> {
    const { maxFailures, maxFailuresPerAddress, windowSeconds } = this.config.loginThrottle;
    const all = keys.perAddress ? [keys.pair, keys.perAddress] : [keys.pair];
    const open = await this.failures.open(this.dataSource.manager, all, windowSeconds);
    const pairRow = open.find((row) => row.key === keys.pair);
    const addressRow = open.find((row) => row.key === keys.perAddress);
    if (pairRow && pairRow.failures >= maxFailures) throw tooMany(pairRow.retryAfter);
    // From a throttled address an account gets one guess per window, not one per request.
    if (pairRow && addressRow && addressRow.failures >= maxFailuresPerAddress) throw tooMany(addressRow.retryAfter);

    const identity = await verify();
    if (identity) {
      // Only a count that exists needs clearing (not the address's).
      if (pairRow) await this.failures.clear(this.dataSource.manager, keys.pair);
      return identity;
    }
    const counted = await this.failures.count(this.dataSource.manager, all, windowSeconds);
    // Decided by the counts after this failure, so concurrent replicas never answer more 401s than the limits.
    const over = (row: FailureCount) => row.failures > (row.key === keys.pair ? maxFailures : maxFailuresPerAddress);
    const refused = counted.find(over);
    if (refused) throw tooMany(refused.retryAfter);
    return undefined;
  }

  /** The key failures of `account` from `address` are counted under (`pair:…`). */
  pairKey(account: string, address: string | undefined): string {
    return this.keys(account, address).pair;
  }

  private keys(account: string, address: string | undefined): { pair: string; perAddress?: string } {
    const where = address ? throttleAddress(address) : 'unknown';
    return { pair: `pair:${where} ${account.slice(0, 140)}`, perAddress: address ? `address:${where}` : undefined };
  }
}

function tooMany(retryAfter: number): RegistryError {
  return new RegistryError('TOOMANYREQUESTS', 'too many failed logins: try again later', { retryAfter }, { 'Retry-After': String(Math.max(1, retryAfter)) });
}

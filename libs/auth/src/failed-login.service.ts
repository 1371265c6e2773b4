import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { type AuditEvent, AuditService } from './audit.service.js';

/** `invalid_credentials`: no such account, a wrong password or secret, or a disabled account (alike to the caller); `throttled`: refused with 429. */
export type LoginFailureReason = 'invalid_credentials' | 'throttled';

/** Failed logins are written to the audit log at most this often, in one statement. */
const FLUSH_INTERVAL_MS = 1000;
/** Distinct (account, address, reason) entries per write; past it, failures are summed into one entry. */
const MAX_ENTRIES_PER_FLUSH = 500;
/** Usernames are the caller's input: as long as the login throttle keys them. */
const USERNAME_MAX = 150;
const ADDRESS_MAX = 64;

interface PendingEntry {
  username: string;
  address?: string;
  reason: LoginFailureReason;
  attempts: number;
  first: Date;
  last: Date;
}

/**
 * Audits failed logins (`auth.login.failed`) and tells listeners (the metrics) of each.
 * A failed login costs the caller nothing, so an audit row each would turn a password
 * spray into as many database writes: failures are gathered instead and written once
 * a second, repeats of one account from one address as a single entry with a count,
 * and at most MAX_ENTRIES_PER_FLUSH entries a write. Buffered entries are written on
 * shutdown; a crash loses at most the last second.
 */
@Injectable()
export class FailedLoginService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Auth');
  private readonly listeners: ((reason: LoginFailureReason) => void)[] = [];
  private pending = new Map<string, PendingEntry>();
  private overflow?: { attempts: number; first: Date; last: Date };
  private timer?: NodeJS.Timeout;
  private writing?: Promise<void>;

  constructor(private readonly audit: AuditService) {}

  /** Called synchronously for every failed login. */
  onFailure(listener: (reason: LoginFailureReason) => void): void {
    this.listeners.push(listener);
  }

  record(username: string, address: string | undefined, reason: LoginFailureReason): void {
    for (const listener of this.listeners) listener(reason);
    const name = username.slice(0, USERNAME_MAX);
    const addr = address?.slice(0, ADDRESS_MAX);
    const key = `${reason}\0${name}\0${addr ?? ''}`;
    const now = new Date();
    const entry = this.pending.get(key);
    if (entry) {
      entry.attempts++;
      entry.last = now;
    } else if (this.pending.size < MAX_ENTRIES_PER_FLUSH) {
      this.pending.set(key, { username: name, address: addr, reason, attempts: 1, first: now, last: now });
    } else if (this.overflow) {
      this.overflow.attempts++;
      this.overflow.last = now;
    } else {
      this.overflow = { attempts: 1, first: now, last: now };
    }
    this.schedule();
  }

  /** Writes what is gathered now; resolves once it is written (or the write failed and was logged). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.writing) await this.writing;
    const entries = [...this.pending.values()];
    const overflow = this.overflow;
    this.pending = new Map();
    this.overflow = undefined;
    if (!entries.length && !overflow) return;
    const events: AuditEvent[] = entries.map((e) => ({
      actor: e.username,
      action: 'auth.login.failed',
      target: `${e.username.includes('+') ? 'robot' : 'user'}:${e.username}`,
      detail: { reason: e.reason, attempts: e.attempts, ...(e.attempts > 1 ? { lastAt: e.last.toISOString() } : {}) },
      clientAddr: e.address,
      at: e.first,
    }));
    if (overflow) {
      events.push({
        actor: 'anonymous',
        action: 'auth.login.failed',
        target: 'user:*',
        // Past the entries one write holds: a summed count, so a spray over many names still shows.
        detail: { attempts: overflow.attempts, lastAt: overflow.last.toISOString(), accounts: 'many' },
        at: overflow.first,
      });
    }
    this.writing = this.audit.recordAll(events).catch((err: unknown) => {
      this.logger.warn(`${events.length} failed-login audit entries not written: ${err instanceof Error ? err.message : String(err)}`);
    });
    try {
      await this.writing;
    } finally {
      this.writing = undefined;
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS);
    // The shutdown hook writes what is left: the timer alone must not keep a process up.
    this.timer.unref();
  }
}

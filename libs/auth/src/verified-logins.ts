import { Injectable } from '@nestjs/common';
import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { CredentialGenerationStore } from './credential-generation.store.js';
import { type RobotIdentity, type UserIdentity, subjectOf } from './identity.js';
import { RevocationService } from './revocation.service.js';

const LIMIT = 10_000;
/** Past this a login is checked against the database again, whatever else happened. */
const TTL_MS = 60_000;

export type CredentialCheck = 'verified' | 'cached';

interface Entry {
  identity: UserIdentity | RobotIdentity;
  /** What it is indexed under: the throttle key of the (account, address) pair that proved it, and the identity's subject. */
  tags: string[];
}

/**
 * Basic credentials already verified, so that scripts sending them on every request pay
 * an argon2 check (and the throttle's and account's queries) once a minute, not per
 * request. Keyed by an HMAC, under a key made at start-up, of the throttle pair, the
 * username and the password: the password is never kept, and a hit needs the same
 * (account, address) pair that proved it, so the cache never answers for a pair the
 * throttle would refuse.
 *
 * An entry holds the identity with the generation it was verified at and dies:
 * - when that generation moves (password change, disabling, deletion, demotion, robot
 *   rotation, revocation or deletion, member removal): at once on the replica that made
 *   the change, on the others within the revocation read's bound (RevocationService:
 *   2 s; no hits at all while that read is more than 8 s old). A login checked while
 *   the change's transaction was still open may be served for up to that bound here too;
 * - when its pair fails to log in, here at once and on other replicas with that read
 *   (wrong guesses then go through the throttle as before, and the right password is
 *   checked there again);
 * - after TTL_MS, or a robot's expiry if sooner; the least recently used past LIMIT.
 * Only successes are kept: a wrong password always goes through the throttle.
 */
@Injectable()
export class VerifiedLogins {
  private readonly key = randomBytes(32);
  private readonly byTag = new Map<string, Set<string>>();
  private readonly entries = new LRUCache<string, Entry>({ max: LIMIT, ttl: TTL_MS, dispose: (entry, key) => this.unindex(entry.tags, key) });
  private readonly listeners: ((check: CredentialCheck) => void)[] = [];
  /** Moves with every failure or revocation learnt, so a check that was running meanwhile is not remembered. */
  private changes = 0;

  constructor(
    private readonly revocations: RevocationService,
    generations: CredentialGenerationStore,
  ) {
    revocations.onFailedPairs((pairs) => this.forget(pairs));
    generations.onBump((subjects) => this.forget(subjects));
  }

  /** Called for every Basic check: verified against the stored hash or secret, or answered from here. */
  onCheck(listener: (check: CredentialCheck) => void): void {
    this.listeners.push(listener);
  }

  keyOf(pair: string, username: string, password: string): string {
    return createHmac('sha256', this.key).update(`${pair}\0${username}\0${password}`).digest('base64');
  }

  /** The identity `key` was verified as, while nothing has revoked it since. */
  get(key: string): UserIdentity | RobotIdentity | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (!this.revocations.knownToStand(entry.identity, entry.identity.generation)) {
      this.entries.delete(key);
      return undefined;
    }
    this.counted('cached');
    return entry.identity;
  }

  /** Taken before a check starts, and given back to remember its success. */
  ticket(): number {
    return this.changes;
  }

  /** Keeps a verified login, unless a failure was learnt while it was being checked. */
  remember(ticket: number, key: string, pair: string, identity: UserIdentity | RobotIdentity, expiresAt?: Date): void {
    this.counted('verified');
    if (ticket !== this.changes) return;
    const ttl = expiresAt ? Math.min(TTL_MS, expiresAt.getTime() - Date.now()) : TTL_MS;
    if (ttl <= 0) return;
    const tags = [pair, subjectOf(identity)!];
    this.entries.set(key, { identity, tags }, { ttl });
    for (const tag of tags) {
      let keys = this.byTag.get(tag);
      if (!keys) this.byTag.set(tag, (keys = new Set()));
      keys.add(key);
    }
  }

  /** Drops every login proved by these pairs (they have just failed) or made by these subjects (just revoked). */
  forget(tags: string[]): void {
    this.changes++;
    for (const tag of tags) for (const key of this.byTag.get(tag) ?? []) this.entries.delete(key);
  }

  private unindex(tags: string[], key: string): void {
    for (const tag of tags) {
      const keys = this.byTag.get(tag);
      keys?.delete(key);
      if (keys?.size === 0) this.byTag.delete(tag);
    }
  }

  private counted(check: CredentialCheck): void {
    for (const listener of this.listeners) listener(check);
  }
}
